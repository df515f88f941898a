// The append buffer (chunk rows x whole rows) is allocated by the first append, not by
// adopting a dataset: a writer that re-opens a file with a large chunked dataset it only
// writes by blocks (the CubeFit tracker on a HyperCube file) must not allocate its chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreReader, StoreWriter } from "../../src/index.js";

test("adopting a dataset whose chunk rows hold 512 MiB allocates nothing; appends after a block write keep the partial chunk", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-appendbuf-"));
  try {
    const file = path.join(dir, "big.h5");
    const w = await StoreWriter.create(file);
    w.createDataset("/models", {
      dtype: "float32",
      shape: [8, 64, 1024, 256],
      maxshape: [8, 64, 1024, 256],
      chunks: [8, 1, 1024, 256],
      compression: "none",
    });
    w.createDataset("/rows", { dtype: "float64", shape: [0, 3], chunks: [4, 3] });
    w.dataset<"float64">("/rows").append(Float64Array.of(1, 2, 3, 4, 5, 6));
    w.close();
    const before = process.memoryUsage().arrayBuffers;
    const again = await StoreWriter.open(file);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * 2 ** 20, `opening allocated ${(grown / 2 ** 20).toFixed(0)} MiB`);
    // A block write, then appends that must keep the two rows already in the partial chunk.
    again.dataset<"float32">("/models").write([3, 5, 7, 0], [1, 1, 1, 2], Float32Array.of(9, 10));
    const rows = again.dataset<"float64">("/rows");
    rows.append(Float64Array.of(7, 8, 9));
    rows.write([3, 0], [1, 3], Float64Array.of(10, 11, 12));
    rows.append(Float64Array.of(13, 14, 15));
    again.close();
    const r = await StoreReader.open(file);
    try {
      assert.deepEqual(
        Array.from(r.read<"float64">("/rows").data),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      );
      assert.deepEqual(
        Array.from(r.read<"float32">("/models", [3, 5, 7, [0, 3]]).data),
        [9, 10, 0],
      );
    } finally {
      r.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
