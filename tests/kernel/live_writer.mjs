// A second process that keeps appending committed rows: `node live_writer.mjs FILE ROWS MS`.
// Row i of /live/line is the value i; /live/frames[i] is a 4x5 frame filled with i.
import { StoreWriter } from "../../src/dist/index.js";

const [file, rowsArg = "40", msArg = "100"] = process.argv.slice(2);
const w = await StoreWriter.create(file, { overwrite: true, provenance: { stage: "live_writer" } });
const line = w.createDataset("/live/line", { dtype: "float64", shape: [0], chunks: [16] });
const frames = w.createDataset("/live/frames", {
  dtype: "float32",
  shape: [0, 4, 5],
  chunks: [4, 4, 5],
});
line.append(new Float64Array([0]));
frames.append(new Float32Array(20).fill(0));
w.commit();
console.log("ready");
for (let i = 1; i < Number(rowsArg); i++) {
  await new Promise((r) => setTimeout(r, Number(msArg)));
  line.append(new Float64Array([i]));
  frames.append(new Float32Array(20).fill(i));
  w.commit();
}
w.close();
console.log("done");
