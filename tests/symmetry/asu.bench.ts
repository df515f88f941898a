/**
 * mapToAsu throughput per Laue class (and cctbx's miller.map_to_asu on the same machine for
 * scale, when /usr/bin/python3 has cctbx).
 *
 *   node --import tsx tests/symmetry/asu.bench.ts     (STAGELAB_BENCH_N rows, default 4e6)
 *
 * Indices: half from [-6, 6] (boundary-heavy), half from [-200, 200]; mapped out of place so
 * every repetition sees the same input; median and best of 7 repetitions.
 */
import { execFileSync } from "node:child_process";
import { LAUE_CLASS_NAMES, laueGroupByName, mapToAsu } from "../../src/symmetry/index.js";
import { xorshift32Indices } from "./helpers.js";

const n = Number(process.env.STAGELAB_BENCH_N ?? 4_000_000);
const reps = 7;
const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

const hkl = xorshift32Indices(0x1234567, n);
const out = new Int32Array(hkl.length);
const rows: string[] = [];
for (const name of LAUE_CLASS_NAMES) {
  const g = laueGroupByName(name);
  mapToAsu(g, hkl, out); // warm-up
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    mapToAsu(g, hkl, out);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const rate = (ms: number) => ((n / ms) * 1e-3).toFixed(1).padStart(7);
  rows.push(
    `${name.padEnd(6)} ${rate(times[reps >> 1]!)} median ${rate(times[0]!)} best  M indices/s`,
  );
}
console.log(`mapToAsu, ${n} indices, ${reps} repetitions:`);
console.log(rows.join("\n"));

// cctbx for scale (C++ map_to_asu via Python; 1e6 indices, one representative group/class).
const script = `
import time, numpy as np
from cctbx import sgtbx, miller
from cctbx.array_family import flex
rng = np.random.default_rng(1)
a = np.concatenate([rng.integers(-6, 7, (500000, 3)), rng.integers(-200, 201, (500000, 3))]).astype(np.int32)
mi0 = flex.miller_index(flex.int(a[:,0].copy()), flex.int(a[:,1].copy()), flex.int(a[:,2].copy()))
for name, n in [("-1",2),("2/m",14),("mmm",19),("4/m",88),("4/mmm",96),("-3",148),("-3m1",166),("-31m",162),("6/m",176),("6/mmm",194),("m-3",206),("m-3m",225)]:
    t = sgtbx.space_group_info(number=n).type()
    best = 1e9
    for _ in range(3):
        mi = mi0.deep_copy(); t0 = time.perf_counter(); miller.map_to_asu(t, False, mi); best = min(best, time.perf_counter() - t0)
    print("%-6s %7.1f M indices/s (cctbx, space group %d)" % (name, 1e-6 * len(mi) / best, n))
`;
try {
  console.log(execFileSync(python, ["-c", script], { encoding: "utf8", timeout: 300_000 }));
} catch (e) {
  console.log(`(cctbx comparison skipped: ${(e as Error).message.split("\n")[0]})`);
}
