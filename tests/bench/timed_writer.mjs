// Appends one row every 50 ms for SECONDS, each row holding the wall-clock time (ms) of the
// commit that makes it visible: `node timed_writer.mjs FILE SECONDS`.
import { StoreWriter } from "../../src/dist/index.js";

const [file, seconds = "5"] = process.argv.slice(2);
const w = await StoreWriter.create(file, { overwrite: true });
const t = w.createDataset("/t", {
  dtype: "float64",
  shape: [0],
  chunks: [1024],
  compression: "none",
});
t.append(new Float64Array([Date.now()]));
w.commit();
console.log("ready");
const end = Date.now() + Number(seconds) * 1000 + 2000;
while (Date.now() < end) {
  await new Promise((r) => setTimeout(r, 50));
  t.append(new Float64Array([Date.now()]));
  w.commit();
}
w.close();
