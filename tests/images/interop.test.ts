// Cross-checks with the Python tools the pipeline meets (Debian's /usr/bin/python3): fabio
// reads the fixtures as we do; fabio AND dxtbx read the CBFs we write identically, dxtbx as a
// Pilatus miniCBF with the models the header says; our encoder is byte-identical to dxtbx's.
// Skipped, saying why, when fabio or dxtbx cannot be imported.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  encodeByteOffset,
  readCbfSync,
  writeCbfSync,
  type MiniCbfHeader,
} from "../../src/images/index.js";
import { fixture, tempDir } from "./helpers/fixtures.js";

const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const XCHECK = fileURLToPath(new URL("./helpers/xcheck.py", import.meta.url));

function python<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [XCHECK, ...args],
      { maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`xcheck.py ${args[0]} failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as T);
      },
    );
  });
}

const sha256 = (a: Int32Array) =>
  crypto
    .createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");

let skip: string | undefined;
let dir: string;
let cleanup: () => void;
before(async () => {
  ({ dir, cleanup } = tempDir("interop"));
  try {
    await python(["probe"]);
  } catch (e) {
    skip = `fabio/dxtbx not importable with ${PYTHON}: ${(e as Error).message.split("\n").slice(0, 2).join(" ")}`;
  }
});
after(() => cleanup());

interface FabioRead {
  shape: number[];
  sha256: string;
  pilatus: Record<string, unknown> | null;
}
interface DxtbxRead {
  format: string;
  mro: string[];
  shape: number[];
  sha256: string;
  exposure_time_s: number;
  oscillation_deg: number[];
  epoch_s: number;
  wavelength_a: number;
  distance_mm: number;
  pixel_size_mm: number[];
  image_size: number[];
  trusted_range: number[];
  thickness_mm: number;
  material: string;
  beam_centre_mm: number[];
  fast_axis: number[];
  slow_axis: number[];
  px_mm_strategy: string;
  n_mask_regions: number;
}

const close = (a: number, b: number, tol = 1e-9) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test("fabio reads the CBF fixtures exactly as we do", async (t) => {
  if (skip) return t.skip(skip);
  // x-CBF_NONE is not read by fabio; escape32 uses the spec's 64-bit escape that fabio's
  // (and dxtbx's) 32-bit readers take literally.
  const names = ["deltas", "dxtbx_literal", "uint16", "int64"];
  const files = names.map((n) => fixture(`${n}.cbf`));
  const theirs = await python<Record<string, FabioRead>>(["fabio", ...files]);
  for (const f of files) {
    const ours = readCbfSync(f);
    assert.deepEqual(theirs[f]!.shape, [ours.height, ours.width], f);
    assert.equal(theirs[f]!.sha256, sha256(ours.data), f);
  }
});

/** A Pilatus 2M-shaped still: low counts, module gaps (-1), bad pixels (-2), a few overloads. */
function pilatusLike(width: number, height: number): Int32Array {
  const data = new Int32Array(width * height);
  let seed = 99;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  for (let s = 0; s < height; s++) {
    for (let f = 0; f < width; f++) {
      const i = s * width + f;
      const r = rnd();
      if (f % 494 >= 487 || s % 212 >= 195) data[i] = -1;
      else if (r < 1e-4) data[i] = -2;
      else if (r < 2e-4) data[i] = 1048576 + Math.floor(rnd() * 1e6);
      else data[i] = Math.floor(rnd() * rnd() * 60);
    }
  }
  data.set([2147483647, -1, 5, -2147483648, 0], 100); // deltas of exactly -2^31 included
  return data;
}

const HEADER: Partial<MiniCbfHeader> = {
  detector: "PILATUS 2M, S/N 24-0107",
  timestamp: "2024-05-06T07:08:09.123",
  pixelSizeM: [172e-6, 172e-6],
  sensorMaterial: "Silicon",
  thicknessM: 450e-6,
  exposureTimeS: 0.0995,
  exposurePeriodS: 0.1,
  countCutoff: 1048575,
  wavelengthA: 1.0332,
  detectorDistanceM: 0.25,
  beamXyPx: [731.5, 845.25],
  startAngleDeg: 10,
  angleIncrementDeg: 0.5,
};

test("fabio and dxtbx read our miniCBF identically; dxtbx sees a Pilatus miniCBF", async (t) => {
  if (skip) return t.skip(skip);
  const width = 1475;
  const height = 1679;
  const data = pilatusLike(width, height);
  // dxtbx wants an image number in the name (its scan model is built from a template).
  const pil = path.join(dir, "still_00001.cbf");
  writeCbfSync(pil, { width, height, data }, HEADER);
  const generic = path.join(dir, "sim_00001.cbf");
  const small = Int32Array.from({ length: 100 * 80 }, (_, i) => (i % 97) - 2);
  writeCbfSync(
    generic,
    { width: 100, height: 80, data: small },
    { ...HEADER, detector: undefined },
  );

  const f = await python<Record<string, FabioRead>>(["fabio", pil, generic]);
  assert.equal(f[pil]!.sha256, sha256(data));
  assert.equal(f[generic]!.sha256, sha256(small));
  assert.deepEqual(f[pil]!.pilatus, {
    Detector: "PILATUS 2M S/N 24-0107",
    Pixel_size: [0.000172, 0.000172],
    sensor: ["Silicon", 0.00045],
    Exposure_time: 0.0995,
    Exposure_period: 0.1,
    Count_cutoff: 1048575,
    Wavelength: 1.0332,
    Detector_distance: 0.25,
    Beam_xy: [731.5, 845.25],
    Start_angle: 10,
    Angle_increment: 0.5,
  });

  const d = await python<Record<string, DxtbxRead>>(["dxtbx", pil, generic]);
  const p = d[pil]!;
  assert.equal(p.format, "FormatCBFMiniPilatus");
  assert.deepEqual(p.shape, [height, width]);
  assert.equal(p.sha256, sha256(data));
  close(p.exposure_time_s, 0.1); // dxtbx's scan takes Exposure_period
  assert.deepEqual(p.oscillation_deg, [10, 0.5]);
  close(p.epoch_s, Date.UTC(2024, 4, 6, 7, 8, 9, 123) / 1000, 1e-6);
  close(p.wavelength_a, 1.0332);
  close(p.distance_mm, 250);
  p.pixel_size_mm.forEach((x) => close(x, 0.172));
  assert.deepEqual(p.image_size, [width, height]);
  assert.deepEqual(p.trusted_range, [-1, 1048575]);
  close(p.thickness_mm, 0.45);
  assert.equal(p.material, "Si");
  close(p.beam_centre_mm[0]!, 731.5 * 0.172, 1e-6);
  close(p.beam_centre_mm[1]!, 845.25 * 0.172, 1e-6);
  assert.deepEqual(
    [p.fast_axis, p.slow_axis],
    [
      [1, 0, 0],
      [0, -1, 0],
    ],
  );
  assert.equal(p.px_mm_strategy, "ParallaxCorrectedPxMmStrategy");
  assert.equal(p.n_mask_regions, 2 + 7); // the Pilatus 2M module gaps

  const g = d[generic]!;
  assert.equal(g.format, "FormatCBFMini");
  assert.ok(!g.mro.includes("FormatCBFMiniPilatus"));
  assert.equal(g.sha256, sha256(small));
  assert.deepEqual(g.image_size, [100, 80]);
});

test("our byte_offset encoder is byte-identical to dxtbx's (CBFlib's)", async (t) => {
  if (skip) return t.skip(skip);
  const width = 487;
  const height = 195;
  const data = pilatusLike(width, height);
  for (let i = 0; i < data.length; i += 97) data[i] = (Math.imul(i, 2654435761) | 0) >> (i % 31);
  const raw = path.join(dir, "raw.i32");
  fs.writeFileSync(raw, new Uint8Array(data.buffer));
  const theirs = await python<{ sha256: string; length: number }>([
    "compress",
    raw,
    String(width),
    String(height),
  ]);
  const ours = encodeByteOffset(data);
  assert.equal(ours.length, theirs.length);
  assert.equal(crypto.createHash("sha256").update(ours).digest("hex"), theirs.sha256);
});
