// Writes the demo data that notebooks/ open: `node scripts/demo-data.mjs notebooks/data`.
// Uses the built store (npm run build), so the demo files are exactly what stagelab writes.
import fs from "node:fs";
import path from "node:path";
import { StoreWriter } from "../src/dist/index.js";

const outDir = path.resolve(process.argv[2] ?? "notebooks/data");
fs.mkdirSync(outDir, { recursive: true });
fs.rmSync(path.join(outDir, ".complete"), { force: true });

// A small diffraction-like scan: 64 frames of 128x128 pixels, a ring whose radius breathes
// with the frame index, plus a Bragg-like spot that moves; and a per-frame total intensity.
const file = path.join(outDir, "demo.h5");
const [nFrames, ny, nx] = [64, 128, 128];
const w = await StoreWriter.create(file, {
  overwrite: true,
  provenance: { stage: "demo-data", parameters: { nFrames, ny, nx } },
});
const frames = w.createDataset("/scan/frames", {
  dtype: "float32",
  shape: [0, ny, nx],
  chunks: [8, ny, nx],
  compression: { gzip: 1 },
  attrs: { units: "counts", axes: ["frame", "y_px", "x_px"] },
});
const total = w.createDataset("/scan/total_counts", { dtype: "float64", shape: [0], chunks: [64] });
const field = w.createDataset("/scan/exit_wave", {
  dtype: "complex64",
  shape: [ny, nx],
  maxshape: [ny, nx],
  chunks: [ny, nx],
  attrs: { description: "complex exit wave: amplitude a Gaussian, phase a quadratic (defocus)" },
});
w.setAttrs("/scan", { sample: "demo crystal", wavelength_A: 1.0332, detector_distance_mm: 150.0 });

const wave = new Float32Array(ny * nx * 2);
for (let y = 0; y < ny; y++)
  for (let x = 0; x < nx; x++) {
    const r2 = ((y - ny / 2) ** 2 + (x - nx / 2) ** 2) / (ny * nx);
    const amp = Math.exp(-r2 * 8);
    const phase = 20 * r2;
    wave[2 * (y * nx + x)] = amp * Math.cos(phase);
    wave[2 * (y * nx + x) + 1] = amp * Math.sin(phase);
  }
field.write([0, 0], [ny, nx], wave);

let seed = 1;
const noise = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
for (let f = 0; f < nFrames; f++) {
  const img = new Float32Array(ny * nx);
  const ringR = 30 + 8 * Math.sin((2 * Math.PI * f) / nFrames);
  const [sy, sx] = [ny / 2 + 35 * Math.sin(f / 10), nx / 2 + 35 * Math.cos(f / 10)];
  let sum = 0;
  for (let y = 0; y < ny; y++)
    for (let x = 0; x < nx; x++) {
      const r = Math.hypot(y - ny / 2, x - nx / 2);
      const v =
        5 +
        100 * Math.exp(-((r - ringR) ** 2) / 8) +
        400 * Math.exp(-((y - sy) ** 2 + (x - sx) ** 2) / 6) +
        3 * noise();
      img[y * nx + x] = v;
      sum += v;
    }
  frames.append(img);
  total.append(new Float64Array([sum]));
}
w.close();
fs.writeFileSync(path.join(outDir, ".complete"), new Date().toISOString() + "\n");
console.log(`[stagelab] demo data: wrote ${path.relative(process.cwd(), file)}`);
