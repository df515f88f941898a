// The chunk-cached small-read path must return exactly what a direct hyperslab read does.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreReader, StoreWriter } from "../../src/index.js";
import { copyBlock } from "../../src/store/chunk-cache.js";

test("copyBlock copies an interior 3-D block", () => {
  const srcShape = [4, 5, 6];
  const src = new Float64Array(4 * 5 * 6).map((_, i) => i);
  const dst = new Float64Array(2 * 3 * 4);
  copyBlock(
    new Uint8Array(src.buffer),
    srcShape,
    [1, 2, 1],
    new Uint8Array(dst.buffer),
    [2, 3, 4],
    [0, 0, 0],
    [2, 3, 4],
    8,
  );
  for (let a = 0; a < 2; a++)
    for (let b = 0; b < 3; b++)
      for (let c = 0; c < 4; c++)
        assert.equal(dst[(a * 3 + b) * 4 + c], ((1 + a) * 5 + (2 + b)) * 6 + (1 + c));
});

test("small reads through the chunk cache equal the formula, across chunk edges and the committed end", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-cc-"));
  const file = path.join(dir, "cc.h5");
  try {
    const [R, C, K] = [53, 37, 5];
    const value = (r: number, c: number, k: number) => r * 10000 + c * 10 + k;
    const w = await StoreWriter.create(file);
    const ds = w.createDataset("/x", {
      dtype: "float64",
      shape: [0, C, K],
      chunks: [8, 16, 5],
      compression: { gzip: 1 },
    });
    const rows = new Float64Array(R * C * K);
    for (let r = 0; r < R; r++)
      for (let c = 0; c < C; c++)
        for (let k = 0; k < K; k++) rows[(r * C + c) * K + k] = value(r, c, k);
    ds.append(rows);
    w.close();
    const cached = await StoreReader.open(file);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let t = 0; t < 300; t++) {
      const r0 = rnd(R),
        c0 = rnd(C),
        k0 = rnd(K);
      const nr = 1 + rnd(Math.min(6, R - r0)),
        nc = 1 + rnd(Math.min(6, C - c0)),
        nk = 1 + rnd(K - k0);
      const a = cached.read<"float64">("/x", [
        [r0, r0 + nr],
        [c0, c0 + nc],
        [k0, k0 + nk],
      ]);
      assert.deepEqual(a.shape, [nr, nc, nk]);
      for (let r = 0; r < nr; r++)
        for (let c = 0; c < nc; c++)
          for (let k = 0; k < nk; k++)
            assert.equal(a.data[(r * nc + c) * nk + k], value(r0 + r, c0 + c, k0 + k));
    }
    cached.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
