// CBF / miniCBF: fixtures written by fabio and dxtbx decode to their saved pixels, the Pilatus
// header becomes typed fields, our encoder round-trips, writes are atomic, and every kind of
// broken file is an ImageFormatError naming the file and the problem.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  decodeByteOffset,
  encodeByteOffset,
  byteOffsetSize,
  encodeCbf,
  formatMiniCbfLines,
  isPilatusLayout,
  parseCbf,
  parseCbfHeader,
  parseMiniCbfHeader,
  readCbf,
  readCbfSync,
  writeCbf,
  writeCbfSync,
  ImageFormatError,
  ImageNotFoundError,
  type MiniCbfHeader,
} from "../../src/images/index.js";
import { expectedI32, firstDifference, fixture, tempDir } from "./helpers/fixtures.js";

describe("reading fixtures", () => {
  const cases: [string, number, number, string, string][] = [
    ["deltas", 40, 30, "signed 32-bit integer", "byte_offset"],
    ["dxtbx_literal", 9, 4, "signed 32-bit integer", "byte_offset"],
    ["escape32", 4, 2, "signed 32-bit integer", "byte_offset"],
    ["int64", 6, 4, "signed 64-bit integer", "byte_offset"],
    ["uint16", 17, 13, "unsigned 16-bit integer", "byte_offset"],
    ["none", 7, 5, "signed 32-bit integer", "none"],
  ];
  for (const [name, width, height, elementType, compression] of cases) {
    test(`${name}.cbf decodes to the saved pixels`, async () => {
      const img = await readCbf(fixture(`${name}.cbf`), { verifyMd5: true });
      assert.equal(img.width, width);
      assert.equal(img.height, height);
      assert.equal(img.elementType, elementType);
      assert.equal(img.compression, compression);
      assert.equal(firstDifference(img.data, expectedI32(`${name}.i32`)), -1);
    });
  }

  test("masked (-1, -2) and extreme values survive", () => {
    const img = readCbfSync(fixture("deltas.cbf"));
    const at = (slow: number, fast: number) => img.data[slow * img.width + fast];
    assert.equal(at(0, 17), -1);
    assert.equal(at(5, 3), -2);
    assert.ok(img.data.includes(2147483647) && img.data.includes(-2147483648));
  });

  test("the Pilatus header becomes typed fields in the units their names say", () => {
    const h = readCbfSync(fixture("deltas.cbf")).header;
    assert.equal(h.headerConvention, "PILATUS_1.2");
    assert.equal(h.detector, "PILATUS 2M, S/N 24-0107");
    assert.equal(h.timestamp, "2020-03-05T10:41:22.123");
    assert.deepEqual(h.pixelSizeM, [172e-6, 172e-6]);
    assert.equal(h.sensorMaterial, "Silicon");
    assert.equal(h.thicknessM, 0.00045);
    assert.equal(h.exposureTimeS, 0.097);
    assert.equal(h.exposurePeriodS, 0.1);
    assert.ok(Math.abs(h.tauS! - 383.8e-9) < 1e-18);
    assert.equal(h.countCutoff, 1048575);
    assert.equal(h.thresholdEv, 6344);
    assert.equal(h.gainSetting, "autog (vrf = 1.000)");
    assert.equal(h.nExcludedPixels, 1021);
    assert.equal(h.wavelengthA, 1.0332);
    assert.deepEqual(h.energyRangeEv, [0, 0]);
    assert.equal(h.detectorDistanceM, 0.2); // written as "200.00 mm"
    assert.deepEqual(h.beamXyPx, [20.5, 14.25]);
    assert.equal(h.startAngleDeg, 12.5);
    assert.equal(h.angleIncrementDeg, 0.1);
    assert.equal(h.polarization, 0.99);
    assert.equal(h.oscillationAxis, "X, CW");
    assert.equal(h.nOscillations, 1);
    assert.equal(h.raw["Image_path"], "/ramdisk/");
    assert.equal(readCbfSync(fixture("none.cbf")).header.exposureTimeS, 0.0025); // "2.5 ms"
  });

  test("header only: dimensions and MIME fields without decoding", () => {
    const { binary, header } = parseCbfHeader(fs.readFileSync(fixture("deltas.cbf")));
    assert.equal(binary.width, 40);
    assert.equal(binary.height, 30);
    assert.equal(binary.binarySizeBytes, 1338);
    assert.equal(binary.md5, "Ev6MA65EfzxeJwSiu60Fhw==");
    assert.equal(header.wavelengthA, 1.0332);
  });
});

