/**
 * A synthetic diffraction scan with known content, written frame by frame through the store:
 * the demo data of `npm start`, the teaching workshop's first stage, and a test fixture.
 *
 * Frame f (ny x nx, counts) is a ring whose radius breathes with f plus a Bragg-like spot
 * moving on a circle plus a flat background and deterministic noise; `/scan/total_counts`
 * holds each frame's sum. The stage reports progress, stops at an AbortSignal with every
 * written frame committed, and resumes where it stopped when called again on the same file.
 */
import { inspectSameRun, StoreWriter, type JsonValue } from "../store/index.js";

export interface SyntheticScanOptions {
  frames?: number;
  ny?: number;
  nx?: number;
  /** Pause between frames (ms): makes a file that readers can watch grow. */
  frameDelayMs?: number;
  /** Commit every this many frames (default 1). */
  commitEvery?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SyntheticScanResult {
  file: string;
  framesWritten: number;
  /** Frames already in the file when the stage started (a resumed run). */
  resumedFrom: number;
  complete: boolean;
}

const STAGE = "synth.scan";

/** The value of pixel (y, x) of frame f: the known truth the stage writes (before noise). */
export function scanPixel(
  f: number,
  y: number,
  x: number,
  frames: number,
  ny: number,
  nx: number,
): number {
  const r = Math.hypot(y - ny / 2, x - nx / 2);
  const ringR = (Math.min(ny, nx) / 4) * (1 + 0.25 * Math.sin((2 * Math.PI * f) / frames));
  const sy = ny / 2 + (ny / 4) * Math.sin(f / 10);
  const sx = nx / 2 + (nx / 4) * Math.cos(f / 10);
  return (
    5 +
    100 * Math.exp(-((r - ringR) ** 2) / 8) +
    400 * Math.exp(-((y - sy) ** 2 + (x - sx) ** 2) / 6)
  );
}

/** Deterministic noise in [0, 3) for pixel i of frame f (so resumed runs write the same data). */
function noise(f: number, i: number): number {
  let h = (Math.imul(f + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  return (((h ^ (h >>> 15)) >>> 8) / (1 << 24)) * 3;
}

export async function writeSyntheticScan(
  file: string,
  opts: SyntheticScanOptions = {},
): Promise<SyntheticScanResult> {
  const frames = opts.frames ?? 64;
  const ny = opts.ny ?? 128;
  const nx = opts.nx ?? 128;
  const parameters: JsonValue = { frames, ny, nx };
  const provenance = { stage: STAGE, parameters };

  let w: StoreWriter;
  let start = 0;
  if (await inspectSameRun(file, STAGE, parameters, (r) => r.state === "writing")) {
    w = await StoreWriter.open(file, { provenance });
    start = w.dataset("/scan/frames").length;
  } else {
    w = await StoreWriter.create(file, { overwrite: true, provenance });
    w.createDataset("/scan/frames", {
      dtype: "float32",
      shape: [0, ny, nx],
      chunks: [Math.max(1, Math.min(8, Math.floor((1 << 20) / (ny * nx * 4)))), ny, nx],
      compression: { gzip: 1 },
      attrs: { units: "counts", axes: ["frame", "y_px", "x_px"] },
    });
    w.createDataset("/scan/total_counts", {
      dtype: "float64",
      shape: [0],
      chunks: [256],
      attrs: { units: "counts" },
    });
    w.setAttrs("/scan", {
      sample: "synthetic crystal",
      wavelength_A: 1.0332,
      detector_distance_mm: 150.0,
    });
    w.commit();
  }
  const framesDs = w.dataset<"float32">("/scan/frames");
  const totals = w.dataset<"float64">("/scan/total_counts");
  const commitEvery = Math.max(1, opts.commitEvery ?? 1);
  let f = start;
  try {
    for (; f < frames; f++) {
      if (opts.signal?.aborted) break;
      const img = new Float32Array(ny * nx);
      let sum = 0;
      for (let y = 0, i = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++, i++) {
          const v = scanPixel(f, y, x, frames, ny, nx) + noise(f, i);
          img[i] = v;
          sum += Math.fround(v);
        }
      }
      framesDs.append(img);
      totals.append(new Float64Array([sum]));
      if ((f + 1 - start) % commitEvery === 0) w.commit();
      opts.onProgress?.(f + 1, frames);
      if (opts.frameDelayMs) await new Promise((r) => setTimeout(r, opts.frameDelayMs));
    }
  } catch (e) {
    w.commit();
    w.abandon();
    throw e;
  }
  const complete = f >= frames;
  if (complete) w.close();
  else {
    // Interrupted: everything written is committed; the file stays "writing" so a later
    // call resumes here.
    w.commit();
    w.abandon();
  }
  return { file, framesWritten: f - start, resumedFrom: start, complete };
}
