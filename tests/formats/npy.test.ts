// The .npy reader reads what numpy writes (fixtures/make_npy_fixtures.py: every element type,
// C and Fortran order, both byte orders, format versions 1-3) bit for bit; partial reads equal
// the same box cut from a whole read; our writer's files read back in numpy exactly; damaged
// and unsupported files give typed errors.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import {
  encodeNpy,
  NpyDtypeError,
  NpyFormatError,
  NpyRangeError,
  NpyReader,
  NpyTruncatedError,
  parseNpyHeader,
  readNpy,
  writeNpy,
} from "../../src/formats/npy.js";
import type { DType, TypedArrayFor } from "../../src/store/index.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "npy");
const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const hasNumpy = spawnSync(PYTHON, ["-c", "import numpy"]).status === 0;

interface Entry {
  descr: string;
  shape: number[];
  fortran_order: boolean;
  version: [number, number];
  expected: string;
}
const manifest = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, "manifest.json"), "utf8"),
) as Record<string, Entry>;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-npy-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The C-ordered box of a C-ordered array, by plain index arithmetic. */
function cutBox(
  data: Uint8Array,
  shape: number[],
  elem: number,
  start: number[],
  count: number[],
): Buffer {
  const n = count.reduce((a, b) => a * b, 1);
  const out = Buffer.alloc(n * elem);
  const idx = count.map(() => 0);
  for (let i = 0; i < n; i++) {
    let flat = 0;
    for (let a = 0; a < shape.length; a++) flat = flat * shape[a]! + start[a]! + idx[a]!;
    out.set(data.subarray(flat * elem, (flat + 1) * elem), i * elem);
    for (let a = idx.length - 1; a >= 0; a--) {
      if (++idx[a]! < count[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

describe("numpy writes, we read", () => {
  for (const [name, e] of Object.entries(manifest)) {
    test(`${name}: header and every value`, () => {
      const r = NpyReader.open(path.join(FIXTURES, name));
      try {
        assert.equal(r.header.descr, e.descr);
        assert.deepEqual(r.shape, e.shape);
        assert.equal(r.header.fortranOrder, e.fortran_order);
        assert.deepEqual(r.header.version, e.version);
        const { data } = r.read();
        assert.ok(bytesOf(data).equals(Buffer.from(e.expected, "base64")), "values differ");
      } finally {
        r.close();
      }
    });
  }

  test("readBlock equals the box cut from the whole array, for every order and type", () => {
    const boxes: [number[], number[]][] = [
      [
        [1, 0, 2],
        [2, 4, 3],
      ],
      [
        [0, 1, 0],
        [3, 2, 5],
      ],
      [
        [2, 3, 4],
        [1, 1, 1],
      ],
      [
        [0, 0, 0],
        [0, 4, 5],
      ],
    ];
    for (const name of Object.keys(manifest).filter((n) => /^(c16|i2|b1|f4)_/.test(n))) {
      const r = NpyReader.open(path.join(FIXTURES, name));
      const whole = bytesOf(r.read().data);
      const elem = whole.length / r.shape.reduce((a, b) => a * b, 1);
      for (const [start, count] of boxes) {
        const got = bytesOf(r.readBlock(start, count));
        assert.ok(
          got.equals(cutBox(whole, r.shape, elem, start, count)),
          `${name} box ${start}+${count}`,
        );
      }
      r.close();
    }
  });

  test("4-d slabs of the leading axis and detector blocks, C and Fortran", () => {
    for (const name of ["cube_u2_C.npy", "cube_f4_F.npy"]) {
      const r = NpyReader.open(path.join(FIXTURES, name));
      const whole = bytesOf(r.read().data);
      const elem = r.dtype === "uint16" ? 2 : 4;
      const slab = bytesOf(r.readSlab(2, 2));
      assert.ok(slab.equals(cutBox(whole, r.shape, elem, [2, 0, 0, 0], [2, 6, 7, 8])), name);
      const det = bytesOf(r.readBlock([0, 0, 3, 2], [5, 6, 2, 4]));
      assert.ok(det.equals(cutBox(whole, r.shape, elem, [0, 0, 3, 2], [5, 6, 2, 4])), name);
      r.close();
    }
  });

  test("unsupported types, bad files and bad boxes give typed errors", () => {
    assert.throws(() => readNpy(path.join(FIXTURES, "unsupported_f2.npy")), NpyDtypeError);
    assert.throws(() => readNpy(path.join(FIXTURES, "unsupported_struct.npy")), NpyDtypeError);
    assert.throws(() => readNpy(path.join(FIXTURES, "unsupported_str.npy")), NpyDtypeError);
    assert.throws(() => readNpy(path.join(dir, "missing.npy")), /no such file/);

    const garbage = path.join(dir, "garbage.npy");
    fs.writeFileSync(garbage, Buffer.from("this is not numpy data at all, not even close"));
    assert.throws(() => readNpy(garbage), NpyFormatError);

    const src = fs.readFileSync(path.join(FIXTURES, "f8_C_le.npy"));
    const cut = path.join(dir, "truncated.npy");
    fs.writeFileSync(cut, src.subarray(0, src.length - 9));
    assert.throws(() => NpyReader.open(cut), NpyTruncatedError);
    fs.writeFileSync(cut, src.subarray(0, 40)); // inside the header
    assert.throws(() => NpyReader.open(cut), NpyTruncatedError);

    const badHeader = Buffer.from(src);
    badHeader.write("{'descr': '<f8', 'fortran_order': Maybe", 10, "latin1");
    assert.throws(() => parseNpyHeader(badHeader), NpyFormatError);

    const r = NpyReader.open(path.join(FIXTURES, "f8_C_le.npy"));
    assert.throws(() => r.readBlock([0, 0, 3], [3, 4, 3]), NpyRangeError);
    assert.throws(() => r.readBlock([0, 0], [3, 4]), NpyRangeError);
    r.close();
    assert.throws(() => r.read(), /closed/);
  });
});

describe("we write, we and numpy read", () => {
  const cases: { dtype: DType; data: TypedArrayFor[DType] }[] = [
    { dtype: "float32", data: Float32Array.from({ length: 24 }, (_, i) => i / 3 - 2) },
    { dtype: "float64", data: Float64Array.from({ length: 24 }, (_, i) => i * 1e-3 - 1) },
    { dtype: "int16", data: Int16Array.from({ length: 24 }, (_, i) => i * 1000 - 9000) },
    { dtype: "uint64", data: BigUint64Array.from({ length: 24 }, (_, i) => BigInt(i) << 60n) },
    { dtype: "complex128", data: Float64Array.from({ length: 48 }, (_, i) => i - 0.5) },
    { dtype: "bool", data: Uint8Array.from({ length: 24 }, (_, i) => i % 2) },
  ];
  const shape = [2, 3, 4];
  const written: { file: string; dtype: DType; data: TypedArrayFor[DType] }[] = [];

  test("round trip through our reader: orders, byte orders, versions", () => {
    for (const { dtype, data } of cases) {
      for (const order of ["C", "F"] as const) {
        for (const endian of ["<", ">"] as const) {
          for (const version of [1, 2, 3] as const) {
            const file = path.join(
              dir,
              `${dtype}_${order}_${endian === "<" ? "le" : "be"}_v${version}.npy`,
            );
            writeNpy(file, data, shape, { dtype, order, endian, version });
            const back = readNpy(file);
            assert.equal(back.dtype, dtype);
            assert.deepEqual(back.shape, shape);
            assert.ok(bytesOf(back.data).equals(bytesOf(data)), path.basename(file));
            if (version === 1) written.push({ file, dtype, data });
          }
        }
      }
    }
    // Headers are padded to 64 bytes, as numpy does.
    for (const version of [1, 2, 3]) {
      const bytes = encodeNpy(new Float64Array(6), [2, 3], { version: version as 1 | 2 | 3 });
      assert.equal(parseNpyHeader(bytes).dataOffset % 64, 0);
    }
    assert.throws(() => encodeNpy(new Float64Array(5), [2, 3]), NpyRangeError);
    assert.throws(
      () => encodeNpy(new Float32Array(6), [2, 3], { dtype: "float64" }),
      NpyRangeError,
    );
  });

  test("numpy reads our files exactly", { skip: !hasNumpy && "no numpy" }, () => {
    const script = `
import base64, json, sys
import numpy as np
out = {}
for line in sys.stdin:
    f = line.strip()
    if not f: continue
    a = np.load(f)
    c = np.ascontiguousarray(a)
    c = c.astype(c.dtype.newbyteorder("<")) if c.dtype.byteorder == ">" else c
    out[f] = [a.dtype.name, list(a.shape), bool(np.isfortran(a)), base64.b64encode(c.tobytes()).decode()]
print(json.dumps(out))
`;
    const r = spawnSync(PYTHON, ["-c", script], {
      input: written.map((w) => w.file).join("\n"),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<string, [string, number[], boolean, string]>;
    for (const w of written) {
      const [dt, sh, fortran, b64] = seen[w.file]!;
      assert.equal(dt, w.dtype, w.file);
      assert.deepEqual(sh, shape);
      assert.equal(fortran, w.file.includes("_F_"), w.file);
      assert.ok(Buffer.from(b64, "base64").equals(bytesOf(w.data)), w.file);
    }
  });
});
