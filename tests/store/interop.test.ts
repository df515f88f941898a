// Interoperability with h5py, both ways. h5py writes files (helpers/h5py_write.py) that our
// reader must read exactly; our writer writes files that h5py (helpers/h5py_verify.py) must
// read exactly. Both sides compute the expected values from the same formula, implemented
// separately in JS (helpers/formula.mjs) and numpy (helpers/h5py_formula.py).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  DTYPES,
  StoreReader,
  StoreWriter,
  VERSION,
  type Attrs,
  type DType,
} from "../../src/index.js";
import { pattern } from "./helpers/formula.mjs";
import { assertEntries, expectPattern, type Sel } from "./helpers/expect.js";
import { assertBuildFresh, lastJson, makeTempDir, runPython } from "./helpers/common.js";

let dir: string;
let cleanup: () => void;
before(() => {
  assertBuildFresh();
  ({ dir, cleanup } = makeTempDir("interop"));
});
after(() => cleanup());

describe("h5py writes, we read", () => {
  let files: Record<string, string>;
  before(async () => {
    const r = await runPython("h5py_write.py", [dir], { timeoutMs: 60_000 });
    const manifest = lastJson<{ files: Record<string, string>; h5py: string; hdf5: string }>(
      r,
      "h5py_write.py",
    );
    assert.equal(r.code, 0, r.stderr);
    files = manifest.files;
    assert.deepEqual(Object.keys(files).sort(), ["default", "latest"]);
  });

  for (const libver of ["default", "latest"]) {
    describe(`libver=${libver}`, () => {
      test("root attributes: str, float, int, big int, arrays", async () => {
        const r = await StoreReader.open(files[libver]!);
        try {
          assert.equal(r.state, "foreign");
          assert.equal(r.sequence, 0);
          const a = r.attrs("/");
          assert.equal(a["title"], "written by h5py ✓");
          assert.equal(a["ratio"], 0.125);
          assert.equal(a["count"], 42);
          assert.equal(a["neg"], -7);
          assert.equal(BigInt(a["big"] as bigint), 2n ** 62n + 1n);
          assert.ok(a["floats"] instanceof Float64Array);
          assert.deepEqual(Array.from(a["floats"]), [1.5, -2.25, 1e300]);
          assert.ok(a["ints"] instanceof BigInt64Array);
          assert.deepEqual(Array.from(a["ints"]), [-1n, 0n, 2n ** 40n]);
          assert.ok(a["shorts"] instanceof Int16Array);
          assert.deepEqual(Array.from(a["shorts"]), [1, -2, 3]);
          assert.deepEqual(a["names"], ["alpha", "beta"]);
          const d = r.attrs("/chunked/float64");
          assert.equal(d["units"], "m/s");
          assert.equal(d["scale"], 0.5);
          assert.equal(d["dtype"], "float64");
        } finally {
          r.close();
        }
      });

      test("tree lists every group and dataset", async () => {
        const r = await StoreReader.open(files[libver]!);
        try {
          const paths = r.tree().map((n) => `${n.kind}:${n.path}`);
          for (const dtype of DTYPES) {
            assert.ok(paths.includes(`dataset:/chunked/${dtype}`), dtype);
            assert.ok(paths.includes(`dataset:/contiguous/${dtype}`), dtype);
          }
          assert.ok(paths.includes("group:/chunked"));
          assert.ok(paths.includes("group:/bigendian"));
        } finally {
          r.close();
        }
      });

      for (const dtype of DTYPES) {
        test(`${dtype}: chunked+gzip and contiguous datasets`, async () => {
          const r = await StoreReader.open(files[libver]!);
          try {
            const c = r.info(`/chunked/${dtype}`);
            assert.equal(c.dtype, dtype);
            assert.deepEqual(c.shape, [11, 3]);
            assert.deepEqual(c.maxshape, [null, 3]);
            assert.deepEqual(c.chunks, [4, 3]);
            assert.equal(c.compression, "gzip-6");
            const chunked = r.read(`/chunked/${dtype}`);
            assert.deepEqual(chunked.shape, [11, 3]);
            assertEntries(chunked.data, expectPattern(dtype, [11, 3])[1], `chunked ${dtype}`);
            for (const sel of [
              [
                [1, 11, 3],
                [0, 3, 2],
              ],
              [-1],
              [[-4, null], -2],
            ] as Sel[][]) {
              const got = r.read(`/chunked/${dtype}`, sel);
              const [shape, expected] = expectPattern(dtype, [11, 3], sel);
              assert.deepEqual(got.shape, shape, JSON.stringify(sel));
              assertEntries(got.data, expected, `chunked ${dtype} ${JSON.stringify(sel)}`);
            }
            const k = r.info(`/contiguous/${dtype}`);
            assert.equal(k.dtype, dtype);
            assert.deepEqual(k.shape, [2, 3, 4]);
            assert.equal(k.chunks, null);
            assert.equal(k.compression, "none");
            assertEntries(
              r.read(`/contiguous/${dtype}`).data,
              expectPattern(dtype, [2, 3, 4])[1],
              `contiguous ${dtype}`,
            );
            const sel: Sel[] = [1, [0, 3, 2], [-3, null]];
            const [shape, expected] = expectPattern(dtype, [2, 3, 4], sel);
            const got = r.read(`/contiguous/${dtype}`, sel);
            assert.deepEqual(got.shape, shape);
            assertEntries(got.data, expected, `contiguous ${dtype} 3-d selection`);
          } finally {
            r.close();
          }
        });
      }

      test("big-endian and shuffle+gzip datasets", async () => {
        const r = await StoreReader.open(files[libver]!);
        try {
          assert.equal(r.info("/bigendian/int32").dtype, "int32");
          assertEntries(
            r.read("/bigendian/int32").data,
            expectPattern("int32", [10])[1],
            "big-endian int32",
          );
          assert.equal(r.info("/bigendian/float64").dtype, "float64");
          assertEntries(
            r.read("/bigendian/float64").data,
            expectPattern("float64", [10])[1],
            "big-endian float64",
          );
          assert.match(r.info("/shuffled/float32").compression, /gzip-1/);
          assertEntries(
            r.read("/shuffled/float32").data,
            expectPattern("float32", [100])[1],
            "shuffled float32",
          );
          const sel: Sel[] = [[5, 95, 7]];
          assertEntries(
            r.read("/shuffled/float32", sel).data,
            expectPattern("float32", [100], sel)[1],
            "strided",
          );
        } finally {
          r.close();
        }
      });
    });
  }
});

