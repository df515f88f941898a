// Datacubes from EMD 1.0 (h5py-written fixture and our own writer), plain HDF5 and .npy:
// listing, the default choice, slabs of scan rows and detector blocks against the values'
// formula, identity fingerprints, and typed errors for inputs that are not datacubes.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Datacube, listDatacubes } from "../../src/superres/input.js";
import { DatacubeError } from "../../src/superres/cache-errors.js";
import { emdDatacubePath, writeEmdDatacubes } from "../../src/synth/emd.js";
import { writeNpy } from "../../src/formats/npy.js";
import { CorruptFileError, StoreWriter } from "../../src/store/index.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EMD = path.join(HERE, "fixtures", "cache", "emd10.emd");
const NPY = path.join(HERE, "..", "formats", "fixtures", "npy");
const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const hasH5py = spawnSync(PYTHON, ["-c", "import h5py"]).status === 0;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-srinput-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** datacube_000 of the fixture: (a*1000 + b*100 + c*10 + d) % 65536. */
const emdValue = (a: number, b: number, c: number, d: number) =>
  (a * 1000 + b * 100 + c * 10 + d) % 65536;

describe("EMD 1.0 written by h5py", () => {
  test("lists datacube_000 and datacube_001, not the 2-d image", async () => {
    const list = await listDatacubes(EMD);
    assert.deepEqual(
      list.map((e) => [e.dataset, e.shape, e.dtype, e.emd]),
      [
        [emdDatacubePath(0), [4, 5, 6, 7], "uint16", true],
        [emdDatacubePath(1), [3, 3, 4, 4], "float32", true],
      ],
    );
  });

  test("opens datacube_000 by default; scan rows and detector blocks match the formula", async () => {
    const cube = await Datacube.open(EMD);
    try {
      assert.equal(cube.kind, "emd");
      assert.equal(cube.dataset, "/version_1/data/datacubes/datacube_000/data");
      assert.deepEqual(cube.shape, [4, 5, 6, 7]);
      assert.deepEqual(
        [cube.scanShape, cube.detectorShape],
        [
          [4, 5],
          [6, 7],
        ],
      );
      const rows = cube.readScanRows(1, 2);
      assert.deepEqual(rows.shape, [2, 5, 6, 7]);
      assert.ok(rows.data instanceof Uint16Array);
      let i = 0;
      for (let a = 1; a < 3; a++)
        for (let b = 0; b < 5; b++)
          for (let c = 0; c < 6; c++)
            for (let d = 0; d < 7; d++) assert.equal(rows.data[i++], emdValue(a, b, c, d));
      const det = cube.readDetectorBlock(2, 3, 3, 2);
      assert.equal(det.length, 4 * 5 * 3 * 2);
      i = 0;
      for (let a = 0; a < 4; a++)
        for (let b = 0; b < 5; b++)
          for (let c = 2; c < 5; c++)
            for (let d = 3; d < 5; d++) assert.equal(det[i++], emdValue(a, b, c, d));
      assert.throws(() => cube.readBlock([0, 0, 0, 0], [5, 1, 1, 1]), DatacubeError);
    } finally {
      cube.close();
    }
    assert.throws(() => cube.readScanRows(0, 1), /closed/);
  });

  test("another datacube by path; unknown paths list the candidates", async () => {
    const cube = await Datacube.open(EMD, {
      dataset: "version_1/data/datacubes/datacube_001/data",
    });
    assert.equal(cube.dtype, "float32");
    const all = cube.readDetectorBlock(0, 0, 4, 4);
    assert.deepEqual(
      Array.from(all.slice(0, 4)),
      [0, 1, 2, 3].map((k) => k / 8),
    );
    cube.close();
    await assert.rejects(
      Datacube.open(EMD, { dataset: "/version_1/data/images/image_000/data" }),
      (e: Error) => e instanceof DatacubeError && /datacube_000\/data \[4,5,6,7\]/.test(e.message),
    );
  });
});

