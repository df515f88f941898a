// Child process of the kill -9 tests: runs steps 1-3 on a main file and prints one line per
// finished block ("<step> <done> <total>"), sleeping after each so the parent's SIGKILL lands
// between blocks as well as inside them.
import { SuperResSession } from "../../../src/superres/stages.js";

const [file, block] = process.argv.slice(2) as [string, string];
const pause = new Int32Array(new SharedArrayBuffer(4));
const report = (step: number) => (done: number, total: number) => {
  process.stdout.write(`${step} ${done} ${total}\n`);
  Atomics.wait(pause, 0, 0, 15);
};
const s = await SuperResSession.open(file, {
  blockShape: [Number(block), Number(block)],
  workers: 2,
});
await s.detect();
await s.computeBigFT({ onProgress: report(2) });
await s.correlate({ onProgress: report(3) });
process.stdout.write("finished\n");
s.close();
