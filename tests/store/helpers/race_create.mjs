// One contender in the lock race (lock.test.ts).
//
//   node race_create.mjs <file> <startAtEpochMs> <releaseFile> [overwrite]
//
// Loads the library, waits (busy) until startAt so all contenders call StoreWriter.create
// at the same moment, and prints {won: true, pid} when it got the writer — then holds it
// until <releaseFile> exists (the test creates it once every contender has answered),
// appends its pid to /winner and closes — or prints {won: false, error: {name, message}}.
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { StoreWriter } from "../../../src/dist/index.js";

const [file, startAt, releaseFile, overwrite] = process.argv.slice(2);
await import("../../../src/dist/store/h5lib.js").then((m) => m.loadH5());
while (Date.now() < Number(startAt)) {
  /* spin: a timer would add milliseconds of jitter */
}
let w;
try {
  w = await StoreWriter.create(file, { overwrite: overwrite === "overwrite" });
} catch (e) {
  console.log(
    JSON.stringify({ won: false, pid: process.pid, error: { name: e?.name, message: e?.message } }),
  );
  process.exit(0);
}
console.log(JSON.stringify({ won: true, pid: process.pid, at: Date.now() }));
const d = w.createDataset("winner", { dtype: "int32", shape: [0] });
const giveUpAt = Date.now() + 30_000;
while (!fs.existsSync(releaseFile) && Date.now() < giveUpAt) await sleep(20);
d.append(new Int32Array([process.pid]));
w.close();
console.log(JSON.stringify({ closed: true, pid: process.pid }));
