// Our reader, polling a file that another process writes (SWMR stress test).
//
//   node store_poll.mjs <file> <stopFile>
//
// Loops: refresh(), then reads every committed row of /rows and /index and checks each
// against the formula; the committed length and the sequence must never go backwards.
// When <stopFile> exists (it holds the writer's final {seq, rows}) it does a last refresh,
// checks that it sees exactly that commit and state "complete", and prints a JSON summary
// (after {"progress": polls} lines every 100 polls).
import fs from "node:fs";
import { StoreReader } from "../../../src/dist/index.js";
import { ROW_WIDTH, rowValue } from "./formula.mjs";

const [file, stopFile] = process.argv.slice(2);
const summary = {
  reader: "stagelab",
  polls: 0,
  changes: 0,
  rowsChecked: 0,
  maxRows: 0,
  lastSeq: 0,
  errors: [],
  final: null,
};
const fail = (msg) => {
  if (summary.errors.length < 20) summary.errors.push(msg);
};

function check(r) {
  const seq = r.sequence;
  const rows = r.read("/rows");
  const idx = r.read("/index");
  const n = rows.shape[0];
  if (seq < summary.lastSeq) fail(`sequence went back ${summary.lastSeq} -> ${seq}`);
  if (n < summary.maxRows)
    fail(`committed length went back ${summary.maxRows} -> ${n} (seq ${seq})`);
  if (rows.shape[1] !== ROW_WIDTH) fail(`row width ${rows.shape[1]}`);
  if (idx.shape[0] !== n)
    fail(`/index committed ${idx.shape[0]} != /rows committed ${n} (seq ${seq})`);
  if (n > 0) {
    if (rows.data.length !== n * ROW_WIDTH) fail(`read ${rows.data.length} values for ${n} rows`);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < ROW_WIDTH; j++) {
        const got = rows.data[i * ROW_WIDTH + j];
        if (got !== rowValue(i, j)) {
          if (bad++ < 3)
            fail(
              `seq ${seq}: rows[${i}][${j}] = ${got}, expected ${rowValue(i, j)} (committed ${n})`,
            );
        }
      }
      if (idx.data[i] !== BigInt(i)) {
        if (bad++ < 3) fail(`seq ${seq}: index[${i}] = ${idx.data[i]} (committed ${n})`);
      }
    }
    summary.rowsChecked += n;
  }
  summary.lastSeq = Math.max(summary.lastSeq, seq);
  summary.maxRows = Math.max(summary.maxRows, n);
}

const r = await StoreReader.open(file);
try {
  check(r);
  for (;;) {
    const stop = fs.existsSync(stopFile) ? JSON.parse(fs.readFileSync(stopFile, "utf8")) : null;
    try {
      if (r.refresh()) summary.changes++;
      check(r);
      if (++summary.polls % 100 === 0) console.log(JSON.stringify({ progress: summary.polls }));
    } catch (e) {
      fail(`poll ${summary.polls}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      if (summary.errors.length >= 20) break;
    }
    if (stop) {
      summary.final = { seq: r.sequence, rows: r.info("/rows").shape[0], state: r.state };
      if (r.sequence !== stop.seq || summary.final.rows !== stop.rows || r.state !== "complete") {
        fail(
          `final view ${JSON.stringify(summary.final)} != writer's final ${JSON.stringify(stop)}`,
        );
      }
      break;
    }
  }
} finally {
  r.close();
}
console.log(JSON.stringify(summary));