describe("we write, h5py reads", () => {
  type AttrReport = Record<string, { type: string; value: unknown }>;
  interface Report {
    libver: string[];
    datasets: Record<
      string,
      {
        dtype: string;
        shape: number[];
        maxshape: (number | null)[] | null;
        chunks: number[] | null;
        compression: string | null;
        compression_opts: number | null;
        shuffle: boolean;
        values_ok?: boolean;
        mismatch?: unknown;
        head: unknown[];
        values?: unknown[];
      }
    >;
    attrs: Record<string, AttrReport>;
  }
  let report: Report;
  const compressions = ["gzip", { gzip: 1 }, { gzip: 9 }, "none"] as const;
  const levelOf = (i: number) => [4, 1, 9, null][i % 4];
  const rootAttrs: Attrs = {
    text: "héllo ✓",
    float: 3.25,
    integer: 42,
    big: 2n ** 62n + 3n,
    yes: true,
    no: false,
    names: ["a", "β"],
    numbers: [1.5, -2],
    i16: new Int16Array([-5, 6]),
    u64: new BigUint64Array([2n ** 64n - 1n]),
    f32: new Float32Array([0.25]),
    nested: { a: [1, "two"], b: null },
  };

  before(async () => {
    const file = path.join(dir, "ours.h5");
    const w = await StoreWriter.create(file, {
      provenance: { stage: "tests.interop", parameters: { n: 3, tag: "x" } },
    });
    w.setAttrs("/", rootAttrs);
    const writers = DTYPES.map((dtype, i) =>
      w.createDataset(`dt/${dtype}`, {
        dtype,
        shape: [0, 3],
        chunks: [5, 3],
        compression: compressions[i % 4],
      }),
    );
    const cube = w.createDataset("dt3/float32", {
      dtype: "float32",
      shape: [4, 5, 6],
      maxshape: [4, 5, 6],
      chunks: [2, 5, 3],
    });
    cube.write([2, 0, 0], [2, 5, 6], pattern("float32", 60, 60));
    cube.write([0, 0, 0], [2, 5, 6], pattern("float32", 0, 60));
    let rows = 0;
    for (const n of [1, 7, 13]) {
      DTYPES.forEach((dtype, i) => writers[i]!.append(pattern(dtype, rows * 3, n * 3)));
      rows += n;
      w.commit();
    }
    w.close();
    const r = await runPython("h5py_verify.py", [file], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    report = lastJson<Report>(r, "h5py_verify.py");
  });

  for (const [i, dtype] of DTYPES.entries()) {
    test(`${dtype}: values, dtype, shape, chunks, compression as h5py sees them`, () => {
      const d = report.datasets[`/dt/${dtype}`];
      assert.ok(d, `h5py does not see /dt/${dtype}`);
      assert.equal(d.values_ok, true, `values differ: ${JSON.stringify(d.mismatch)}`);
      // bool is uint8 on disk; complex is the compound {r, i} that h5py maps to complex.
      const h5pyDtype: Record<DType, string> = {
        int8: "int8",
        uint8: "uint8",
        int16: "int16",
        uint16: "uint16",
        int32: "int32",
        uint32: "uint32",
        int64: "int64",
        uint64: "uint64",
        float32: "float32",
        float64: "float64",
        bool: "uint8",
        complex64: "complex64",
        complex128: "complex128",
      };
      assert.equal(d.dtype, h5pyDtype[dtype]);
      assert.deepEqual(d.shape, [21, 3]);
      assert.deepEqual(d.maxshape, [null, 3]);
      assert.deepEqual(d.chunks, [5, 3]);
      const level = levelOf(i);
      if (level === null) {
        assert.equal(d.compression, null);
      } else {
        assert.equal(d.compression, "gzip");
        assert.equal(d.compression_opts, level);
      }
      assert.equal(d.shuffle, false);
    });
  }

  test("a fixed-size 3-d dataset written in blocks", () => {
    const d = report.datasets["/dt3/float32"];
    assert.ok(d);
    assert.equal(d.values_ok, true, `values differ: ${JSON.stringify(d.mismatch)}`);
    assert.equal(d.dtype, "float32");
    assert.deepEqual(d.shape, [4, 5, 6]);
    assert.deepEqual(d.maxshape, [4, 5, 6]);
    assert.deepEqual(d.chunks, [2, 5, 3]);
    assert.equal(d.compression, "gzip");
    assert.equal(d.compression_opts, 4);
  });

  test("attributes as h5py sees them", () => {
    const a = report.attrs["/"]!;
    const expected: AttrReport = {
      text: { type: "str", value: "héllo ✓" },
      float: { type: "float64", value: 3.25 },
      integer: { type: "float64", value: 42 }, // JS numbers are float64
      big: { type: "int64", value: String(2n ** 62n + 3n) },
      yes: { type: "uint8", value: 1 },
      no: { type: "uint8", value: 0 },
      names: { type: "object", value: ["a", "β"] },
      numbers: { type: "float64", value: [1.5, -2] },
      i16: { type: "int16", value: [-5, 6] },
      u64: { type: "uint64", value: [String(2n ** 64n - 1n)] },
      f32: { type: "float32", value: [0.25] },
      nested: { type: "str", value: JSON.stringify({ a: [1, "two"], b: null }) },
    };
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(a[k], v, k);
    // Provenance on the root and on each dataset, readable without stagelab.
    for (const p of ["/", "/dt/complex64"]) {
      const attrs = report.attrs[p]!;
      assert.deepEqual(attrs["stagelab_version"], { type: "str", value: VERSION }, p);
      assert.deepEqual(attrs["stagelab_stage"], { type: "str", value: "tests.interop" }, p);
      assert.deepEqual(
        JSON.parse(String(attrs["stagelab_parameters"]!.value)),
        { n: 3, tag: "x" },
        p,
      );
      assert.ok(!Number.isNaN(Date.parse(String(attrs["stagelab_created"]!.value))), p);
    }
  });

  test("bookkeeping is plain HDF5: state complete, commit marker int64 [seq, lengths...]", () => {
    const book = report.attrs["/_stagelab"]!;
    assert.deepEqual(book["state"], { type: "str", value: "complete" });
    assert.deepEqual(book["format"], { type: "str", value: "stagelab-store/1" });
    const tracked = book["tracked"]!.value as string[];
    assert.deepEqual(
      [...tracked].sort(),
      [...DTYPES.map((d) => `/dt/${d}`), "/dt3/float32"].sort(),
    );
    const commit = report.datasets["/_stagelab/commit"]!;
    assert.equal(commit.dtype, "int64");
    assert.deepEqual(commit.shape, [1 + tracked.length]);
    // 3 commits and the one close() makes; every appended dataset holds 21 rows, the cube 4.
    assert.deepEqual(commit.values, [4, ...tracked.map((t) => (t === "/dt3/float32" ? 4 : 21))]);
    // SWMR needs the 1.10 file format: h5py reports the bounds the file was written with.
    assert.ok(report.libver.length === 2);
  });
});
