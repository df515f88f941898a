// Round trips through real files: every dtype, appends across chunk boundaries, hyperslab
// writes, selections, attributes, provenance, file state, re-opening. Expected values come
// from formulas (helpers/formula.mjs) or from plain-JS models, never from the store itself.
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
import { elementValue, pattern } from "./helpers/formula.mjs";
import {
  assertEntries,
  entries,
  expectPattern,
  expectSelection,
  type Sel,
} from "./helpers/expect.js";
import { assertBuildFresh, lastJson, makeTempDir, plain, runNode } from "./helpers/common.js";

let dir: string;
let cleanup: () => void;
before(() => {
  assertBuildFresh();
  ({ dir, cleanup } = makeTempDir("roundtrip"));
});
after(() => cleanup());

const W = 3; // row width of the dtype datasets
const CHUNK = 5; // rows per chunk: the odd append sizes below cross it at odd places
const APPENDS = [1, 7, 13];
const ROWS = APPENDS.reduce((a, b) => a + b, 0);

describe("every dtype", () => {
  let file: string;
  const compressionOf = (i: number) => (i % 2 === 0 ? "gzip" : "none");

  before(async () => {
    file = path.join(dir, "dtypes.h5");
    const w = await StoreWriter.create(file);
    const writers = DTYPES.map((dtype, i) =>
      w.createDataset(`dt/${dtype}`, {
        dtype,
        shape: [0, W],
        chunks: [CHUNK, W],
        compression: compressionOf(i),
      }),
    );
    let rows = 0;
    for (const [step, n] of APPENDS.entries()) {
      DTYPES.forEach((dtype, i) => writers[i]!.append(pattern(dtype, rows * W, n * W)));
      rows += n;
      // Commit between appends: the partial chunk left by 1 and 1+7 rows is rewritten later.
      if (step < APPENDS.length - 1) {
        const info = w.commit();
        for (const dtype of DTYPES) assert.equal(info.lengths[`/dt/${dtype}`], rows);
      }
    }
    const info = w.close();
    for (const dtype of DTYPES) assert.equal(info.lengths[`/dt/${dtype}`], ROWS);
  });

  test("13 dtypes are covered", () => {
    assert.deepEqual([...DTYPES].sort(), [
      "bool",
      "complex128",
      "complex64",
      "float32",
      "float64",
      "int16",
      "int32",
      "int64",
      "int8",
      "uint16",
      "uint32",
      "uint64",
      "uint8",
    ]);
  });

  for (const [i, dtype] of DTYPES.entries()) {
    test(`${dtype}: info and every value read back`, async () => {
      const r = await StoreReader.open(file);
      try {
        const ds = `/dt/${dtype}`;
        const info = r.info(ds);
        assert.equal(info.dtype, dtype);
        assert.deepEqual(info.shape, [ROWS, W]);
        assert.deepEqual(info.storedShape, [ROWS, W]);
        assert.deepEqual(info.maxshape, [null, W]);
        assert.deepEqual(info.chunks, [CHUNK, W]);
        assert.equal(info.compression, compressionOf(i) === "gzip" ? "gzip-4" : "none");
        const all = r.read(ds);
        assert.equal(all.dtype, dtype);
        assert.deepEqual(all.shape, [ROWS, W]);
        const [, expected] = expectPattern(dtype, [ROWS, W]);
        assertEntries(all.data, expected, `${dtype} full read`);
      } finally {
        r.close();
      }
    });
  }

  const selections: [string, Sel[]][] = [
    ["strided rows [[0, 21, 3]]", [[0, 21, 3]]],
    ["strided rows [[0, 10, 3]]", [[0, 10, 3]]],
    ["last row [-1]", [-1]],
    ["first row [0]", [0]],
    ["negative range [[-5, null]]", [[-5, null]]],
    ["negative stop [[2, -2]]", [[2, -2]]],
    ["one column [null, 2]", [null, 2]],
    ["negative column [null, -1]", [null, -1]],
    [
      "2-d strided [[1, -1, 4], [0, 3, 2]]",
      [
        [1, -1, 4],
        [0, 3, 2],
      ],
    ],
    ["single element [7, 1]", [7, 1]],
    ["empty range [[4, 4]]", [[4, 4]]],
    ["step past the end [[20, null, 5]]", [[20, null, 5]]],
  ];
  for (const dtype of ["int8", "uint64", "float32", "complex64", "complex128", "bool"] as DType[]) {
    test(`${dtype}: selections (strides, negative indices, columns)`, async () => {
      const r = await StoreReader.open(file);
      try {
        for (const [label, sel] of selections) {
          const got = r.read(`/dt/${dtype}`, sel);
          const [shape, expected] = expectPattern(dtype, [ROWS, W], sel);
          assert.deepEqual(got.shape, shape, `${dtype} ${label}: shape`);
          assertEntries(got.data, expected, `${dtype} ${label}`);
        }
      } finally {
        r.close();
      }
    });
  }

  test("typed-array classes per dtype (complex interleaved, bool as Uint8Array)", async () => {
    const r = await StoreReader.open(file);
    try {
      const classes: Record<DType, string> = {
        int8: "Int8Array",
        uint8: "Uint8Array",
        int16: "Int16Array",
        uint16: "Uint16Array",
        int32: "Int32Array",
        uint32: "Uint32Array",
        int64: "BigInt64Array",
        uint64: "BigUint64Array",
        float32: "Float32Array",
        float64: "Float64Array",
        bool: "Uint8Array",
        complex64: "Float32Array",
        complex128: "Float64Array",
      };
      for (const dtype of DTYPES) {
        const got = r.read(`/dt/${dtype}`, [[0, 2]]);
        assert.equal(got.data.constructor.name, classes[dtype], dtype);
        assert.equal(got.data.length, 2 * W * (dtype.startsWith("complex") ? 2 : 1), dtype);
      }
    } finally {
      r.close();
    }
  });
});

