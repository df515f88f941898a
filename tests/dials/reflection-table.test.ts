// Reflection tables: the TS parse of a DIALS-written .refl against DIALS's own column values
// (table.expected.json, from make_fixtures.py), round trips, typed getters and typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import {
  DialsColumnError,
  DialsFormatError,
  parseReflectionTable,
  readReflectionTable,
  ReflectionTable,
  selectExperiment,
  serializeReflectionTable,
  writeReflectionTable,
  type Column,
} from "../../src/dials/index.js";
import { MsgpackWriter } from "../../src/formats/msgpack.js";
import { assertTableMatchesDials, fixture, readJson, tmpDir } from "./helpers.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- expectation JSON is untyped */
const expected = readJson("table.expected.json") as any;

/** Every decoded column equals DIALS's values exactly (doubles are bit patterns in the file). */
const checkAgainstDials = (t: ReflectionTable, exp: any = expected) =>
  assertTableMatchesDials(t, exp);

test("table.refl parses to DIALS's column values, every column type", async () => {
  const t = await readReflectionTable(fixture("table.refl"));
  checkAgainstDials(t);
  // Spot checks through the typed getters.
  assert.deepEqual([...t.millerIndices().subarray(3, 6)], [-4, 5, -6]);
  assert.deepEqual([...t.bbox().subarray(0, 6)], [0, 3, 0, 2, 0, 2]);
  assert.equal(t.vec3("xyzobs.px.value")[3], 2.5);
  assert.equal(t.doubles("partiality")[6], 3e300);
  assert.equal(t.sizes("flags")[5], 2 ** 53 - 1);
  assert.equal(t.sizes("flags")[3], 2 ** 40);
  assert.deepEqual([...t.bools("entering")], [1, 0, 1, 1, 0, 0, 1]);
  assert.deepEqual([...t.ints("id")], [0, 0, 1, 2, 1, -1, 2]);
  assert.deepEqual(t.strings("tag"), ["a", "", "spot-2", "fifteen_chars_x", "é", "x y", "7"]);
  assert.equal(t.mat3("orientation")[9], 1);
  assert.equal(t.vec2("xyzobs.mm.variance_2d")[3], 0.5);
  const sb = t.shoeboxes();
  assert.equal(sb[1]!.data, undefined, "row 1 was saved without pixels");
  assert.deepEqual(sb[2]!.bbox, [2, 4, 8, 12, 2, 3]);
  assert.equal(sb[2]!.data!.length, 2 * 4 * 1, "nx * ny * nz values");
});