describe("our EMD writer, plain HDF5 and .npy", () => {
  const shape: [number, number, number, number] = [3, 4, 5, 6];
  const data = Float32Array.from({ length: 3 * 4 * 5 * 6 }, (_, i) => (i * 37) % 101);
  const ours = path.join(dir, "ours.emd");

  test("writeEmdDatacubes: two cubes read back exactly; fingerprint equals the .npy copy's", async () => {
    const second = Uint16Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i);
    const paths = await writeEmdDatacubes(ours, [
      { data, shape },
      { data: second, shape: [2, 2, 3, 3] },
    ]);
    assert.deepEqual(paths, [emdDatacubePath(0), emdDatacubePath(1)]);
    const cube = await Datacube.open(ours);
    assert.deepEqual(
      Array.from(cube.readBlock([0, 0, 0, 0], shape).data as Float32Array),
      Array.from(data),
    );
    const npy = path.join(dir, "same.npy");
    writeNpy(npy, data, shape);
    const fromNpy = await Datacube.open(npy);
    assert.equal(fromNpy.kind, "npy");
    assert.equal(fromNpy.fingerprint(), cube.fingerprint());
    const changed = Float32Array.from(data);
    changed[(1 * 4 + 2) * 30 + 7]! += 1; // one value of a frame in the middle of the scan
    writeNpy(npy, changed, shape);
    const other = await Datacube.open(npy);
    assert.notEqual(other.fingerprint(), cube.fingerprint());
    for (const c of [cube, fromNpy, other]) c.close();
    await assert.rejects(writeEmdDatacubes(ours, [{ data, shape }]), /exists/);
    await assert.rejects(
      writeEmdDatacubes(path.join(dir, "short.emd"), [{ data: data.subarray(1), shape }]),
      /values, shape/,
    );
  });

  test("h5py reads our EMD 1.0 layout", { skip: !hasH5py && "no h5py" }, () => {
    const script = `
import json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["version_1/data/datacubes/datacube_000"]
print(json.dumps({
  "root": [int(f.attrs["version_major"]), int(f.attrs["version_minor"])],
  "v1": [int(f["version_1"].attrs["major"]), int(f["version_1"].attrs["minor"])],
  "type": int(g.attrs["emd_group_type"]), "typeKind": g.attrs["emd_group_type"].dtype.kind,
  "shape": list(g["data"].shape), "dtype": str(g["data"].dtype),
  "sum": float(np.asarray(g["data"], dtype=np.float64).sum()),
  "dims": [[g[f"dim{k}"].attrs["name"], g[f"dim{k}"].attrs["units"], list(map(float, g[f"dim{k}"][:2]))] for k in range(1, 5)],
  "second": list(f["version_1/data/datacubes/datacube_001/data"].shape),
}))
`;
    const r = spawnSync(PYTHON, ["-c", script, ours], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.deepEqual(got.root, [1, 0]);
    assert.deepEqual(got.v1, [1, 0]);
    assert.equal(got.type, 1);
    assert.equal(got.typeKind, "i");
    assert.deepEqual(got.shape, shape);
    assert.equal(got.dtype, "float32");
    assert.equal(
      got.sum,
      data.reduce((a, b) => a + b, 0),
    );
    assert.deepEqual(got.dims[0], ["scan_y", "pixels", [0, 1]]);
    assert.deepEqual(got.dims[3], ["detector_x", "pixels", [0, 1]]);
    assert.deepEqual(got.second, [2, 2, 3, 3]);
  });

  test("plain HDF5: the only 4-d dataset is found; several need a choice", async () => {
    const one = path.join(dir, "plain.h5");
    const w = await StoreWriter.create(one);
    w.createDataset("/scan/cube", {
      dtype: "float32",
      shape: [0, 4, 5, 6],
      maxshape: [3, 4, 5, 6],
    });
    w.createDataset("/scan/other", { dtype: "float64", shape: [0, 2], maxshape: [4, 2] });
    w.dataset<"float32">("/scan/cube").append(data);
    w.close();
    const cube = await Datacube.open(one);
    assert.equal(cube.kind, "hdf5");
    assert.equal(cube.dataset, "/scan/cube");
    assert.deepEqual(
      Array.from(cube.readDetectorBlock(4, 5, 1, 1)),
      [...Array(12).keys()].map((k) => data[k * 30 + 29]),
    );
    cube.close();

    const two = path.join(dir, "two.h5");
    const w2 = await StoreWriter.create(two);
    for (const n of ["/a", "/b"]) w2.createDataset(n, { dtype: "uint8", shape: [0, 1, 1, 1] });
    w2.close();
    await assert.rejects(
      Datacube.open(two),
      (e: Error) => e instanceof DatacubeError && /several 4-d datasets/.test(e.message),
    );
  });

  test(".npy in C and Fortran order; non-datacubes are refused with a reason", async () => {
    for (const name of ["cube_u2_C.npy", "cube_f4_F.npy"]) {
      const cube = await Datacube.open(path.join(NPY, name));
      assert.deepEqual(cube.shape, [5, 6, 7, 8]);
      const block = cube.readDetectorBlock(1, 2, 3, 4);
      let i = 0;
      for (let a = 0; a < 5; a++)
        for (let b = 0; b < 6; b++)
          for (let c = 1; c < 4; c++)
            for (let d = 2; d < 6; d++) {
              const v = (((a * 6 + b) * 7 + c) * 8 + d) % 251;
              assert.equal(block[i++], name.includes("f4") ? v / 4 : v);
            }
      cube.close();
      assert.deepEqual(
        (await listDatacubes(path.join(NPY, name))).map((e) => e.shape),
        [[5, 6, 7, 8]],
      );
    }
    await assert.rejects(Datacube.open(path.join(NPY, "f8_C_le.npy")), /not a 4-d datacube/);
    await assert.rejects(
      Datacube.open(path.join(NPY, "cube_u2_C.npy"), { dataset: "/x" }),
      DatacubeError,
    );
    const complex = path.join(dir, "complex.npy");
    writeNpy(complex, new Float64Array(2 * 16), [1, 2, 2, 4], { dtype: "complex128" });
    await assert.rejects(Datacube.open(complex), /real numbers are needed/);
    await assert.rejects(Datacube.open(path.join(dir, "missing.emd")), /no such file/);
    const garbage = path.join(dir, "garbage.emd");
    fs.writeFileSync(garbage, "not an HDF5 file, not numpy either");
    await assert.rejects(Datacube.open(garbage), CorruptFileError);
  });
});