test("special float values survive (NaN, ±Infinity, -0, extremes, subnormals)", async () => {
  const file = path.join(dir, "special.h5");
  const f64 = [
    NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    -Number.EPSILON,
  ];
  const f32 = [
    NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    3.4028234663852886e38,
    1.401298464324817e-45,
    -1.1920928955078125e-7,
  ];
  const w = await StoreWriter.create(file);
  w.createDataset("f64", { dtype: "float64", shape: [0], chunks: [3] }).append(
    new Float64Array(f64),
  );
  w.createDataset("f32", { dtype: "float32", shape: [0], chunks: [3], compression: "none" }).append(
    new Float32Array(f32),
  );
  w.createDataset("c128", { dtype: "complex128", shape: [0], chunks: [2] }).append(
    new Float64Array(f64),
  );
  w.createDataset("c64", { dtype: "complex64", shape: [0], chunks: [2] }).append(
    new Float32Array(f32),
  );
  w.close();
  const r = await StoreReader.open(file);
  try {
    assertEntries(r.read("/f64").data, f64, "float64");
    assertEntries(r.read("/f32").data, f32, "float32");
    assertEntries(r.read("/c128").data, f64, "complex128");
    assert.deepEqual(r.read("/c64").shape, [4]);
    assertEntries(r.read("/c64").data, f32, "complex64");
  } finally {
    r.close();
  }
});

