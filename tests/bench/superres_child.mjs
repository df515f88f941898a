// The stagelab side of tests/bench/superres.bench.ts, run by plain node on the compiled
// package (what the kernel runs: no TypeScript loader in the process or its workers).
//   node superres_child.mjs throughput <file> <reps>   -> {"step2": [s...], "fft": [s...], ...}
//   node superres_child.mjs memory <file> <budget>     -> {"maxRssBytes": ..., ...}
import fs from "node:fs";
import { superres } from "@stagelab/core";

const [mode, file, arg] = process.argv.slice(2);

if (mode === "throughput") {
  const out = { step2: [], fft: [], bounds: null, blocks: 0, mode: "", chunks: null };
  for (let r = 0; r < Number(arg); r++) {
    const s = await superres.SuperResSession.open(file, { fresh: true });
    const { bounds } = await s.detect();
    let t = performance.now();
    const two = await s.computeBigFT();
    out.step2.push((performance.now() - t) / 1000);
    const [cy, cx] = [bounds.y1 - bounds.y0, bounds.x1 - bounds.x0];
    const [sy, sx] = s.datacube.scanShape;
    const crop = s.datacube.readDetectorBlock(bounds.y0, bounds.x0, cy, cx);
    // As numpy: a new complex (interleaved) result from a float64 input it may not overwrite;
    // the copy the band transform works on is made outside the clock, as numpy's input exists.
    const work = crop.slice();
    t = performance.now();
    superres.bigFTOfBand(work, sy, sx, 1, cy * cx, undefined, { overwrite: true });
    out.fft.push((performance.now() - t) / 1000);
    out.chunks = (await superres.readCacheSnapshot(s.cache)).meta.chunks;
    Object.assign(out, { bounds, blocks: two.blocksTotal, mode: two.mode });
    fs.rmSync(s.cache);
    s.close();
  }
  console.log(JSON.stringify(out));
} else if (mode === "memory") {
  const t0 = performance.now();
  const s = await superres.SuperResSession.open(file, {
    memoryBudgetBytes: Number(arg),
    fresh: true,
  });
  const times = {};
  const rss = {};
  const timed = async (name, fn) => {
    const t = performance.now();
    const r = await fn();
    times[name] = (performance.now() - t) / 1000;
    rss[name] = process.resourceUsage().maxRSS * 1024;
    return r;
  };
  await timed("step 1", () => s.detect());
  const two = await timed("step 2", () => s.computeBigFT());
  await timed("step 3", () => s.correlate());
  await timed("step 4", () => s.findShifts());
  const cacheBytes = fs.statSync(s.cache).size;
  s.close();
  console.log(
    JSON.stringify({
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      rss,
      mode: two.mode,
      blocks: two.blocksTotal,
      cacheBytes,
      times,
      seconds: (performance.now() - t0) / 1000,
    }),
  );
} else {
  throw new Error(`unknown mode ${mode}`);
}
