// The msgpack codec: every format at its boundaries, zero-copy bins, errors, and byte-for-byte
// agreement with Python's msgpack (the reference implementation DIALS files are checked with).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  decode,
  encode,
  MsgpackError,
  MsgpackExt,
  MsgpackFloat32,
  MsgpackRaw,
  MsgpackReader,
  type Encodable,
  type MsgpackValue,
} from "../../src/formats/msgpack.js";
import { PYTHON } from "./helpers.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (...b: number[]) => new Uint8Array(b);

test("integers use the smallest format and come back exactly", () => {
  const cases: [number | bigint, string][] = [
    [0, "00"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [65535, "cdffff"],
    [65536, "ce00010000"],
    [2 ** 32 - 1, "ceffffffff"],
    [2 ** 32, "cf0000000100000000"],
    [2 ** 53 - 1, "cf001fffffffffffff"],
    [2n ** 64n - 1n, "cfffffffffffffffff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32768, "d18000"],
    [-32769, "d2ffff7fff"],
    [-(2 ** 31), "d280000000"],
    [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
    [-(2 ** 53 - 1), "d3ffe0000000000001"],
    [-(2n ** 63n), "d38000000000000000"],
  ];
  for (const [v, h] of cases) {
    assert.equal(hex(encode(v)), h, `encode ${v}`);
    const back = decode(encode(v));
    // Safe integers decode as numbers, the rest as bigint.
    const want =
      typeof v === "bigint" && v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
    assert.equal(back, want, `decode ${h}`);
  }
  assert.equal(decode(bytes(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0)), 2n ** 53n);
  assert.equal(decode(bytes(0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 0)), -(2n ** 53n));
  assert.equal(decode(bytes(0xd0, 0x80)), -128);
});

test("floats, nil, booleans", () => {
  assert.equal(hex(encode(1.5)), "cb3ff8000000000000");
  assert.equal(hex(encode(new MsgpackFloat32(1.5))), "ca3fc00000");
  assert.ok(Object.is(decode(encode(-0)), -0));
  assert.ok(Number.isNaN(decode(encode(NaN))));
  assert.equal(decode(encode(-Infinity)), -Infinity);
  assert.equal(decode(encode(1e300)), 1e300);
  assert.equal(decode(encode(2 ** 70)), 2 ** 70, "integral but beyond uint64: float64");
  assert.equal(decode(bytes(0xca, 0x3f, 0xc0, 0, 0)), 1.5);
  assert.equal(hex(encode([null, true, false, undefined])), "94c0c3c2c0");
  assert.deepEqual(decode(bytes(0x93, 0xc0, 0xc3, 0xc2)), [null, true, false]);
});

test("strings and bins at every length format; bins are views", () => {
  for (const [n, head] of [
    [0, "a0"],
    [31, "bf"],
    [32, "d920"],
    [255, "d9ff"],
    [256, "da0100"],
    [65536, "db00010000"],
  ] as const) {
    const s = "é".repeat(n / 2) + "x".repeat(n % 2);
    const enc = encode(s);
    assert.equal(hex(enc.subarray(0, head.length / 2)), head, `str ${n}`);
    assert.equal(decode(enc), s);
  }
  for (const [n, head] of [
    [0, "c400"],
    [255, "c4ff"],
    [256, "c50100"],
    [65536, "c600010000"],
  ] as const) {
    const data = new Uint8Array(n).map((_, i) => i);
    const enc = encode(data);
    assert.equal(hex(enc.subarray(0, head.length / 2)), head, `bin ${n}`);
    const back = decode(enc) as Uint8Array;
    assert.deepEqual(back, data);
    assert.equal(back.buffer, enc.buffer, "bin decodes to a view, not a copy");
  }
});

test("arrays, maps (any key type), objects and ext at every length format", () => {
  for (const n of [0, 15, 16, 65535, 65536]) {
    const arr = Array.from({ length: n }, (_, i) => i % 3);
    assert.deepEqual(decode(encode(arr)), arr);
    const map = new Map<MsgpackValue, MsgpackValue>(arr.map((_, i) => [i, `v${i}`]));
    assert.deepEqual(decode(encode(map)), map);
  }
  assert.equal(hex(encode(new Array(16).fill(0))).slice(0, 6), "dc0010");
  assert.equal(hex(encode({ a: 1 })), "81a16101");
  assert.deepEqual(
    decode(encode({ a: [1, { b: "c" }], skip: undefined })),
    new Map<MsgpackValue, MsgpackValue>([["a", [1, new Map([["b", "c"]])]]]),
  );
  assert.deepEqual(
    decode(
      encode(
        new Map<Encodable, Encodable>([
          [-1, "neg"],
          [true, null],
        ]),
      ),
    ),
    new Map<MsgpackValue, MsgpackValue>([
      [-1, "neg"],
      [true, null],
    ]),
  );
  for (const [n, head] of [
    [1, "d405"],
    [2, "d505"],
    [4, "d605"],
    [8, "d705"],
    [16, "d805"],
    [3, "c70305"],
    [256, "c8010005"],
    [65536, "c90001000005"],
  ] as const) {
    const ext = new MsgpackExt(5, new Uint8Array(n).fill(9));
    const enc = encode(ext);
    assert.equal(hex(enc.subarray(0, head.length / 2)), head, `ext ${n}`);
    assert.deepEqual(decode(enc), ext);
  }
  const ts = decode(bytes(0xd6, 0xff, 0, 0, 0, 1)) as MsgpackExt;
  assert.equal(ts.type, -1, "timestamp ext type");
  assert.deepEqual(decode(encode([new MsgpackRaw(encode("pre")), 1])), ["pre", 1]);
});

test("the reader walks values without building them", () => {
  const enc = encode([{ big: new Uint8Array(10000), nested: [[1, 2], { x: "y" }] }, "after"]);
  const r = new MsgpackReader(enc);
  assert.equal(r.readArrayHeader(), 2);
  const start = r.pos;
  r.skip();
  assert.equal(r.readString(), "after");
  assert.equal(r.remaining, 0);
  r.pos = start;
  assert.equal(r.readRaw().length, enc.length - start - 6);
  assert.equal(r.peekKind(), "str");
});

test("malformed input is a MsgpackError with the offset", () => {
  const err = (b: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => decode(b),
      (e: unknown) => e instanceof MsgpackError && pattern.test(e.message),
    );
  err(bytes(), /unexpected end of data: need 1 byte\(s\), 0 left \(at byte 0\)/);
  err(bytes(0xc1), /expected a msgpack value, found invalid \(0xc1\)/);
  err(bytes(0xda, 0x01), /unexpected end of data: need 2 byte\(s\), 1 left \(at byte 1\)/);
  err(bytes(0xc4, 10, 1, 2), /need 10 byte\(s\), 2 left \(at byte 2\)/);
  err(bytes(0xdd, 0xff, 0xff, 0xff, 0xff), /need 4294967295 byte\(s\)/);
  err(bytes(0x01, 0x02), /1 trailing byte\(s\) after the value \(at byte 1\)/);
  assert.equal(decode(bytes(0x01, 0x02), { allowTrailing: true }), 1);
  const r = new MsgpackReader(encode("text"));
  assert.throws(() => r.readBin(), /expected bin, found str \(0xa4\) \(at byte 0\)/);
  assert.throws(
    () => encode(new Float32Array(2) as unknown as Encodable),
    /pass its bytes as a Uint8Array/,
  );
});

test("byte-for-byte the same as Python's msgpack, both ways", (t) => {
  const probe = spawnSync(PYTHON, ["-c", "import msgpack"]);
  if (probe.status !== 0) return t.skip(`${PYTHON} has no msgpack module`);
  const value: Encodable = [
    0,
    1,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53 - 1,
    -1,
    -32,
    -33,
    -128,
    -129,
    -32768,
    -32769,
    -(2 ** 31),
    -(2 ** 31) - 1,
    1.5,
    -0.25,
    1e300,
    "",
    "a",
    "x".repeat(31),
    "x".repeat(32),
    "é".repeat(200),
    "y".repeat(70000),
    new Uint8Array(3),
    new Uint8Array(300),
    null,
    true,
    false,
    [],
    Array(16).fill(1),
    { a: 1, b: [1, 2], c: { d: null } },
  ];
  const ours = encode(value);
  const py = spawnSync(
    PYTHON,
    [
      "-c",
      "import msgpack, sys\n" +
        "data = sys.stdin.buffer.read()\n" +
        "v = msgpack.unpackb(data, raw=False, strict_map_key=False)\n" +
        "sys.stdout.buffer.write(msgpack.packb(v, use_bin_type=True))",
    ],
    { input: ours, maxBuffer: 16 << 20 },
  );
  assert.equal(py.status, 0, py.stderr?.toString());
  // Python decoded ours and re-encoded it to the same bytes: same formats chosen everywhere.
  assert.equal(hex(py.stdout), hex(ours));
  assert.deepEqual(decode(py.stdout), decode(ours));
});