describe("appends across chunk boundaries", () => {
  test("odd sizes with a commit after every append, 2-d rows, both compressions", async () => {
    const file = path.join(dir, "appends.h5");
    const w = await StoreWriter.create(file);
    const g = w.createDataset("g", {
      dtype: "int32",
      shape: [0, 4],
      chunks: [5, 4],
      compression: { gzip: 9 },
    });
    const n = w.createDataset("n", {
      dtype: "float64",
      shape: [0, 4],
      chunks: [5, 4],
      compression: "none",
    });
    const sizes = [1, 7, 13, 1, 1, 1, 1, 1, 5, 10, 3, 0, 4];
    let rows = 0;
    for (const k of sizes) {
      g.append(pattern("int32", rows * 4, k * 4));
      n.append(pattern("float64", rows * 4, k * 4));
      rows += k;
      assert.equal(g.length, rows);
      assert.deepEqual(n.shape, [rows, 4]);
      const info = w.commit();
      assert.deepEqual(info.lengths, { "/g": rows, "/n": rows });
    }
    w.close();
    const r = await StoreReader.open(file);
    try {
      assert.equal(r.info("/g").compression, "gzip-9");
      for (const [ds, dtype] of [
        ["/g", "int32"],
        ["/n", "float64"],
      ] as const) {
        const got = r.read(ds);
        assert.deepEqual(got.shape, [rows, 4]);
        assertEntries(got.data, expectPattern(dtype, [rows, 4])[1], ds);
      }
    } finally {
      r.close();
    }
  });

  test("one append of many whole chunks plus a tail, then single rows", async () => {
    const file = path.join(dir, "bigappend.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("d", { dtype: "uint16", shape: [0, 2], chunks: [5, 2] });
    d.append(pattern("uint16", 0, 2 * 2)); // partial chunk in the buffer
    d.append(pattern("uint16", 4, 53 * 2)); // fills it, then 10 whole chunks straight through
    for (let i = 0; i < 6; i++) d.append(pattern("uint16", (55 + i) * 2, 2));
    w.close();
    const r = await StoreReader.open(file);
    try {
      assertEntries(r.read("/d").data, expectPattern("uint16", [61, 2])[1], "uint16");
    } finally {
      r.close();
    }
  });
});

describe("hyperslab writes", () => {
  test("blocks into a fixed-size dataset match a plain-JS model", async () => {
    const file = path.join(dir, "slabs.h5");
    const [R, C] = [7, 9];
    const model = new Int32Array(R * C); // HDF5's fill value is 0
    const blocks: [number[], number[]][] = [
      [
        [0, 0],
        [1, 9],
      ],
      [
        [2, 1],
        [3, 4],
      ],
      [
        [6, 8],
        [1, 1],
      ],
      [
        [3, 3],
        [4, 6],
      ], // overlaps the second block
      [
        [5, 0],
        [2, 2],
      ],
    ];
    const w = await StoreWriter.create(file);
    const d = w.createDataset("m", {
      dtype: "int32",
      shape: [R, C],
      maxshape: [R, C],
      chunks: [3, 4],
    });
    blocks.forEach(([start, count], b) => {
      const data = new Int32Array(count[0]! * count[1]!);
      for (let i = 0; i < count[0]!; i++) {
        for (let j = 0; j < count[1]!; j++) {
          const v = (b + 1) * 100 + i * 10 + j;
          data[i * count[1]! + j] = v;
          model[(start[0]! + i) * C + start[1]! + j] = v;
        }
      }
      d.write(start, count, data);
    });
    w.close();
    const r = await StoreReader.open(file);
    try {
      const all = r.read("/m");
      assert.deepEqual(all.shape, [R, C]);
      assertEntries(all.data, Array.from(model), "int32 blocks");
      const sel: Sel[] = [
        [1, null, 2],
        [-7, null, 3],
      ];
      const [shape, expected] = expectSelection([R, C], sel, (k) => model[k]!);
      const got = r.read("/m", sel);
      assert.deepEqual(got.shape, shape);
      assertEntries(got.data, expected, "strided read of the blocks");
    } finally {
      r.close();
    }
  });

  test("a block past the extent grows the dataset (rows in between are fill value 0)", async () => {
    const file = path.join(dir, "grow.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("g", { dtype: "complex128", shape: [0, 2], chunks: [4, 2] });
    d.append(pattern("complex128", 0, 2 * 2));
    d.write([5, 0], [2, 2], pattern("complex128", 100, 4));
    assert.deepEqual(d.shape, [7, 2]);
    d.append(pattern("complex128", 200, 2));
    w.close();
    const r = await StoreReader.open(file);
    try {
      const got = r.read("/g");
      assert.deepEqual(got.shape, [8, 2]);
      const expected = [
        ...entries(
          "complex128",
          [0, 1, 2, 3].map((k) => elementValue("complex128", k)),
        ),
        ...new Array(3 * 2 * 2).fill(0),
        ...entries(
          "complex128",
          [100, 101, 102, 103].map((k) => elementValue("complex128", k)),
        ),
        ...entries(
          "complex128",
          [200, 201].map((k) => elementValue("complex128", k)),
        ),
      ];
      assertEntries(got.data, expected, "grown complex128");
    } finally {
      r.close();
    }
  });

  test("a block over rows still buffered for append is not undone by the next append", async () => {
    const file = path.join(dir, "overbuffer.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("b", { dtype: "float64", shape: [0, 2], chunks: [5, 2] });
    const model: number[] = [];
    const add = (rows: number[][]) => rows.forEach((row) => model.push(...row));
    const rowsOf = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => [from + i, -(from + i)]);
    d.append(new Float64Array(rowsOf(0, 7).flat())); // rows 5, 6 sit in the append buffer
    add(rowsOf(0, 7));
    d.write([6, 0], [1, 2], new Float64Array([66.5, -66.5])); // overwrite buffered row 6
    model.splice(12, 2, 66.5, -66.5);
    d.append(new Float64Array(rowsOf(7, 3).flat())); // completes the chunk 5..9
    add(rowsOf(7, 3));
    w.close();
    const r = await StoreReader.open(file);
    try {
      assertEntries(r.read("/b").data, model, "rows after write() into the buffered chunk");
    } finally {
      r.close();
    }
  });

  test("appends after a block that grew the dataset past a whole chunk go after the block", async () => {
    const file = path.join(dir, "growthenappend.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("e", { dtype: "uint32", shape: [0, 2], chunks: [4, 2] });
    d.append(new Uint32Array([0, 1, 10, 11, 20, 21, 30, 31])); // exactly one chunk: buffer empty
    d.write([5, 0], [2, 2], new Uint32Array([50, 51, 60, 61]));
    d.append(new Uint32Array([70, 71]));
    assert.equal(d.length, 8);
    w.close();
    const r = await StoreReader.open(file);
    try {
      assertEntries(
        r.read("/e").data,
        [0, 1, 10, 11, 20, 21, 30, 31, 0, 0, 50, 51, 60, 61, 70, 71],
        "row 4 is fill, rows 5-6 the block, row 7 the append",
      );
    } finally {
      r.close();
    }
  });
});

describe("attributes and provenance", () => {
  const attrs: Attrs = {
    text: "héllo ✓ wörld",
    empty_text: "",
    float: 3.25,
    negative: -17,
    integer: 42,
    big: 2n ** 62n + 3n,
    negbig: -(2n ** 60n) - 1n,
    yes: true,
    no: false,
    names: ["alpha", "βeta", ""],
    numbers: [1.5, -2, 1e300],
    f32: new Float32Array([0.5, -1.25]),
    i16: new Int16Array([-32768, 0, 32767]),
    u8: new Uint8Array([0, 255]),
    i64: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    u64: new BigUint64Array([2n ** 64n - 1n]),
    nested: { a: [1, "two", { three: null }], b: { c: true, d: -0.5 } },
    empty_list: [],
    mixed: [1, "x", false],
    nothing: null,
  };

  function assertAttrs(got: Attrs, what: string): void {
    for (const [k, v] of Object.entries(attrs)) {
      assert.ok(k in got, `${what}: attribute ${k} missing`);
      const g = got[k];
      if (k === "numbers") {
        // A list of numbers is stored as a float64 array (h5py sees a numpy array).
        assert.deepEqual(Array.from(g as ArrayLike<number>), v, `${what}.${k}`);
      } else if (ArrayBuffer.isView(v)) {
        assert.equal(g?.constructor.name, v.constructor.name, `${what}.${k} class`);
        assert.deepEqual(plain(g), plain(v), `${what}.${k}`);
      } else if (typeof v === "bigint") {
        assert.equal(BigInt(g as number | bigint), v, `${what}.${k}`);
      } else {
        assert.deepEqual(g, v, `${what}.${k}`);
      }
    }
  }

  test("every kind of attribute on root, group and dataset; provenance everywhere", async () => {
    const file = path.join(dir, "attrs.h5");
    const t0 = Date.now();
    const parameters = { sigma: 1.5, mode: "fast", sizes: [1, 2, 3], nested: { on: true } };
    const w = await StoreWriter.create(file, {
      provenance: { stage: "tests.roundtrip", parameters },
    });
    w.setAttrs("/", attrs);
    w.createGroup("grp/sub", attrs);
    w.createDataset("grp/d", { dtype: "float32", shape: [0], attrs });
    w.createDataset("own", { dtype: "int8", shape: [0], provenance: { stage: "other.stage" } });
    w.createDataset("overridden", {
      dtype: "int8",
      shape: [0],
      attrs: { stagelab_stage: "manual" },
    });
    w.close();
    const t1 = Date.now();
    const r = await StoreReader.open(file);
    try {
      assertAttrs(r.attrs("/"), "/");
      assertAttrs(r.attrs("/grp/sub"), "/grp/sub");
      assertAttrs(r.info("/grp/d").attrs, "/grp/d");
      for (const p of ["/", "/grp/d"]) {
        const a = r.attrs(p);
        assert.equal(a["stagelab_version"], VERSION, p);
        assert.equal(a["stagelab_stage"], "tests.roundtrip", p);
        assert.deepEqual(a["stagelab_parameters"], parameters, p);
        const created = Date.parse(String(a["stagelab_created"]));
        assert.ok(
          created >= t0 - 1000 && created <= t1 + 1000,
          `${p}: stagelab_created ${a["stagelab_created"]}`,
        );
        assert.match(String(a["stagelab_created"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      }
      const own = r.attrs("/own");
      assert.equal(own["stagelab_stage"], "other.stage");
      assert.deepEqual(own["stagelab_parameters"], {});
      assert.equal(r.attrs("/overridden")["stagelab_stage"], "manual");
      // The type table that makes JSON/bool attributes round-trip is not a user attribute.
      assert.ok(!("_stagelab_attr_types" in r.attrs("/")));
    } finally {
      r.close();
    }
  });

  test("setAttrs replaces values, including a change of kind", async () => {
    const file = path.join(dir, "attrs-replace.h5");
    const w = await StoreWriter.create(file);
    w.createDataset("d", { dtype: "uint8", shape: [0] });
    w.setAttrs("/d", { a: { json: 1 }, b: true, c: "text" });
    w.setAttrs("/d", { a: "now text", b: 7, c: [1, 2] });
    w.close();
    const r = await StoreReader.open(file);
    try {
      const a = r.attrs("/d");
      assert.equal(a["a"], "now text");
      assert.equal(a["b"], 7);
      assert.deepEqual(Array.from(a["c"] as ArrayLike<number>), [1, 2]);
    } finally {
      r.close();
    }
  });
});

describe("file state, deferred attributes, re-opening", () => {
  test('"writing" while the writer lives, "complete" after close; setAttrs after the first commit lands at close', async () => {
    const file = path.join(dir, "state.h5");
    const w = await StoreWriter.create(file, { provenance: { stage: "tests.state" } });
    const d = w.createDataset("d", { dtype: "int64", shape: [0], chunks: [4] });
    w.setAttrs("/", { early: "before commit" });
    d.append(pattern("int64", 0, 6));
    w.commit();
    assert.ok(w.isFrozen);
    w.setAttrs("/", { late: "after commit" });
    w.setAttrs("/d", { late_ds: 1.5 });
    w.setAttrs("/made/at/close", { g: true });
    d.append(pattern("int64", 6, 3));
    w.commit();
    d.append(pattern("int64", 9, 2)); // not committed yet when the child looks

    type Dump = {
      state: string;
      sequence: number;
      tree: { path: string }[];
      attrs: Record<string, Record<string, unknown>>;
      datasets: Record<string, { info: { shape: number[] }; data: string[] }>;
    };
    const live = lastJson<Dump>(
      await runNode("reader_dump.mjs", [file, "/d"]),
      "reader_dump while writing",
    );
    assert.equal(live.state, "writing");
    assert.equal(live.sequence, 2);
    assert.deepEqual(live.datasets["/d"]!.info.shape, [9]);
    assert.deepEqual(
      live.datasets["/d"]!.data,
      Array.from(pattern("int64", 0, 9), (v) => `${v}n`),
    );
    assert.equal(live.attrs["/"]!["early"], "before commit");
    assert.ok(
      !("late" in live.attrs["/"]!),
      "attribute set after the first commit is visible before close",
    );
    assert.ok(!live.tree.some((n) => n.path === "/made"));

    const info = w.close();
    assert.equal(info.sequence, 3);
    assert.deepEqual(info.lengths, { "/d": 11 });
    const r = await StoreReader.open(file);
    try {
      assert.equal(r.state, "complete");
      assert.equal(r.sequence, 3);
      assert.equal(r.attrs("/")["late"], "after commit");
      assert.equal(r.attrs("/")["early"], "before commit");
      assert.equal(r.attrs("/")["stagelab_stage"], "tests.state");
      assert.equal(r.attrs("/d")["late_ds"], 1.5);
      assert.equal(r.attrs("/made/at/close")["g"], true);
      assertEntries(r.read("/d").data, Array.from(pattern("int64", 0, 11)), "int64 rows");
    } finally {
      r.close();
    }
  });

  test("StoreWriter.open on a cleanly closed file appends more (partial last chunk kept)", async () => {
    const file = path.join(dir, "reopen.h5");
    let w = await StoreWriter.create(file);
    w.createDataset("a", { dtype: "float32", shape: [0, 2], chunks: [5, 2] }).append(
      pattern("float32", 0, 7 * 2),
    );
    w.createDataset("c", {
      dtype: "complex64",
      shape: [0],
      chunks: [4],
      compression: "none",
    }).append(pattern("complex64", 0, 3));
    w.close();

    const sessions: [number, number][] = [
      [7, 3],
      [6, 9],
      [1, 1],
    ];
    for (const [session, [addA, addC]] of sessions.entries()) {
      w = await StoreWriter.open(file);
      try {
        assert.equal(w.recovered, undefined, "a cleanly closed file needs no recovery");
        const a = w.dataset<"float32">("a");
        const c = w.dataset<"complex64">("/c");
        const [na, nc] = [a.length, c.length];
        a.append(pattern("float32", na * 2, addA * 2));
        w.commit();
        c.append(pattern("complex64", nc, addC));
        const info = w.close();
        assert.deepEqual(info.lengths, { "/a": na + addA, "/c": nc + addC }, `session ${session}`);
      } catch (e) {
        w.abandon();
        throw e;
      }
    }
    const r = await StoreReader.open(file);
    try {
      assert.equal(r.state, "complete");
      assertEntries(
        r.read("/a").data,
        expectPattern("float32", [21, 2])[1],
        "float32 after 3 re-opens",
      );
      assertEntries(
        r.read("/c").data,
        expectPattern("complex64", [16])[1],
        "complex64 after 3 re-opens",
      );
      assert.deepEqual(r.info("/a").chunks, [5, 2]);
    } finally {
      r.close();
    }
  });

  test("reads see only committed rows, whatever spelling of the dataset path", async () => {
    // abandon() closes without a final commit: rows appended after the last commit are in
    // the file (extent 16) but were never committed (8).
    const file = path.join(dir, "uncommitted.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("d", {
      dtype: "int16",
      shape: [0],
      chunks: [4],
      compression: "none",
    });
    d.append(pattern("int16", 0, 8));
    w.commit();
    d.append(pattern("int16", 8, 8));
    w.abandon();
    const r = await StoreReader.open(file);
    try {
      assert.equal(r.state, "writing");
      for (const name of ["/d", "d", "d", "/d", "//d"]) {
        const info = r.info(name);
        assert.deepEqual(info.shape, [8], `info(${JSON.stringify(name)}).shape`);
        assert.deepEqual(info.storedShape, [16]);
        assert.deepEqual(r.read(name).shape, [8], `read(${JSON.stringify(name)}).shape`);
        assert.throws(() => r.read(name, [[0, 9]]), { name: "SliceOutOfRangeError" });
      }
    } finally {
      r.close();
    }
  });
});
