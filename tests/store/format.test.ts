// Files in the pre-1.10 format (h5py's default) cannot be followed by SWMR readers: opening
// one for writing says so with a typed error, and `upgradeFormat` rewrites it so stages can
// append to the datasets h5py made.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { StoreReader, StoreWriter, UnsupportedFormatError } from "../../src/index.js";
import { PYTHON, makeTempDir, run } from "./helpers/common.js";

const MAKE = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:  # default libver: superblock version 0
    f.create_dataset("rows", data=np.arange(12, dtype="<f8").reshape(4, 3), maxshape=(None, 3), chunks=(2, 3))
    f.attrs["origin"] = "h5py"
`;

test("pre-1.10 files: typed refusal, then upgrade and append", async () => {
  const { dir, cleanup } = makeTempDir("format");
  try {
    const file = path.join(dir, "old.h5");
    const made = await run(PYTHON, ["-c", MAKE, file]);
    assert.equal(made.code, 0, made.stderr);
    await assert.rejects(StoreWriter.open(file), (e: unknown) => {
      assert.ok(e instanceof UnsupportedFormatError);
      assert.match(e.message, /old\.h5.*pre-HDF5-1\.10.*upgradeFormat/s);
      return true;
    });
    const w = await StoreWriter.open(file, { upgradeFormat: true });
    w.dataset<"float64">("/rows").append(new Float64Array([12, 13, 14]));
    w.close();
    const r = await StoreReader.open(file);
    assert.equal(r.state, "complete");
    assert.equal(r.attrs("/").origin, "h5py");
    assert.deepEqual(
      Array.from(r.read<"float64">("/rows").data),
      Array.from({ length: 15 }, (_, i) => i),
    );
    r.close();
    const check = await run(PYTHON, [
      "-c",
      "import sys,h5py; f=h5py.File(sys.argv[1]); print(f['rows'][-1].tolist())",
      file,
    ]);
    assert.equal(check.stdout.trim(), "[12.0, 13.0, 14.0]");
  } finally {
    cleanup();
  }
});