describe("byte_offset codec", () => {
  test("round-trips every delta width, wrapping at 32 bits like CBFlib", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
    const n = 200_000;
    const data = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rnd();
      data[i] =
        r < 0.5
          ? Math.floor(rnd() * 40) - 2
          : r < 0.8
            ? Math.floor(rnd() * 60000) - 30000
            : r < 0.95
              ? Math.floor(rnd() * 4e6)
              : (rnd() * 4294967296) | 0;
    }
    data.set([2147483647, -2147483648, 2147483647, -1, 0, -2147483648, -1, -2], 1000);
    const enc = encodeByteOffset(data);
    assert.equal(enc.length, byteOffsetSize(data));
    const out = new Int32Array(n);
    const r = decodeByteOffset(enc, out);
    assert.deepEqual([r.decoded, r.consumed], [n, enc.length]);
    assert.equal(firstDifference(out, data), -1);
  });

  test("widths: 1, 3 and 7 bytes, with the CBFlib edges", () => {
    const size = (xs: number[]) => encodeByteOffset(xs).length;
    assert.equal(size([127, 0, -127]), 3);
    assert.equal(size([128]), 3);
    assert.equal(size([-128]), 3);
    assert.equal(size([32767]), 3);
    assert.equal(size([-32767]), 3);
    assert.equal(size([32768]), 7);
    assert.equal(size([-32768]), 7);
    assert.equal(size([2147483647, -2147483648]), 8); // +2^31-1 then a wrapped +1
    // 2^31-1 -> -1 is the delta -2^31: written as the 4-byte 0x80000000 itself, as CBFlib does.
    assert.deepEqual(
      [...encodeByteOffset([2147483647, -1])],
      [0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80],
    );
  });

  test("0x80000000: a literal delta by default, the 64-bit escape on request", () => {
    const lit = Uint8Array.from([0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0x05]);
    const a = new Int32Array(2);
    assert.deepEqual(decodeByteOffset(lit, a), { decoded: 2, consumed: 8, ambiguous: 1 });
    assert.deepEqual([...a], [-2147483648, -2147483643]);
    const esc = Uint8Array.from([
      0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0xfb, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff,
      0x05,
    ]); // delta -(2^32 + 5), then +5
    const b = new Int32Array(2);
    assert.deepEqual(decodeByteOffset(esc, b, true), { decoded: 2, consumed: 16, ambiguous: 1 });
    assert.deepEqual([...b], [-5, 0]);
  });

  test("a short stream reports how far it got", () => {
    const enc = encodeByteOffset([1, 2, 40000, 3]);
    const out = new Int32Array(4);
    assert.deepEqual(decodeByteOffset(enc.subarray(0, 5), out), {
      decoded: 2,
      consumed: 2,
      ambiguous: 0,
    });
  });
});

