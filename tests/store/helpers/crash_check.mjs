// Post-crash checks for crash.test.ts, in a child process so that a hang (HDF5 spinning on
// a damaged file) is a timeout and not a frozen test runner.
//
//   node crash_check.mjs read <file> [waitMs]
//     StoreReader: {state, sequence, rows, index, errors[]} where rows/index are committed
//     lengths and errors lists every row that differs from the formula.
//   node crash_check.mjs recover <file> <moreRows>
//     StoreWriter.open (recovers), appends <moreRows> formula rows, closes:
//     {recovered, lengthsAtOpen, closed: {sequence, lengths}, lockAfter}
//   node crash_check.mjs create <file>
//     StoreWriter.create(file, {overwrite: true}) then close: {ok: true}
// Any error: {error: {name, message, file, dataset}}.
import fs from "node:fs";
import { StoreReader, StoreWriter, lockPathFor } from "../../../src/dist/index.js";
import { ROW_WIDTH, indexBlock, rowValue, rowsBlock } from "./formula.mjs";

const [cmd, file, arg] = process.argv.slice(2);

async function read() {
  const r = await StoreReader.open(file, { waitMs: Number(arg ?? 0) });
  try {
    const rows = r.read("/rows");
    const index = r.read("/index");
    const n = rows.shape[0];
    const errors = [];
    if (rows.shape[1] !== ROW_WIDTH) errors.push(`row width ${rows.shape[1]}`);
    for (let i = 0; i < n && errors.length < 10; i++) {
      for (let j = 0; j < ROW_WIDTH; j++) {
        if (rows.data[i * ROW_WIDTH + j] !== rowValue(i, j)) {
          errors.push(`rows[${i}][${j}] = ${rows.data[i * ROW_WIDTH + j]}`);
          break;
        }
      }
    }
    for (let i = 0; i < index.shape[0] && errors.length < 20; i++) {
      if (index.data[i] !== BigInt(i)) errors.push(`index[${i}] = ${index.data[i]}`);
    }
    return { state: r.state, sequence: r.sequence, rows: n, index: index.shape[0], errors };
  } finally {
    r.close();
  }
}

async function recover() {
  const more = Number(arg);
  const w = await StoreWriter.open(file, { provenance: { stage: "tests.crash_check" } });
  try {
    const rows = w.dataset("rows");
    const index = w.dataset("index");
    const lengthsAtOpen = { "/rows": rows.length, "/index": index.length };
    const n = rows.length;
    // Two appends and a commit in between, so the recovered file also goes through SWMR.
    const half = Math.floor(more / 2);
    rows.append(rowsBlock(n, half));
    index.append(indexBlock(n, half));
    w.commit();
    rows.append(rowsBlock(n + half, more - half));
    index.append(indexBlock(n + half, more - half));
    const closed = w.close();
    return {
      recovered: w.recovered ?? null,
      lengthsAtOpen,
      closed,
      lockAfter: fs.existsSync(lockPathFor(file)),
    };
  } catch (e) {
    w.abandon();
    throw e;
  }
}

async function create() {
  const w = await StoreWriter.create(file, { overwrite: true });
  w.createDataset("x", { dtype: "int8", shape: [0] }).append(new Int8Array([1, 2, 3]));
  w.close();
  return { ok: true };
}

let out;
try {
  out = await { read, recover, create }[cmd]();
} catch (e) {
  out = { error: { name: e?.name, message: e?.message, file: e?.file, dataset: e?.dataset } };
}
console.log(JSON.stringify(out));
