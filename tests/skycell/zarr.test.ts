// Zarr I/O over zarrita: v2 interop with zarr-python 2.13 (Debian's /usr/bin/python3) both ways,
// v3 round trips through our own reader (zarr-python 2.13 has no v3 support), regions, attrs and
// typed errors. The interop tests are skipped, saying why, when zarr cannot be imported.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  createZarrArray,
  openZarrArray,
  readZarr,
  ZarrDtypeError,
  ZarrError,
  ZarrNotFoundError,
  ZarrShapeError,
  type ZarrCompressor,
  type ZarrDtype,
  type ZarrTypedArray,
} from "../../src/skycell/index.js";
import { encodeZarrV2, writeEncodedZarr } from "../../src/skycell/zarr-encode.js";

const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const XCHECK = fileURLToPath(new URL("./helpers/zarr_xcheck.py", import.meta.url));

let noZarr: string | false = false;
try {
  execFileSync(PYTHON, ["-c", "import zarr, numcodecs, numpy"], { stdio: "pipe" });
} catch (e) {
  noZarr = `${PYTHON} cannot import zarr/numcodecs/numpy (${(e as Error).message.split("\n")[0]})`;
}

function py(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [XCHECK, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`zarr_xcheck.py ${args[0]} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-zarr-"));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});
let n = 0;
const fresh = () => path.join(tmp, `s${n++}`);

const CTORS: Record<ZarrDtype, new (n: number) => ZarrTypedArray> = {
  float32: Float32Array,
  float64: Float64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
};

function bytesOf(a: ZarrTypedArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Our deterministic pattern (different from python's), NaN/inf included for floats. */
function pattern(dtype: ZarrDtype, count: number): ZarrTypedArray {
  const a = new CTORS[dtype](count);
  for (let i = 0; i < count; i++) {
    if (dtype.startsWith("float"))
      a[i] = i % 13 === 0 ? NaN : i % 31 === 3 ? -Infinity : Math.cos(i * 0.7) * 250 + i;
    else a[i] = (i * 104729 + 7) % 65521; // wraps per the typed array's range
  }
  return a;
}

const v2cases: [ZarrDtype, number[], number[], ZarrCompressor, string][] = [
  ["float32", [37, 50], [16, 20], "none", "nan"],
  ["float32", [37, 50], [16, 20], "zlib", "0.0"],
  ["uint8", [40, 33], [40, 10], "gzip", "0"],
  ["int16", [25, 30], [7, 30], "zlib", "-5"],
  ["float64", [9, 11, 4], [4, 4, 4], "gzip", "nan"],
  ["int32", [100], [33], "none", "0"],
  ["uint16", [12, 12], [5, 5], "none", "0"],
];

for (const [dtype, shape, chunks, comp, fill] of v2cases) {
  const label = `${dtype} ${shape.join("x")} chunks ${chunks.join("x")} ${comp}`;

  test(`v2: zarr-python writes, we read exactly: ${label}`, { skip: noZarr }, async () => {
    const root = fresh();
    await py(["write", root, "grp/img", dtype, shape.join(","), chunks.join(","), comp, fill]);
    const a = await openZarrArray(root, "grp/img", { dtype });
    assert.equal(a.format, 2);
    assert.deepEqual(a.shape, shape);
    assert.deepEqual(a.chunks, chunks);
    assert.equal(a.attributes["BOFFSET"], 1.5);
    assert.deepEqual(a.attributes["list"], [1, 2, 3]);
    const { data, shape: s } = await a.read();
    assert.deepEqual(s, shape);
    assert.ok(
      bytesOf(data).equals(fs.readFileSync(path.join(root, "expected.bin"))),
      "bytes differ",
    );
    // a region crossing chunk borders
    if (shape.length === 2) {
      const [h, w] = shape as [number, number];
      const r = await a.read([
        [3, h - 2],
        [5, w - 1],
      ]);
      const full = data;
      assert.deepEqual(r.shape, [h - 5, w - 6]);
      for (let y = 0; y < h - 5; y++)
        for (let x = 0; x < w - 6; x++)
          assert.ok(Object.is(r.data[y * (w - 6) + x], full[(y + 3) * w + x + 5]), `(${y},${x})`);
    }
  });

  test(`v2: we write, zarr-python reads exactly: ${label}`, { skip: noZarr }, async () => {
    const root = fresh();
    const count = shape.reduce((p, q) => p * q, 1);
    const fillValue = fill === "nan" ? NaN : Number(fill);
    const a = await createZarrArray(root, "out/img", {
      shape,
      chunks,
      dtype,
      compressor: comp,
      fillValue,
      attributes: { BSOFTEN: 2.25, note: "ours" },
    });
    const want = pattern(dtype, count);
    await a.write(want);
    const out = path.join(root, "got.bin");
    const meta = JSON.parse(await py(["read", root, "out/img", out])) as Record<string, unknown>;
    assert.deepEqual(meta["shape"], shape);
    assert.deepEqual(meta["chunks"], chunks);
    assert.equal(meta["dtype"], dtype);
    assert.deepEqual(meta["attrs"], { BSOFTEN: 2.25, note: "ours" });
    assert.deepEqual(
      meta["compressor"],
      comp === "none" ? null : { id: comp, level: 1 },
      "compressor config",
    );
    assert.equal(meta["fill_value"], fill === "nan" ? "NaN" : Number(fill));
    assert.ok(fs.readFileSync(out).equals(bytesOf(want)), "bytes differ");
  });
}

test(
  "v2: partial region writes; unwritten chunks read as the fill value (ours and zarr-python's)",
  { skip: noZarr },
  async () => {
    const root = fresh();
    const a = await createZarrArray(root, "m", {
      shape: [30, 40],
      chunks: [10, 10],
      dtype: "float32",
      fillValue: NaN,
      compressor: "zlib",
    });
    const block = new Float32Array(7 * 12).map((_, i) => i + 0.5);
    await a.write(block, [
      [4, 11],
      [15, 27],
    ]);
    const b2 = new Float32Array(7 * 12).map((_, i) => -i);
    await a.write(b2, [
      [6, 13],
      [20, 32],
    ]); // overlaps the first
    const want = new Float32Array(30 * 40).fill(NaN);
    for (let y = 0; y < 7; y++)
      for (let x = 0; x < 12; x++) want[(4 + y) * 40 + 15 + x] = block[y * 12 + x]!;
    for (let y = 0; y < 7; y++)
      for (let x = 0; x < 12; x++) want[(6 + y) * 40 + 20 + x] = b2[y * 12 + x]!;
    const ours = await readZarr(root, "m");
    assert.ok(bytesOf(ours.data).equals(bytesOf(want)));
    const out = path.join(root, "got.bin");
    const meta = JSON.parse(await py(["read", root, "m", out])) as Record<string, unknown>;
    assert.ok(fs.readFileSync(out).equals(bytesOf(want)));
    assert.ok((meta["nchunks_initialized"] as number) < 12, "untouched chunks are not written");
  },
);

for (const comp of ["none", "gzip"] as const) {
  test(`v3 (${comp}): write and read back ourselves, regions, attributes`, async () => {
    const root = fresh();
    const a = await createZarrArray(root, "cells/skycell.1234.056/image", {
      shape: [50, 64],
      chunks: [16, 16],
      dtype: "float32",
      format: 3,
      compressor: comp,
      fillValue: NaN,
      attributes: { BOFFSET: 3 },
    });
    assert.equal(a.format, 3);
    const want = pattern("float32", 50 * 64) as Float32Array;
    await a.write(want);
    await a.setAttributes({ BSOFTEN: 4.5 });
    const b = await openZarrArray(root, "cells/skycell.1234.056/image", { dtype: "float32" });
    assert.equal(b.format, 3);
    assert.deepEqual(b.attributes, { BOFFSET: 3, BSOFTEN: 4.5 });
    assert.ok(Object.is(b.info.fillValue, NaN));
    const { data } = await b.read();
    assert.ok(bytesOf(data).equals(bytesOf(want)));
    const r = await b.read([
      [10, 40],
      [3, 60],
    ]);
    for (let y = 0; y < 30; y++)
      for (let x = 0; x < 57; x++)
        assert.ok(Object.is(r.data[y * 57 + x], want[(y + 10) * 64 + x + 3]));
    const meta = JSON.parse(
      fs.readFileSync(path.join(root, "cells/skycell.1234.056/image/zarr.json"), "utf8"),
    ) as {
      codecs: { name: string }[];
    };
    assert.deepEqual(
      meta.codecs.map((c) => c.name),
      comp === "gzip" ? ["bytes", "gzip"] : ["bytes"],
    );
  });
}

test(
  "v2 encoded in memory (workers compress, the saver writes): zarr-python reads it exactly, edge chunks and overwrites included",
  { skip: noZarr },
  async () => {
    const root = fresh();
    for (const [dtype, fill] of [
      ["float32", NaN],
      ["uint16", 0],
    ] as const) {
      const want = pattern(dtype, 37 * 50);
      // An earlier, larger array at the same path: its extra chunks must not survive.
      await writeEncodedZarr(root, [
        encodeZarrV2(`1847/skycell.1847.003/${dtype}`, pattern(dtype, 64 * 64), [64, 64], {
          chunks: [8, 8],
          compressor: "zlib",
          fillValue: fill,
        }),
      ]);
      const enc = encodeZarrV2(`1847/skycell.1847.003/${dtype}`, want, [37, 50], {
        chunks: [16, 20],
        compressor: "zlib",
        fillValue: fill,
      });
      assert.equal(enc.files.length, 1 + 3 * 3);
      await writeEncodedZarr(root, [enc]);
      const out = path.join(root, "got.bin");
      const meta = JSON.parse(
        await py(["read", root, `1847/skycell.1847.003/${dtype}`, out]),
      ) as Record<string, unknown>;
      assert.deepEqual(meta["shape"], [37, 50]);
      assert.deepEqual(meta["chunks"], [16, 20]);
      assert.deepEqual(meta["compressor"], { id: "zlib", level: 1 });
      assert.ok(fs.readFileSync(out).equals(bytesOf(want)), `${dtype}: bytes differ`);
      const files = fs.readdirSync(path.join(root, "1847/skycell.1847.003", dtype));
      assert.equal(files.length, 1 + 3 * 3, files.join(" "));
    }
    assert.throws(
      () =>
        encodeZarrV2("a", new Float32Array(5), [2, 3], {
          chunks: [2, 2],
          compressor: "none",
          fillValue: 0,
        }),
      ZarrShapeError,
    );
  },
);

test("v3 uint8/int16 round trip, and v2 setAttributes", async () => {
  for (const dtype of ["uint8", "int16"] as const) {
    const root = fresh();
    const a = await createZarrArray(root, "mask", {
      shape: [20, 21],
      chunks: [8, 8],
      dtype,
      format: 3,
    });
    const want = pattern(dtype, 20 * 21);
    await a.write(want);
    const { data } = await readZarr(root, "mask");
    assert.ok(bytesOf(data).equals(bytesOf(want)));
  }
  const root = fresh();
  const a = await createZarrArray(root, "x", { shape: [3], dtype: "int16" });
  await a.setAttributes({ k: { nested: [1, "two"] } });
  const b = await openZarrArray(root, "x");
  assert.deepEqual(b.attributes, { k: { nested: [1, "two"] } });
});

test("typed errors", async () => {
  const root = fresh();
  await assert.rejects(openZarrArray(root, "nothing"), ZarrNotFoundError);
  const a = await createZarrArray(root, "a", { shape: [4, 5], chunks: [2, 2], dtype: "float32" });
  await assert.rejects(openZarrArray(root, "a", { dtype: "uint8" }), ZarrDtypeError);
  await assert.rejects(a.write(new Float64Array(20)), ZarrDtypeError);
  await assert.rejects(a.write(new Float32Array(19)), ZarrShapeError);
  await assert.rejects(
    a.read([
      [0, 5],
      [0, 5],
    ]),
    ZarrShapeError,
  );
  await assert.rejects(a.read([[0, 4]]), ZarrShapeError);
  await assert.rejects(createZarrArray(root, "a", { shape: [1], dtype: "float32" }), ZarrError);
  await assert.rejects(
    createZarrArray(root, "b", { shape: [2, -1], dtype: "float32" }),
    ZarrShapeError,
  );
  await assert.rejects(
    createZarrArray(root, "c", { shape: [4], chunks: [0], dtype: "float32" }),
    ZarrShapeError,
  );
  await assert.rejects(
    createZarrArray(root, "d", { shape: [4], dtype: "complex64" as ZarrDtype }),
    ZarrDtypeError,
  );
  await assert.rejects(
    createZarrArray(root, "e", { shape: [4], dtype: "float32", format: 3, compressor: "zlib" }),
    ZarrError,
  );
  // overwrite replaces
  const b = await createZarrArray(root, "a", { shape: [2], dtype: "uint8", overwrite: true });
  assert.equal(b.dtype, "uint8");
});