describe("writing", () => {
  const full: Partial<MiniCbfHeader> = {
    detector: "PILATUS 2M, S/N 24-0107",
    timestamp: "2024-05-06T07:08:09.123",
    pixelSizeM: [172e-6, 172e-6],
    sensorMaterial: "Silicon",
    thicknessM: 450e-6,
    exposureTimeS: 0.0970001,
    exposurePeriodS: 0.1,
    tauS: 383.8e-9,
    countCutoff: 1048575,
    thresholdEv: 6344,
    gainSetting: "autog (vrf = 1.000)",
    nExcludedPixels: 3,
    excludedPixels: "badpix_mask.tif",
    flatField: "(nil)",
    trimFile: "(nil)",
    imagePath: "/ramdisk/",
    wavelengthA: 0.97625,
    energyRangeEv: [0, 0],
    detectorDistanceM: 0.1234567,
    detectorVoffsetM: 0,
    beamXyPx: [243.25, 97.5],
    fluxPhotonsPerS: 1.5e12,
    filterTransmission: 0.25,
    startAngleDeg: -12.5,
    angleIncrementDeg: 0.05,
    detector2ThetaDeg: 0,
    polarization: 0.99,
    alphaDeg: 0,
    kappaDeg: 1,
    phiDeg: 2,
    phiIncrementDeg: 0.05,
    chiDeg: 3,
    chiIncrementDeg: 0,
    omegaDeg: 4,
    omegaIncrementDeg: 0,
    oscillationAxis: "X, CW",
    nOscillations: 1,
    raw: { Beamline: "I24 test line" },
  };

  test("every header field round-trips exactly", () => {
    const text = ["_array_data.header_convention PILATUS_1.2", ...formatMiniCbfLines(full)].join(
      "\n",
    );
    const back = parseMiniCbfHeader(text);
    for (const [k, v] of Object.entries(full)) {
      if (k === "raw") continue;
      assert.deepEqual(back[k as keyof MiniCbfHeader], v, k);
    }
    assert.equal(back.raw["Beamline"], "I24 test line");
  });

  test("encodeCbf -> parseCbf round-trips pixels and header (Pilatus-shaped)", () => {
    const width = 487;
    const height = 195;
    assert.ok(isPilatusLayout(width, height));
    const data = new Int32Array(width * height).map((_, i) => ((i * 7919) % 3001) - 2);
    data[5] = 2147483647;
    data[6] = -1;
    const bytes = encodeCbf({ width, height, data }, full);
    const img = parseCbf(bytes, { verifyMd5: true });
    assert.equal(firstDifference(img.data, data), -1);
    assert.equal(img.header.headerConvention, "PILATUS_1.2");
    assert.equal(img.header.wavelengthA, 0.97625);
    assert.equal(img.header.detectorDistanceM, 0.1234567);
    assert.equal(img.header.raw["Beamline"], "I24 test line");
  });

  test("defaults: PILATUS only for Pilatus module layouts, GENERIC_MINI otherwise", () => {
    const img = (w: number, h: number) => ({ width: w, height: h, data: new Int32Array(w * h) });
    const pil = parseCbf(encodeCbf(img(1475, 1679), { exposureTimeS: 0.1 })).header;
    assert.equal(pil.headerConvention, "PILATUS_1.2");
    assert.match(pil.detector!, /^PILATUS/);
    assert.equal(pil.exposurePeriodS, 0.1);
    assert.equal(pil.countCutoff, 1048575);
    assert.equal(pil.startAngleDeg, 0);
    assert.match(pil.timestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    const gen = parseCbf(encodeCbf(img(100, 80))).header;
    assert.equal(gen.headerConvention, "GENERIC_MINI");
    assert.match(gen.detector!, /^GENERIC/);
    assert.throws(
      () => encodeCbf(img(100, 80), { detector: "PILATUS 6M" }),
      /whole Pilatus modules/,
    );
    assert.throws(() => encodeCbf({ width: 3, height: 3, data: new Int32Array(8) }), /needs 9/);
  });

  test("writeCbf replaces the file atomically and leaves no temp files", async () => {
    const { dir, cleanup } = tempDir("write");
    try {
      const file = path.join(dir, "still_00001.cbf");
      const image = { width: 40, height: 30, data: expectedI32("deltas.i32") };
      writeCbfSync(file, { ...image, data: new Int32Array(1200).fill(9) });
      // A reader holding the old file keeps seeing it whole: the new one is renamed over it.
      const fd = fs.openSync(file, "r");
      try {
        const before = fs.fstatSync(fd).size;
        await writeCbf(file, image, { exposureTimeS: 0.5 });
        assert.equal(fs.fstatSync(fd).size, before);
        const old = Buffer.alloc(before);
        fs.readSync(fd, old, 0, before, 0);
        assert.ok(parseCbf(old).data.every((v) => v === 9));
      } finally {
        fs.closeSync(fd);
      }
      const back = readCbfSync(file);
      assert.equal(firstDifference(back.data, image.data), -1);
      assert.equal(back.header.exposureTimeS, 0.5);
      assert.deepEqual(fs.readdirSync(dir), ["still_00001.cbf"]);
      await assert.rejects(writeCbf(path.join(dir, "no/such/dir.cbf"), image), { code: "ENOENT" });
      assert.throws(() => writeCbfSync(path.join(dir, "no/such/dir.cbf"), image), {
        code: "ENOENT",
      });
      assert.deepEqual(fs.readdirSync(dir), ["still_00001.cbf"]);
    } finally {
      cleanup();
    }
  });
});

describe("bad input is an ImageFormatError naming the file and the problem", () => {
  const good = fs.readFileSync(fixture("deltas.cbf"));
  const file = "bad.cbf";
  const tag = good.indexOf(Buffer.from([0x0c, 0x1a, 0x04, 0xd5]));
  const edit = (from: string, to: string) =>
    Buffer.from(good.toString("latin1").replace(from, to), "latin1");
  const rejects = (bytes: Uint8Array, re: RegExp, opts = {}) =>
    assert.throws(
      () => parseCbf(bytes, { file, ...opts }),
      (e: unknown) =>
        e instanceof ImageFormatError &&
        e.file === file &&
        e.message.startsWith(`${file}: `) &&
        re.test(e.message),
    );

  test("truncated binary section", () => {
    rejects(
      good.subarray(0, tag + 4 + 100),
      /truncated binary section: X-Binary-Size says 1338 but 100 bytes follow/,
    );
    rejects(good.subarray(0, tag - 20), /no start-of-data marker/);
    rejects(good.subarray(0, 300), /no binary section/);
  });

  test("unsupported compression, element type, byte order, encoding", () => {
    rejects(
      edit("x-CBF_BYTE_OFFSET", "x-CBF_PACKED"),
      /compression "x-CBF_PACKED" is not supported/,
    );
    rejects(
      edit("signed 32-bit integer", "signed 32-bit real IEEE"),
      /Element-Type "signed 32-bit real ieee" is not supported/,
    );
    rejects(edit("LITTLE_ENDIAN", "BIG_ENDIAN"), /BIG_ENDIAN is not supported/);
    rejects(
      edit("Transfer-Encoding: BINARY", "Transfer-Encoding: BASE64"),
      /BASE64 is not supported/,
    );
  });

  test("sizes that disagree", () => {
    rejects(
      edit("Number-of-Elements: 1200", "Number-of-Elements: 1201"),
      /X-Binary-Number-of-Elements says 1201 but 40 x 30 = 1200/,
    );
    rejects(
      edit("X-Binary-Size: 1338", "X-Binary-Size: 1339"),
      /X-Binary-Size says 1339 bytes but the 1200 pixels took 1338/,
    );
    rejects(
      edit("X-Binary-Size: 1338", "X-Binary-Size: 1337"),
      /the 1337 bytes X-Binary-Size gives hold 1199 of the 40 x 30 = 1200 pixels/,
    );
    const noSize = edit("X-Binary-Size: 1338\r\n", "");
    const at = noSize.indexOf(Buffer.from([0x0c, 0x1a, 0x04, 0xd5]));
    rejects(
      noSize.subarray(0, at + 4 + 500),
      /truncated binary section: the 500 bytes after the start tag hold \d+ of the 40 x 30 = 1200 pixels/,
    );
    rejects(
      edit("Fastest-Dimension: 40", "Fastest-Dimension: x"),
      /X-Binary-Size-Fastest-Dimension: "x" is not a non-negative integer/,
    );
  });

  test("checksum mismatch (with verifyMd5)", () => {
    const bad = Buffer.from(good);
    bad[tag + 10] = bad[tag + 10]! ^ 1;
    rejects(bad, /Content-MD5 mismatch/, { verifyMd5: true });
  });

  test("values outside int32 in unsigned 32-bit or 64-bit images", () => {
    const big = encodeCbf({ width: 2, height: 1, data: Int32Array.from([5, -7]) });
    rejects(
      Buffer.from(
        Buffer.from(big)
          .toString("latin1")
          .replace('"signed 32-bit integer"', '"unsigned 32-bit integer"'),
        "latin1",
      ),
      /pixel 1 is 4294967289, outside the int32 range/,
    );
  });

  test("not a CBF, and a missing file", () => {
    rejects(Buffer.from("hello world"), /not a CBF file/);
    assert.throws(() => readCbfSync("/no/such/file.cbf"), ImageNotFoundError);
    return assert.rejects(readCbf("/no/such/file.cbf"), ImageNotFoundError);
  });
});
