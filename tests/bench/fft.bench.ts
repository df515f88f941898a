/**
 * The 4D-STEM bigFT, src/array/fft.ts fft2Leading (2D FFT over the two leading axes of a
 * complex [ny, nx, m] array, in place on split re/im Float64Arrays), against
 * numpy.fft.fft2(a, axes=(0, 1)) and ifft2 (numpy's pocketfft), same machine, same run, same
 * data.
 *
 *   node --import tsx tests/bench/fft.bench.ts        (npm run bench -- tests/bench/fft)
 *
 * Shapes [128, 128, 32 * 32] and [64, 64, 64 * 64] (complex128, 256 MiB each); override with
 * STAGELAB_BENCH_FFT_SHAPES="128x128x1024,64x64x4096". Each operation runs once to warm up
 * (stagelab's result is checked against numpy's at 4096 positions), then REPS times
 * (STAGELAB_BENCH_REPS, default 7), numpy's runs (a Python process kept open) alternating with
 * stagelab's so that both see the same machine load. The table gives medians and numpy time /
 * stagelab time (> 1: stagelab faster). numpy returns a new array, so its time includes
 * allocating it; stagelab transforms in place.
 *
 * stagelab runs twice: with re and im as two separate `new Float64Array(n)`, and as the two
 * halves of one `new Float64Array(2 n)`. The butterflies read and write re[i] and im[i]
 * together, and on some CPUs (AMD Zen here) how far apart the two arrays sit changes the cost
 * of that (numpy's complex128 is interleaved and never sees it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fft2Leading } from "../../src/array/index.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 7);
const shapes = (process.env.STAGELAB_BENCH_FFT_SHAPES ?? "128x128x1024,64x64x4096")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number, number]);
const SAMPLES = 4096;
const OPS = ["fft2", "ifft2"] as const;
const LAYOUTS = ["separate", "one buffer"] as const;

interface NumpyReference {
  samples: Record<string, { re: number[]; im: number[] }>;
  scale: Record<string, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Uniform values in [-0.5, 0.5) from a 32-bit LCG (the data only has to be the same twice). */
function fill(re: Float64Array, im: Float64Array, seed: number): void {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5;
  for (let i = 0; i < re.length; i++) {
    re[i] = next();
    im[i] = next();
  }
}

/** The array as complex128 little-endian, written in slices to bound the extra memory. */
function writeComplex(file: string, re: Float64Array, im: Float64Array): void {
  const fd = fs.openSync(file, "w");
  const chunk = new Float64Array(2 << 20);
  try {
    for (let i0 = 0; i0 < re.length; i0 += chunk.length / 2) {
      const k = Math.min(chunk.length / 2, re.length - i0);
      for (let j = 0; j < k; j++) {
        chunk[2 * j] = re[i0 + j]!;
        chunk[2 * j + 1] = im[i0 + j]!;
      }
      fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, 16 * k));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** fft_bench.py kept running: `run(op)` times one numpy run of op. */
async function startNumpy(file: string, shape: number[]) {
  const child = spawn(
    python,
    [fileURLToPath(new URL("./fft_bench.py", import.meta.url)), file, ...shape.map(String)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`fft_bench.py exited (${child.exitCode ?? child.signalCode})`);
    return r.value;
  };
  const ready = await next();
  if (!ready.startsWith("READY ")) throw new Error(`fft_bench.py: unexpected "${ready}"`);
  return {
    reference: JSON.parse(ready.slice(6)) as NumpyReference,
    run: async (op: string) => {
      child.stdin.write(`${op}\n`);
      return Number(await next());
    },
    stop: () => child.stdin.end(),
  };
}

function checkSamples(
  what: string,
  re: Float64Array,
  im: Float64Array,
  ref: NumpyReference,
  op: string,
) {
  const s = ref.samples[op]!;
  let err = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const j = (i * 65537 + 12345) % re.length;
    err = Math.max(err, Math.hypot(re[j]! - s.re[i]!, im[j]! - s.im[i]!));
  }
  const rel = err / ref.scale[op]!;
  if (!(rel <= 1e-10)) throw new Error(`${what}: differs from numpy by ${rel} (relative)`);
  worstError = Math.max(worstError, rel);
}

let worstError = 0;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-fft-"));
try {
  console.log(
    `FFT benchmark: fft2Leading vs numpy.fft.fft2(a, axes=(0, 1)) on complex128 ` +
      `${shapes.map((s) => `[${s.join(", ")}]`).join(" and ")}, ${reps} reps`,
  );
  // Allocated once for all shapes, so that no garbage collection runs between the timings.
  const maxN = Math.max(...shapes.map(([ny, nx, m]) => ny * nx * m));
  const input = { re: new Float64Array(maxN), im: new Float64Array(maxN) };
  const separate = { re: new Float64Array(maxN), im: new Float64Array(maxN) };
  const oneBuffer = new Float64Array(2 * maxN);
  const rows: string[] = [];
  for (const shape of shapes) {
    const [ny, nx, m] = shape;
    const n = ny * nx * m;
    const re0 = input.re.subarray(0, n);
    const im0 = input.im.subarray(0, n);
    fill(re0, im0, 7 + ny);
    const file = path.join(dir, "input.c128");
    writeComplex(file, re0, im0);
    const numpy = await startNumpy(file, shape);
    fs.rmSync(file);
    const arrays = {
      separate: { re: separate.re.subarray(0, n), im: separate.im.subarray(0, n) },
      "one buffer": { re: oneBuffer.subarray(0, n), im: oneBuffer.subarray(n, 2 * n) },
    };
    const times: Record<string, number[]> = {};
    try {
      for (const op of OPS) {
        const inverse = op === "ifft2";
        for (const layout of LAYOUTS) {
          const { re, im } = arrays[layout];
          re.set(re0);
          im.set(im0);
          fft2Leading(re, im, ny, nx, m, { inverse });
          checkSamples(`${op} ${layout}`, re, im, numpy.reference, op);
        }
        for (let k = 0; k < reps; k++) {
          (times[`${op} numpy`] ??= []).push(await numpy.run(op));
          for (const layout of LAYOUTS) {
            const { re, im } = arrays[layout];
            // In place: later runs transform the previous result, which costs the same.
            const t0 = performance.now();
            fft2Leading(re, im, ny, nx, m, { inverse });
            (times[`${op} ${layout}`] ??= []).push((performance.now() - t0) / 1000);
          }
        }
      }
    } finally {
      numpy.stop();
    }
    for (const op of OPS) {
      const [sep, oneBuf, np] = ["separate", "one buffer", "numpy"].map((w) =>
        median(times[`${op} ${w}`]!),
      ) as [number, number, number];
      const fmt = (s: number) =>
        `${(s * 1000).toFixed(0)} ms (${(1 / s).toFixed(2)} ops/s, ${(n / s / 1e6).toFixed(0)} M values/s)`;
      rows.push(
        `| ${op} [${ny}, ${nx}, ${m}] | ${fmt(sep)} | ${fmt(oneBuf)} | ${fmt(np)} | ` +
          `${(np / sep).toFixed(2)}x | ${(np / oneBuf).toFixed(2)}x |`,
      );
    }
  }
  console.log(
    "\n| operation | stagelab (re, im separate) | stagelab (re, im in one buffer) | numpy | ratio (separate) | ratio (one buffer) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
  console.log(
    `\nlargest difference to numpy at the checked positions: ${worstError.toExponential(1)} of max |result|`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