test("size_t values beyond 2^53 are kept raw, with a typed error on access, and round-trip", () => {
  const bytes = fs.readFileSync(fixture("table.refl"));
  const t = parseReflectionTable(bytes);
  const huge = t.column("huge");
  assert.equal(huge.type, "raw");
  assert.match(t.warnings.join("\n"), /'huge': values beyond 2\^53/);
  assert.throws(
    () => t.sizes("huge"),
    (e: unknown) =>
      e instanceof DialsColumnError &&
      e.column === "huge" &&
      e.expected === "std::size_t" &&
      /column 'huge': is std::size_t kept undecoded \(values beyond 2\^53/.test(e.message),
  );
  const back = parseReflectionTable(serializeReflectionTable(t, { stringColumns: "libstdc++" }));
  assert.deepEqual(back.column("huge"), huge);
  // The raw bytes are DIALS's [n, bin]: the first value is 2^63.
  const raw = (huge as { raw: Uint8Array }).raw;
  const bin = raw.subarray(raw.length - 7 * 8);
  assert.equal(new DataView(bin.buffer, bin.byteOffset).getBigUint64(0, true), 2n ** 63n);
});

test("write -> read round trip in TS, views or copies, aligned or not", async () => {
  const { dir, done } = tmpDir();
  try {
    const t = await readReflectionTable(fixture("table.refl"));
    const file = path.join(dir, "out.refl");
    await writeReflectionTable(file, t, { stringColumns: "libstdc++" });
    const back = await readReflectionTable(file);
    checkAgainstDials(back);
    // Unaligned input (payloads at odd offsets) and copy: same values.
    const bytes = fs.readFileSync(file);
    const odd = new Uint8Array(bytes.length + 1).subarray(1);
    odd.set(bytes);
    checkAgainstDials(parseReflectionTable(odd));
    const copied = parseReflectionTable(odd, { copy: true });
    checkAgainstDials(copied);
    for (const col of copied.columns.values()) {
      if (col.type !== "raw" && ArrayBuffer.isView(col.data)) {
        assert.notEqual(col.data.buffer, odd.buffer, "copy: true shares no memory with the input");
      }
    }
    // Gzipped tables are read too.
    fs.writeFileSync(path.join(dir, "out.refl.gz"), zlib.gzipSync(bytes));
    checkAgainstDials(await readReflectionTable(path.join(dir, "out.refl.gz")));
  } finally {
    done();
  }
});

test("the empty table: DIALS's bytes exactly", () => {
  const bytes = fs.readFileSync(fixture("empty.refl"));
  const t = parseReflectionTable(bytes);
  assert.equal(t.nrows, 0);
  assert.equal(t.columns.size, 0);
  assert.deepEqual(Buffer.from(serializeReflectionTable(t)), bytes);
});

test("std::string columns: refused by default, dropped or written on request", () => {
  const t = parseReflectionTable(fs.readFileSync(fixture("table.refl")));
  assert.throws(
    () => serializeReflectionTable(t),
    (e: unknown) =>
      e instanceof DialsFormatError &&
      /column 'tag': std::string columns cannot be written/.test(e.message),
  );
  assert.equal(
    parseReflectionTable(serializeReflectionTable(t, { stringColumns: "drop" })).has("tag"),
    false,
  );
  t.setColumn("tag", { type: "std::string", data: Array(7).fill("sixteen_bytes_xx") });
  assert.throws(
    () => serializeReflectionTable(t, { stringColumns: "libstdc++" }),
    /row 0: 'sixteen_bytes_xx' is 16 bytes; only strings up to 15 bytes/,
  );
});

test("long strings in a DIALS file are kept raw with the reason", () => {
  // Forge DIALS's layout for a 20-byte heap string: pointer, length 20, garbage.
  const w = new MsgpackWriter();
  const rec = new Uint8Array(32);
  new DataView(rec.buffer).setUint32(8, 20, true);
  writeTable(w, 1, [["name", "std::string", 1, rec]]);
  const t = parseReflectionTable(w.finish(), { file: "long.refl" });
  assert.equal(t.column("name").type, "raw");
  assert.throws(
    () => t.strings("name"),
    /long\.refl: column 'name': is std::string kept undecoded \(row 0 holds a 20-byte string/,
  );
});

test("unknown column types are kept raw and written back unchanged", () => {
  const w = new MsgpackWriter();
  // Columns in DIALS's order (sorted by name), as the writer emits them.
  writeTable(w, 2, [
    ["future", "vec4<float>", 2, new Uint8Array(32).fill(7)],
    ["x", "double", 2, new Uint8Array(new Float64Array([1.5, -2]).buffer)],
  ]);
  const bytes = w.finish();
  const t = parseReflectionTable(bytes);
  const future = t.column("future");
  assert.equal(future.type, "raw");
  assert.equal(future.type === "raw" && future.typeName, "vec4<float>");
  assert.equal(future.type === "raw" && future.rows, undefined);
  assert.deepEqual([...t.doubles("x")], [1.5, -2]);
  assert.deepEqual(serializeReflectionTable(t), bytes);
  assert.match(t.warnings[0]!, /unknown column type 'vec4<float>'/);
});

test("typed getters name the column and both types", () => {
  const t = parseReflectionTable(fs.readFileSync(fixture("table.refl")), { file: "t.refl" });
  assert.throws(
    () => t.doubles("bbox"),
    (e: unknown) => {
      assert.ok(e instanceof DialsColumnError);
      assert.equal(e.message, "t.refl: column 'bbox': is int6, not double");
      assert.equal(e.actual, "int6");
      assert.equal(e.expected, "double");
      return true;
    },
  );
  assert.throws(
    () => t.vec3("nope"),
    /t\.refl: column 'nope': no such column, expected vec3<double> \(columns: bbox, entering/,
  );
  assert.throws(
    () => t.setColumn("short", { type: "double", data: new Float64Array(3) }),
    /column 'short': has 3 rows, the table has 7/,
  );
  assert.throws(
    () => t.setColumn("odd", { type: "vec3<double>", data: new Float64Array(8) }),
    /8 values is not a whole number of vec3<double> rows/,
  );
});

test("selectExperiment, take and filter", () => {
  const t = parseReflectionTable(fs.readFileSync(fixture("table.refl")));
  const e1 = selectExperiment(t, 1);
  assert.equal(e1.nrows, 2);
  assert.deepEqual([...e1.ints("id")], [1, 1]);
  assert.deepEqual([...e1.millerIndices()], [0, 0, 0, 7, 8, 9]);
  assert.deepEqual([...e1.identifiers], [[1, "exp-1-c3d4"]]);
  assert.deepEqual(e1.strings("tag"), ["spot-2", "é"]);
  assert.deepEqual(
    e1.shoeboxes().map((s) => s.panel),
    [2, 0],
  );
  assert.equal(e1.has("huge"), false, "raw columns cannot be selected");
  assert.match(e1.warnings.join(), /'huge'.*dropped/);
  const byName = selectExperiment(t, "exp-2-e5f6");
  assert.deepEqual([...byName.vec3("xyzobs.px.value").subarray(0, 3)], [4.5, 6.75, 0.1 * 3 + 0.05]);
  assert.throws(
    () => selectExperiment(t, "nope"),
    /no experiment with identifier 'nope' \(identifiers: exp-0-a1b2, exp-1-c3d4, exp-2-e5f6\)/,
  );
  const taken = t.take([6, 0]);
  assert.deepEqual([...taken.doubles("partiality")], [3e300, 1]);
  const filtered = t.filter([...t.bools("entering")]);
  assert.equal(filtered.nrows, 4);
  assert.throws(() => t.take([7]), /row 7 out of range/);
  // Plain table data (no class) works with the helpers and the writer.
  const plain = {
    nrows: 2,
    identifiers: new Map([[0, "a"]]),
    columns: new Map<string, Column>([["id", { type: "int", data: new Int32Array([0, 1]) }]]),
  };
  assert.equal(selectExperiment(plain, "a").nrows, 1);
  assert.deepEqual([...parseReflectionTable(serializeReflectionTable(plain)).ints("id")], [0, 1]);
});

test("bad and truncated files are typed errors with clear messages", () => {
  const good = fs.readFileSync(fixture("table.refl"));
  const expectError = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => parseReflectionTable(bytes, { file: "bad.refl" }),
      (e: unknown) => {
        assert.ok(e instanceof DialsFormatError, `not a DialsFormatError: ${e}`);
        assert.match(e.message, pattern);
        assert.equal(e.file, "bad.refl");
        return true;
      },
    );
  // Every truncation point gives a typed error, never a RangeError or a silent short table.
  for (let cut = 0; cut < good.length; cut += 7) expectError(good.subarray(0, cut), /bad\.refl: /);
  expectError(
    good.subarray(0, good.length - 100),
    /file ends inside column 'xyzobs\.px\.value': truncated\?/,
  );
  expectError(new Uint8Array(0), /empty file/);
  expectError(
    zlib.gzipSync(good).subarray(0, 100),
    /gzip-compressed, but the compressed data is damaged/,
  );
  expectError(new TextEncoder().encode('{"__id__": "ExperimentList"}'), /looks like JSON/);
  expectError(new Uint8Array([0x80, 0x04, 0x95, 0, 0]), /a Python pickle/);
  expectError(new Uint8Array([0xc1]), /not a msgpack DIALS reflection table/);
  const other = new MsgpackWriter();
  other.value(["dials::af::shoebox_table", 1, {}]);
  expectError(other.finish(), /wrong magic "dials::af::shoebox_table"/);
  const v2 = new MsgpackWriter();
  v2.value(["dials::af::reflection_table", 2, {}]);
  expectError(v2.finish(), /unsupported version 2 \(this reader knows version 1\)/);
  const noRows = new MsgpackWriter();
  noRows.value(["dials::af::reflection_table", 1, { data: {} }]);
  expectError(noRows.finish(), /header has no 'nrows'/);

  const short = new MsgpackWriter();
  writeTable(short, 7, [["xyzobs.px.value", "vec3<double>", 7, new Uint8Array(100)]]);
  expectError(
    short.finish(),
    /column 'xyzobs\.px\.value': truncated vec3<double> data \(expected 7\*24 = 168 bytes, got 100\)/,
  );
  const rowsWrong = new MsgpackWriter();
  writeTable(rowsWrong, 7, [["id", "int", 6, new Uint8Array(24)]]);
  expectError(rowsWrong.finish(), /column 'id': has 6 rows, the table has 7/);
  const boxes = new MsgpackWriter();
  writeTable(boxes, 1, [["shoebox", "Shoebox<>", 1, new Uint8Array(20)]]);
  expectError(
    boxes.finish(),
    /column 'shoebox': truncated Shoebox<> data: row 0 needs 29 bytes of header/,
  );
});

test("a million rows decode straight into typed arrays", () => {
  const n = 1_000_000;
  const xyz = new Float64Array(3 * n).map((_, i) => i * 0.25);
  const hkl = new Int32Array(3 * n).map((_, i) => (i % 201) - 100);
  const flags = new Float64Array(n).map((_, i) => (i % 3) * 2 ** 40);
  const partiality = new Float64Array(n).map((_, i) => i / n);
  const t = new ReflectionTable(n, [
    ["xyzobs.px.value", { type: "vec3<double>", data: xyz }],
    ["miller_index", { type: "cctbx::miller::index<>", data: hkl }],
    ["flags", { type: "std::size_t", data: flags }],
    ["partiality", { type: "double", data: partiality }],
    ["entering", { type: "bool", data: new Uint8Array(n).fill(1) }],
  ]);
  const bytes = serializeReflectionTable(t);
  const back = parseReflectionTable(bytes);
  assert.deepEqual(back.vec3("xyzobs.px.value"), xyz);
  assert.deepEqual(back.millerIndices(), hkl);
  assert.deepEqual(back.sizes("flags"), flags);
  assert.deepEqual(back.doubles("partiality"), partiality);
});

/** A reflection table with hand-made column payloads (for malformed-input tests). */
function writeTable(
  w: MsgpackWriter,
  nrows: number,
  cols: [string, string, number, Uint8Array][],
): void {
  w.arrayHeader(3);
  w.string("dials::af::reflection_table");
  w.int(1);
  w.mapHeader(3);
  w.string("identifiers");
  w.mapHeader(0);
  w.string("nrows");
  w.int(nrows);
  w.string("data");
  w.mapHeader(cols.length);
  for (const [name, type, n, bin] of cols) {
    w.string(name);
    w.arrayHeader(2);
    w.string(type);
    w.arrayHeader(2);
    w.int(n);
    w.bin(bin);
  }
}
