// Writes the demo data that notebooks/ open: `node .ci/demo-data.mjs notebooks/data`.
// Uses the built store (npm run build), so the demo files are exactly what stagelab writes.
import fs from "node:fs";
import path from "node:path";
import { StoreWriter, writeSyntheticScan } from "../src/dist/index.js";

const outDir = path.resolve(process.argv[2] ?? "notebooks/data");
fs.mkdirSync(outDir, { recursive: true });
fs.rmSync(path.join(outDir, ".complete"), { force: true });

// A diffraction-like scan: 64 frames of 128x128 counts, and per-frame totals.
const demo = path.join(outDir, "demo.h5");
await writeSyntheticScan(demo, { frames: 64, ny: 128, nx: 128 });

// A complex exit wave (amplitude a Gaussian, phase a quadratic), to show complex data.
const [ny, nx] = [128, 128];
const w = await StoreWriter.open(demo, { provenance: { stage: "demo-data" } });
w.createDataset("/wave/exit_wave", {
  dtype: "complex64",
  shape: [ny, nx],
  maxshape: [ny, nx],
  chunks: [ny, nx],
  attrs: { description: "amplitude a Gaussian, phase a quadratic (defocus)" },
});
const wave = new Float32Array(ny * nx * 2);
for (let y = 0; y < ny; y++)
  for (let x = 0; x < nx; x++) {
    const r2 = ((y - ny / 2) ** 2 + (x - nx / 2) ** 2) / (ny * nx);
    wave[2 * (y * nx + x)] = Math.exp(-r2 * 8) * Math.cos(20 * r2);
    wave[2 * (y * nx + x) + 1] = Math.exp(-r2 * 8) * Math.sin(20 * r2);
  }
w.dataset("/wave/exit_wave").write([0, 0], [ny, nx], wave);
w.close();

fs.writeFileSync(path.join(outDir, ".complete"), new Date().toISOString() + "\n");
console.log(`[stagelab] demo data: wrote ${path.relative(process.cwd(), demo)}`);
