/**
 * Diffuse extraction + corrections throughput (extractPanel, Modules 2.S.1 + 2.S.2) against a
 * numpy implementation of the same formulas, same machine, same run, same geometry and data.
 *
 *   npm run bench -- tests/bench/diffuse-extract
 *
 * Geometry: a Jungfrau-4M-like detector, 8 modules of 1024 x 512 pixels (4.2 Mpx, 75 um),
 * slightly tilted, Si 0.32 mm, parallax-corrected (STAGELAB_BENCH_PARALLAX=0 for the simple
 * mapping); ~6% of pixels masked (gaps, beamstop shadow, Bragg-like blobs), a few NaN. All
 * corrections on (solid angle, polarization, efficiency, air), constant background, dMaxA = 50.
 *
 * Runs over all panels, REPS rounds (STAGELAB_BENCH_REPS, default 7) after one warm-up round; the
 * runs of both sides alternate within each round (a persistent python process takes commands), so
 * load from elsewhere on the machine hits both alike; medians reported:
 *   stagelab: extractPanel on one thread with fresh output arrays (the default API); the same
 *             with a reused ExtractWorkspace per panel (what a loop over stills does); and two
 *             worker threads splitting the panels (workspaces, inputs in SharedArrayBuffers).
 *   numpy:    the same formulas vectorised per panel (diffuse_extract_bench.py), panels one
 *             after another, and over a 2-thread pool (numpy releases the GIL in its loops).
 * The table gives pixels/s and numpy_time / stagelab_time (> 1: stagelab faster), then the max
 * relative difference between the outputs (numpy vs fresh; workspace and workers vs fresh).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import {
  extractPanel,
  ExtractWorkspace,
  type ExtractPanelOptions,
  type PanelColumns,
} from "../../src/diffuse/extract-panel.js";
import { airMuForOptions, sensorMuForPanel } from "../../src/geometry/corrections.js";
import type { Beam, Panel, Vec3 } from "../../src/geometry/models.js";
import { sensorMuPerMm } from "../../src/geometry/attenuation.js";

const reps = Math.max(5, Number(process.env.STAGELAB_BENCH_REPS ?? 7));
const parallax = process.env.STAGELAB_BENCH_PARALLAX !== "0";
const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

const wavelengthA = 1.3;
const beam: Beam = {
  directionToSource: [0, 0, 1],
  wavelengthA,
  polarizationNormal: [0, 1, 0],
  polarizationFraction: 0.999,
  divergenceRad: 0,
  sigmaDivergenceRad: 0,
  fluxPhotonsPerS: 0,
  transmission: 1,
};

function rotX(v: Vec3, deg: number): Vec3 {
  const c = Math.cos((deg * Math.PI) / 180);
  const s = Math.sin((deg * Math.PI) / 180);
  return [v[0], c * v[1] - s * v[2], s * v[1] + c * v[2]];
}

// 2 columns x 4 rows of 1024 x 512 modules with gaps, 120 mm away, tilted by 0.3-1.2 degrees.
const nFast = 1024;
const nSlow = 512;
const pitch = 0.075;
const panels: Panel[] = [];
for (let m = 0; m < 8; m++) {
  const col = m % 2;
  const row = Math.floor(m / 2);
  const tilt = 0.3 * (m % 4) - 0.45;
  const fast = rotX([1, 0, 0], tilt);
  const slow = rotX([0, -1, 0], tilt);
  const x0 = col === 0 ? -nFast * pitch - 1.1 : 1.1;
  const y0 = (2 - row) * (nSlow * pitch + 1.5) - 0.7;
  panels.push({
    name: `M${m}`,
    type: "SENSOR_PAD",
    fastAxis: fast,
    slowAxis: slow,
    originMm: [x0, y0, -120 + 0.2 * m],
    pixelSizeMm: [pitch, pitch],
    imageSize: [nFast, nSlow],
    trustedRange: [-10, 1e7],
    thicknessMm: 0.32,
    material: "Si",
    muPerMm: sensorMuPerMm("Si", wavelengthA),
    gain: 1,
    pedestal: 0,
    parallaxCorrected: parallax,
    rawImageOffset: [0, 0],
    identifier: "",
  });
}

const options: Omit<ExtractPanelOptions, "panelIndex" | "stillId"> = {
  exposureTimeS: 0.01,
  gain: 1.3,
  pixelStep: 1,
  background: { constant: 2.5, variance: 0.4 },
  corrections: { air: { pressureKPa: 101.325, temperatureK: 295 }, lorentz: "none" },
  dMaxA: 50,
};

// Deterministic data: a diffuse ring pattern plus noise, masks with gaps/beamstop/blobs, few NaN.
let seed = 987654321;
const rand = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
};
const raws: Float64Array[] = [];
const masks: Uint8Array[] = [];
for (const p of panels) {
  const n = nFast * nSlow;
  const raw = new Float64Array(new SharedArrayBuffer(8 * n));
  const mask = new Uint8Array(new SharedArrayBuffer(n)).fill(1);
  for (let j = 0; j < nSlow; j++) {
    for (let i = 0; i < nFast; i++) {
      const k = j * nFast + i;
      const x = p.originMm[0] + (i + 0.5) * pitch;
      const y = p.originMm[1] - (j + 0.5) * pitch;
      const rr = Math.hypot(x, y);
      raw[k] = 20 + 15 * Math.cos(rr * 0.7) + 8 * rand() - 2;
      if (i < 2 || j < 2 || i >= nFast - 2 || j >= nSlow - 2 || i % 256 === 0) mask[k] = 0;
      if (rr < 4) mask[k] = 0;
    }
  }
  for (let b = 0; b < 400; b++) {
    const ci = Math.floor(rand() * nFast);
    const cj = Math.floor(rand() * nSlow);
    for (let dj = -4; dj <= 4; dj++)
      for (let di = -4; di <= 4; di++) {
        const i = ci + di;
        const j = cj + dj;
        if (i >= 0 && j >= 0 && i < nFast && j < nSlow && di * di + dj * dj <= 16)
          mask[j * nFast + i] = 0;
      }
  }
  for (let b = 0; b < 50; b++) raw[Math.floor(rand() * n)] = Number.NaN;
  raws.push(raw);
  masks.push(mask);
}
const totalPixels = panels.length * nFast * nSlow;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-diffuse-bench-"));
try {
  panels.forEach((_, k) => {
    fs.writeFileSync(path.join(dir, `raw_${k}.f64`), new Uint8Array(raws[k]!.buffer.slice(0)));
    fs.writeFileSync(path.join(dir, `mask_${k}.u8`), masks[k]!);
  });
  fs.writeFileSync(
    path.join(dir, "setup.json"),
    JSON.stringify({
      beam,
      panels,
      options,
      muSensor: panels.map((p) => sensorMuForPanel(p, wavelengthA)),
      muAir: airMuForOptions(options.corrections!.air, wavelengthA),
    }),
  );

  console.log(
    `diffuse extraction benchmark: ${panels.length} panels x ${nFast} x ${nSlow} = ` +
      `${(totalPixels / 1e6).toFixed(2)} Mpx, parallax ${parallax ? "on" : "off"}, ${reps} reps, ` +
      `${os.cpus().length} cores`,
  );

  // The numpy side: a persistent process answering one JSON line per command.
  const np = spawn(
    python,
    [fileURLToPath(new URL("./diffuse_extract_bench.py", import.meta.url)), dir],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const npLines = readline.createInterface({ input: np.stdout })[Symbol.asyncIterator]();
  const numpy = async <T>(cmd: string): Promise<T> => {
    np.stdin.write(`${cmd}\n`);
    const next = await npLines.next();
    if (next.done) throw new Error(`numpy side exited (after "${cmd}")`);
    return JSON.parse(next.value) as T;
  };

  // Two workers, panels split alternately (inputs shared, one workspace per panel).
  // A worker's --import hooks are not applied to its entry file: register tsx, then import it.
  const entry = new URL("./diffuse_extract_worker.ts", import.meta.url).href;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const workers = [0, 1].map(
    (w) =>
      new Worker(
        `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
        {
          eval: true,
          workerData: {
            beam,
            options,
            panels: panels
              .map((panel, index) => ({
                index,
                panel,
                raw: raws[index]!.buffer,
                mask: masks[index]!.buffer,
              }))
              .filter((_, index) => index % 2 === w),
          },
        },
      ),
  );
  const ask = <T>(w: Worker, msg: string) =>
    new Promise<T>((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
      w.postMessage(msg);
    });

  const workspaces = panels.map(() => new ExtractWorkspace());
  let last: PanelColumns[] = [];
  let lastWs: PanelColumns[] = [];
  const times: Record<"fresh" | "ws" | "workers" | "np1" | "np2", number[]> = {
    fresh: [],
    ws: [],
    workers: [],
    np1: [],
    np2: [],
  };
  const busy: number[] = [];
  for (let round = 0; round <= reps; round++) {
    const record = round > 0; // round 0 warms up (JIT, first-touch pages) on both sides
    const np1 = await numpy<{ seconds: number }>("run1");
    let t0 = performance.now();
    last = panels.map((p, k) =>
      extractPanel(p, beam, raws[k]!, masks[k]!, { ...options, panelIndex: k, stillId: 0 }),
    );
    const fresh = (performance.now() - t0) / 1000;
    t0 = performance.now();
    lastWs = panels.map((p, k) =>
      extractPanel(p, beam, raws[k]!, masks[k]!, {
        ...options,
        panelIndex: k,
        stillId: 0,
        workspace: workspaces[k]!,
      }),
    );
    const ws = (performance.now() - t0) / 1000;
    const np2 = await numpy<{ seconds: number }>("run2");
    t0 = performance.now();
    const done = await Promise.all(
      workers.map((w) => ask<{ count: number; seconds: number }>(w, "run")),
    );
    const wk = (performance.now() - t0) / 1000;
    if (record) {
      times.np1.push(np1.seconds);
      times.fresh.push(fresh);
      times.ws.push(ws);
      times.np2.push(np2.seconds);
      times.workers.push(wk);
      busy.push(...done.map((d) => d.seconds));
    }
  }
  const workerResults = (
    await Promise.all(
      workers.map((w) =>
        ask<{ index: number; intensity: Float64Array; count: number }[]>(w, "result"),
      ),
    )
  ).flat();
  for (const w of workers) w.postMessage("exit");
  const ref = await numpy<{ numpy: string }>("dump");
  np.stdin.write("quit\n");

  // Same output? Compare concatenated columns.
  const readF64 = (name: string) => {
    const b = fs.readFileSync(path.join(dir, `np_${name}.bin`));
    return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
  };
  const readU32 = (name: string) => {
    const b = fs.readFileSync(path.join(dir, `np_${name}.bin`));
    return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  const concat = (pick: (c: PanelColumns) => Float64Array | Uint32Array) => {
    const parts = last.map(pick);
    const res = new Float64Array(parts.reduce((s, a) => s + a.length, 0));
    let at = 0;
    for (const a of parts) {
      res.set(a, at);
      at += a.length;
    }
    return res;
  };
  const count = last.reduce((s, c) => s + c.count, 0);
  const diffs: string[] = [];
  let sameRows = true;
  for (const [name, pick] of [
    ["fast", (c: PanelColumns) => c.fast],
    ["slow", (c: PanelColumns) => c.slow],
  ] as const) {
    const a = concat(pick);
    const b = readU32(name);
    sameRows &&= a.length === b.length && a.every((v, i) => v === b[i]);
  }
  for (const [name, pick, scaleOf] of [
    ["qLab", (c: PanelColumns) => c.qLab, null],
    ["qLengthPerA", (c: PanelColumns) => c.qLengthPerA, null],
    ["intensity", (c: PanelColumns) => c.intensity, "sigma"],
    ["sigma", (c: PanelColumns) => c.sigma, null],
    ["totalMult", (c: PanelColumns) => c.totalMult, null],
  ] as const) {
    const a = concat(pick);
    const b = readF64(name);
    const sigma = scaleOf ? readF64(scaleOf) : null;
    let worst = a.length === b.length ? 0 : Infinity;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      // q components relative to |q|, intensities relative to max(|I|, sigma).
      const scale =
        name === "qLab"
          ? Math.hypot(b[i - (i % 3)]!, b[i - (i % 3) + 1]!, b[i - (i % 3) + 2]!)
          : Math.max(Math.abs(b[i]!), sigma?.[i] ?? 0);
      worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
    }
    diffs.push(`${name} ${worst.toExponential(1)}`);
  }

  // Workspace and worker runs give the same numbers as the fresh run.
  let sameAcrossRuns = true;
  last.forEach((c, k) => {
    const ws = lastWs[k]!;
    const wk = workerResults.find((r) => r.index === k)!;
    sameAcrossRuns &&=
      ws.count === c.count &&
      wk.count === c.count &&
      c.intensity.every((v, i) => v === ws.intensity[i] && v === wk.intensity[i]) &&
      c.totalMult.every((v, i) => v === ws.totalMult[i]);
  });

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const tNp = median(times.np1);
  const tNp2 = median(times.np2);
  const mpx = (t: number) =>
    `${(totalPixels / t / 1e6).toFixed(1)} Mpx/s (${(t * 1000).toFixed(0)} ms)`;
  const rows: [string, number, string, number][] = [
    ["extractPanel, 1 thread, fresh outputs", median(times.fresh), "1 thread", tNp],
    ["extractPanel, 1 thread, reused ExtractWorkspace", median(times.ws), "1 thread", tNp],
    ["extractPanel, 2 worker threads (workspaces)", median(times.workers), "1 thread", tNp],
    ["extractPanel, 2 worker threads (workspaces)", median(times.workers), "2 threads", tNp2],
  ];
  console.log(`\n${(totalPixels / 1e6).toFixed(2)} Mpx, ${count} pixels kept per run\n`);
  console.log(
    "| stagelab run | stagelab | numpy run | numpy | ratio (numpy time / stagelab time) |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const [name, t, npName, tn] of rows) {
    console.log(`| ${name} | ${mpx(t)} | ${npName} | ${mpx(tn)} | ${(tn / t).toFixed(2)}x |`);
  }
  console.log(
    `\nnumpy ${ref.numpy}; same rows (fast, slow): ${sameRows}; max rel diff numpy vs stagelab: ${diffs.join(", ")}; ` +
      `workspace and worker runs identical to the fresh run: ${sameAcrossRuns}; ` +
      `median time inside a worker per run ${(median(busy) * 1000).toFixed(0)} ms`,
  );
  if (!sameAcrossRuns) process.exitCode = 1;
  if (!sameRows) process.exitCode = 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
