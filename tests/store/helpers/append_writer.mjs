// Writer child for the SWMR stress and crash tests.
//
//   node append_writer.mjs <file> [json options]
//
// Creates <file> with /rows (float64 [n, ROW_WIDTH], gzip, chunks of 16 rows) and /index
// (int64 [n], uncompressed, chunks of 64), then appends rows (sizes cycling through
// APPEND_SIZES; row i = rowValue(i, j), index i = i) and commits every `commitEvery` appends.
// After each commit it prints one JSON line {"event":"commit","seq":s,"rows":n} — written
// synchronously, only once commit() returned, so a printed length is a promise the file must
// keep. Options: durationMs (0 = no limit), stopFile (stop once it exists), commitEvery,
// pauseMs (between appends; slowPauseMs once slowAfterRows rows are written), maxRows, commit (false: never commit, to die before the first
// commit). Without a limit it runs until killed.
import fs from "node:fs";
import { StoreWriter } from "../../../src/dist/index.js";
import { APPEND_SIZES, ROW_WIDTH, indexBlock, rowsBlock } from "./formula.mjs";

const [file, optsJson] = process.argv.slice(2);
const opts = {
  durationMs: 0,
  commitEvery: 2,
  pauseMs: 0,
  maxRows: Infinity,
  commit: true,
  ...JSON.parse(optsJson ?? "{}"),
};

const say = (obj) => fs.writeSync(1, JSON.stringify(obj) + "\n");
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const w = await StoreWriter.create(file, {
  overwrite: true,
  provenance: { stage: "tests.append_writer", parameters: opts },
});
const rows = w.createDataset("rows", {
  dtype: "float64",
  shape: [0, ROW_WIDTH],
  chunks: [16, ROW_WIDTH],
  compression: "gzip",
});
const index = w.createDataset("index", {
  dtype: "int64",
  shape: [0],
  chunks: [64],
  compression: "none",
});
say({ event: "created", pid: process.pid });

const t0 = Date.now();
let n = 0;
let appends = 0;
const stopped = () =>
  opts.stopFile !== undefined && appends % 8 === 0 && fs.existsSync(opts.stopFile);
while (
  (opts.durationMs === 0 || Date.now() - t0 < opts.durationMs) &&
  n < opts.maxRows &&
  !stopped()
) {
  const k = Math.min(APPEND_SIZES[appends % APPEND_SIZES.length], opts.maxRows - n);
  rows.append(rowsBlock(n, k));
  index.append(indexBlock(n, k));
  n += k;
  appends++;
  if (opts.commit && appends % opts.commitEvery === 0) {
    const info = w.commit();
    const seq = info.sequence;
    if (info.lengths["/rows"] !== n || info.lengths["/index"] !== n) {
      say({
        event: "error",
        message: `commit reported ${JSON.stringify(info.lengths)}, appended ${n}`,
      });
      process.exit(3);
    }
    say({ event: "commit", seq, rows: n });
  }
  const pause =
    opts.slowAfterRows !== undefined && n >= opts.slowAfterRows ? opts.slowPauseMs : opts.pauseMs;
  if (pause > 0) sleep(pause);
}
const info = w.close();
say({ event: "done", seq: info.sequence, rows: info.lengths["/rows"], appends });
