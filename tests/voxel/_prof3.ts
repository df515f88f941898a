import { GlobalVoxelGrid, VoxelAccumulator } from "../../src/voxel/index.js";
import { syntheticStills, crystalsOf } from "./helpers.js";
const cell = { aA: 60, bA: 70, cA: 80, alphaDeg: 90, betaDeg: 90, gammaDeg: 90 };
const stills = syntheticStills(4, 1_000_000, { seed: 1, dMinA: 1.8, cell });
const grid = GlobalVoxelGrid.create({ stillCrystals: crystalsOf(stills), ndiv: 3, dMinA: 1.8 });
const acc = await VoxelAccumulator.create(grid, { storagePath: "/tmp/vx/prof.h5", overwrite: true, compression: "none", commitIntervalS: 0 });
const mem = VoxelAccumulator.createInMemory(grid);
for (let r = 0; r < 3; r++) {
let t0 = performance.now();
for (const s of stills) acc.addObservations(s.stillId, s.qLab, s.intensity, s.sigma);
const a = performance.now() - t0; t0 = performance.now();
for (const s of stills) mem.addObservations(s.stillId, s.qLab, s.intensity, s.sigma);
console.log("hdf5", a.toFixed(0), "memory", (performance.now() - t0).toFixed(0));
}
acc.close();
