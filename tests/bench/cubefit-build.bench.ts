/**
 * CubeFit HyperCube build throughput (models per second; a model is one (s, c, p) spectrum of
 * L pixels) against numpy on the same file, same machine, same run:
 *
 *   node --import tsx tests/bench/cubefit-build.bench.ts     (npm run bench -- tests/bench/cubefit)
 *
 * The problem is syntheticIfu with S=48 spaxels, C=4 components, P=48 populations (6 x 8),
 * T=4000 template pixels, L=1500 observed pixels, V=61 velocity bins (9216 models, 55 MiB of
 * float32); override with STAGELAB_BENCH_CUBEFIT="S,C,nZ,nAge,T,L". It is populated and
 * rebinned once; then each variant runs REPS times (STAGELAB_BENCH_REPS, default 5), numpy's
 * runs (cubefit_build_bench.py kept open) alternating with stagelab's so both see the same load:
 *
 *   numpy dense        rfft/irfft convolution per spaxel for all (c, p), dense R_T product (BLAS)
 *   numpy sparse       the same with scipy.sparse R_T
 *   numpy + h5py       dense, then written with h5py, chunks as stagelab's default: end to end
 *   stagelab compute   ops.ts TileComputer on one thread, no file
 *   stagelab build     buildHyperCube end to end: worker threads (os.availableParallelism()),
 *                      tiles written and stamped through the store; default chunks, and an
 *                      S_chunk that does not divide S (the store rewrites the partial last
 *                      chunk row around each write: see defaultModelChunks)
 *
 * The stagelab build is checked against numpy's models once (max relative difference).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { syntheticIfu } from "../../src/synth/ifu.js";
import {
  buildHyperCube,
  defaultModelChunks,
  ensureRebinAndResample,
  populateCubeFile,
  RebinColumns,
  rebinOperator,
  TileComputer,
} from "../../src/cubefit/index.js";

const python = process.env["STAGELAB_SYSTEM_PYTHON"] ?? "/usr/bin/python3";
const reps = Number(process.env["STAGELAB_BENCH_REPS"] ?? 5);
const [S, C, nZ, nAge, T, L] = (process.env["STAGELAB_BENCH_CUBEFIT"] ?? "48,4,6,8,4000,1500")
  .split(",")
  .map(Number) as [number, number, number, number, number, number];
const P = nZ * nAge;
const models = S * C * P;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startNumpy(file: string) {
  const child = spawn(
    python,
    [fileURLToPath(new URL("./cubefit_build_bench.py", import.meta.url)), file],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done)
      throw new Error(`cubefit_build_bench.py exited (${child.exitCode ?? child.signalCode})`);
    return r.value;
  };
  if ((await next()) !== "READY") throw new Error("cubefit_build_bench.py: no READY");
  return {
    run: async (cmd: string) => {
      child.stdin.write(`${cmd}\n`);
      return Number(await next());
    },
    stop: () => child.stdin.end(),
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-cubefit-"));
try {
  const workers = os.availableParallelism();
  console.log(
    `CubeFit HyperCube build: S=${S} C=${C} P=${P} (${nZ}x${nAge}) T=${T} L=${L}, ${models} models ` +
      `(${((models * L * 4) / 2 ** 20).toFixed(0)} MiB float32), ${reps} reps, ${workers} worker threads, ` +
      `OPENBLAS_NUM_THREADS=${process.env["OPENBLAS_NUM_THREADS"] ?? "unset"}`,
  );
  let t0 = performance.now();
  const ifu = syntheticIfu({
    spaxels: S,
    components: C,
    metallicities: nZ,
    ages: nAge,
    templatePixels: T,
    observedPixels: L,
    velocityBins: 61,
    velocityStepKms: 20,
  });
  const base = path.join(dir, "base.h5");
  await populateCubeFile(base, ifu.inputs);
  await ensureRebinAndResample(base);
  console.log(`problem generated and written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const dims = { nSpat: S, nLSpec: L, nTSpec: T, nVel: 61, nComp: C, nPop: P };
  const chunks = defaultModelChunks(dims);
  // A second tiling whose S_chunk does not divide S: the store's dataset writer then re-reads
  // and rewrites the partial last S-chunk row around every tile write (see defaultModelChunks).
  let ragged = chunks[0] + 1;
  while (ragged < S && S % ragged === 0) ragged++;
  const variants: [string, { sChunk: number; pChunk: number }][] = [
    [
      `stagelab build, chunks [${chunks.slice(0, 3).join(", ")}, L]`,
      { sChunk: chunks[0], pChunk: chunks[2] },
    ],
  ];
  if (ragged < S)
    variants.push([
      `stagelab build, chunks [${ragged}, ${chunks[1]}, ${chunks[2]}, L] (S_chunk does not divide S)`,
      { sChunk: ragged, pChunk: chunks[2] },
    ]);

  // The in-process computer, exactly what the build's workers run.
  const tplPT = new Float32Array(P * T);
  for (let t = 0; t < T; t++)
    for (let p = 0; p < P; p++) tplPT[p * T + t] = ifu.inputs.templates.data[t * P + p]!;
  const tem = Float64Array.from(ifu.inputs.temPix);
  const computer = new TileComputer({
    T,
    L,
    P,
    V: 61,
    templates: tplPT,
    rebin: RebinColumns.fromOperator(
      rebinOperator(tem, Float64Array.from(ifu.inputs.obsPix)),
    ).toData(),
    dlogTem: (tem[T - 1]! - tem[0]!) / (T - 1),
    velPix: Float64Array.from(ifu.inputs.velPix),
  });
  const computeAll = () => {
    for (let s = 0; s < S; s++)
      computer.compute(
        { s0: s, s1: s + 1, c0: 0, c1: C, p0: 0, p1: P },
        ifu.inputs.losvd.data.subarray(s * 61 * C, (s + 1) * 61 * C),
      );
  };

  const numpy = await startNumpy(base);
  const times: Record<string, number[]> = {};
  const add = (k: string, s: number) => (times[k] ??= []).push(s);
  let checked = NaN;
  try {
    for (let k = 0; k < reps; k++) {
      add("numpy dense", await numpy.run("dense"));
      add("numpy sparse", await numpy.run("sparse"));
      const h5 = path.join(dir, `numpy-${k}.h5`);
      add("numpy + h5py", await numpy.run(`h5py ${h5} ${chunks[0]} ${chunks[1]} ${chunks[2]}`));
      fs.rmSync(h5);
      t0 = performance.now();
      computeAll();
      add("stagelab compute, 1 thread", (performance.now() - t0) / 1000);
      for (const [name, opts] of variants) {
        const file = path.join(dir, `build-${k}.h5`);
        fs.copyFileSync(base, file);
        t0 = performance.now();
        const r = await buildHyperCube(file, { ...opts, workers });
        add(name, (performance.now() - t0) / 1000);
        if (!r.complete) throw new Error("build incomplete");
        if (k === 0 && name === variants[0]![0]) {
          await numpy.run("dense");
          checked = Number(await numpy.run(`check ${file}`));
          if (!(checked < 1e-6)) throw new Error(`stagelab models differ from numpy by ${checked}`);
        }
        fs.rmSync(file);
      }
    }
  } finally {
    numpy.stop();
  }
  const ref = median(times["numpy dense"]!);
  console.log("\n| variant | median time | models/s | numpy dense time / this |");
  console.log("| --- | --- | --- | --- |");
  for (const [k, v] of Object.entries(times)) {
    const m = median(v);
    console.log(
      `| ${k} | ${m.toFixed(2)} s | ${(models / m).toFixed(0)} | ${(ref / m).toFixed(2)}x |`,
    );
  }
  console.log(
    `\nstagelab's build vs numpy's dense models: max |difference| ${checked.toExponential(1)} of max |model| (float32 storage)`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
