// Worker thread for the parallel-accumulation test and bench: builds a memory accumulator on
// the grid it is sent, adds the stills it is sent, and posts back a snapshot (transferred).
import { parentPort } from "node:worker_threads";
import {
  GlobalVoxelGrid,
  VoxelAccumulator,
  snapshotTransferList,
  type GridJson,
} from "../../src/voxel/index.js";

interface Job {
  grid: GridJson;
  stills: { stillId: number; qLab: Float64Array; intensity: Float64Array; sigma: Float64Array }[];
}

parentPort!.on("message", (job: Job) => {
  const acc = VoxelAccumulator.createInMemory(GlobalVoxelGrid.fromJSON(job.grid));
  for (const s of job.stills) acc.addObservations(s.stillId, s.qLab, s.intensity, s.sigma);
  const snap = acc.toSnapshot();
  parentPort!.postMessage(snap, snapshotTransferList(snap));
});
