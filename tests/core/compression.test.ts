// Every compression choice round-trips and is recorded as the filter HDF5 reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  StoreReader,
  StoreWriter,
  InvalidArgumentError,
  type Compression,
} from "../../src/index.js";

const cases: [Compression, string][] = [
  ["none", "none"],
  ["gzip", "gzip-4"],
  [{ gzip: 1 }, "gzip-1"],
  ["zstd", "zstd-3"],
  [{ zstd: 9 }, "zstd-9"],
  ["blosc", "blosc-lz4-5"],
  [{ blosc: { cname: "zstd", clevel: 3 } }, "blosc-zstd-3"],
];

test("compression filters round-trip and compress repetitive data", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-comp-"));
  try {
    const n = 200 * 1000;
    const values = new Float32Array(n).map((_, i) => (i % 64) * 0.5);
    for (const [compression, label] of cases) {
      const file = path.join(dir, `${label}.h5`);
      const w = await StoreWriter.create(file);
      w.createDataset("/x", {
        dtype: "float32",
        shape: [0, 1000],
        chunks: [20, 1000],
        compression,
      }).append(values);
      w.close();
      const r = await StoreReader.open(file);
      assert.equal(r.info("/x").compression, label);
      const back = r.read<"float32">("/x").data;
      for (let i = 0; i < n; i += 997) assert.equal(back[i], (i % 64) * 0.5);
      r.close();
      if (label !== "none")
        assert.ok(fs.statSync(file).size < n * 4 * 0.5, `${label} should compress`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("bad compression options are typed errors", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-comp-"));
  try {
    const w = await StoreWriter.create(path.join(dir, "bad.h5"));
    for (const bad of [
      { gzip: 12 },
      { zstd: 0 },
      { blosc: { clevel: 11 } },
      "lzma",
    ] as unknown as Compression[]) {
      assert.throws(
        () =>
          w.createDataset(`/x${Math.random()}`, {
            dtype: "float32",
            shape: [0, 4],
            compression: bad,
          }),
        InvalidArgumentError,
      );
    }
    w.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
