/**
 * CBF byte_offset speed against fabio (and dxtbx), same machine, same run, same file.
 *
 *   node --import tsx tests/bench/cbf.bench.ts        (STAGELAB_BENCH_REPS, default 21)
 *
 * The image is Pilatus 2M-shaped (1475 x 1679 = 2.48 Mpx) and looks like a real still:
 * a diffuse ring and falloff of low counts, Bragg spots, module gaps (-1), bad pixels (-2)
 * and a few overloads. Operations: decode of the compressed bytes alone, read of the whole
 * file (parse + decode), encode. Medians; ratio = their time / our time (>1: we are faster).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  decodeByteOffset,
  encodeByteOffset,
  parseCbfHeader,
  readCbfSync,
  writeCbfSync,
} from "../../src/images/index.js";

const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 21);
const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const width = 1475;
const height = 1679;
const n = width * height;

function pilatusStill(): Int32Array {
  const data = new Int32Array(n);
  let seed = 2024;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  // Poisson by inversion: exact enough for the small means of a diffuse still.
  const poisson = (mean: number) => {
    let k = 0;
    let p = Math.exp(-mean);
    let s = p;
    const u = rnd();
    while (u > s && k < 1000) {
      p *= mean / ++k;
      s += p;
    }
    return k;
  };
  const spots = Array.from({ length: 400 }, () => [
    rnd() * width,
    rnd() * height,
    50 + rnd() * 5e4,
  ]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (x % 494 >= 487 || y % 212 >= 195) {
        data[i] = -1; // module gaps
        continue;
      }
      const r = Math.hypot(x - 731.5, y - 845.25);
      const ring = 30 * Math.exp(-(((r - 420) / 60) ** 2));
      data[i] = poisson(1.5 + 40 / (1 + r / 80) + ring);
    }
  }
  for (const [sx, sy, peak] of spots) {
    for (let dy = -3; dy <= 3; dy++) {
      for (let dx = -3; dx <= 3; dx++) {
        const x = Math.round(sx! + dx);
        const y = Math.round(sy! + dy);
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const i = y * width + x;
        if (data[i]! >= 0) data[i]! += Math.round(peak! * Math.exp(-(dx * dx + dy * dy) / 2));
      }
    }
  }
  for (let k = 0; k < 200; k++) data[Math.floor(rnd() * n)] = -2; // bad pixels
  for (let k = 0; k < 20; k++) data[Math.floor(rnd() * n)] = 1048576 + Math.floor(rnd() * 1e5); // overloads
  return data;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-cbf-"));
try {
  const image = pilatusStill();
  const file = path.join(dir, "still_00001.cbf");
  writeCbfSync(file, { width, height, data: image }, { exposureTimeS: 0.1, wavelengthA: 1 });
  const raw = path.join(dir, "still.i32");
  fs.writeFileSync(raw, new Uint8Array(image.buffer));
  const bytes = fs.readFileSync(file);
  const { binary } = parseCbfHeader(bytes);
  const packed = bytes.subarray(binary.dataOffset, binary.dataOffset + binary.binarySizeBytes!);
  console.log(
    `CBF benchmark: ${width} x ${height} (${(n / 1e6).toFixed(2)} Mpx) Pilatus-like still, ` +
      `${(packed.length / 1e6).toFixed(2)} MB compressed (${((8 * packed.length) / n).toFixed(2)} bits/px), ${reps} reps`,
  );

  const ours: Record<string, number[]> = {};
  const timed = (name: string, fn: () => unknown, check?: (r: unknown) => boolean) => {
    for (let k = 0; k < 10; k++) fn(); // warm up: V8 reaches its top tier after a few calls
    for (let k = 0; k < reps; k++) {
      const t0 = performance.now();
      const r = fn();
      (ours[name] ??= []).push((performance.now() - t0) / 1000);
      if (check && k === 0 && !check(r)) throw new Error(`${name}: wrong result`);
    }
  };
  const same = (a: Int32Array) => a.length === n && a.every((v, i) => v === image[i]);
  const out = new Int32Array(n);
  timed(
    "decode",
    () => (decodeByteOffset(packed, out), out),
    (r) => same(r as Int32Array),
  );
  timed(
    "read file",
    () => readCbfSync(file).data,
    (r) => same(r as Int32Array),
  );
  timed("encode", () => encodeByteOffset(image));

  const theirs = JSON.parse(
    execFileSync(
      python,
      [
        fileURLToPath(new URL("./cbf_bench.py", import.meta.url)),
        file,
        raw,
        String(width),
        String(height),
        String(reps),
      ],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    )
      .trim()
      .split("\n")
      .at(-1)!,
  ) as Record<string, number[]>;

  const median = (xs: number[] | undefined) =>
    xs && xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN;
  const fmt = (s: number) =>
    Number.isNaN(s) ? "-" : `${(s * 1000).toFixed(2)} ms (${(n / s / 1e6).toFixed(0)} Mpx/s)`;
  console.log(
    "\n| operation | stagelab | fabio | ratio (fabio / stagelab) | dxtbx | ratio (dxtbx / stagelab) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const op of Object.keys(ours)) {
    const o = median(ours[op]);
    const f = median(theirs[`${op} fabio`]);
    const d = median(theirs[`${op} dxtbx`]);
    const ratio = (x: number) => (Number.isNaN(x) ? "-" : `${(x / o).toFixed(2)}x`);
    console.log(`| ${op} | ${fmt(o)} | ${fmt(f)} | ${ratio(f)} | ${fmt(d)} | ${ratio(d)} |`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
