// Try one store operation in a separate process and print the outcome as one JSON line:
// {ok: true, ...} or {error: {name, message, file, dataset, holder}}.
//
//   node open_probe.mjs reader <file>            StoreReader.open (waitMs 0), tree, close
//   node open_probe.mjs writer-open <file>       StoreWriter.open, close
//   node open_probe.mjs writer-create <file> [overwrite]   StoreWriter.create, close
//   node open_probe.mjs hold <file>              StoreWriter.create(overwrite) and keep the
//                                                lock: prints {holding: pid}, then closes the
//                                                writer when stdin ends
import { StoreReader, StoreWriter } from "../../../src/dist/index.js";

const [op, file, flag] = process.argv.slice(2);

const describe = (e) => ({
  name: e?.name,
  message: e?.message,
  file: e?.file,
  dataset: e?.dataset,
  holder: e?.holder,
  isStoreError: e?.constructor?.name === e?.name && typeof e?.file === "string",
});

let out;
try {
  if (op === "reader") {
    const r = await StoreReader.open(file, { waitMs: 0 });
    try {
      out = { ok: true, state: r.state, tree: r.tree() };
    } finally {
      r.close();
    }
  } else if (op === "writer-open") {
    const w = await StoreWriter.open(file);
    out = { ok: true, recovered: w.recovered ?? null, closed: w.close() };
  } else if (op === "writer-create") {
    const w = await StoreWriter.create(file, { overwrite: flag === "overwrite" });
    out = { ok: true, closed: w.close() };
  } else if (op === "hold") {
    const w = await StoreWriter.create(file, {
      overwrite: true,
      provenance: { stage: "tests.hold" },
    });
    w.createDataset("held", { dtype: "int32", shape: [0] }).append(new Int32Array([process.pid]));
    w.commit();
    console.log(JSON.stringify({ holding: process.pid }));
    await new Promise((resolve) => {
      process.stdin.on("end", resolve);
      process.stdin.resume();
    });
    out = { ok: true, closed: w.close() };
  } else {
    throw new Error(`unknown op ${op}`);
  }
} catch (e) {
  out = { error: describe(e) };
}
console.log(JSON.stringify(out));
