// The stagelab side of tests/bench/skycell-pipeline.bench.ts: one runSkycellPipeline run, by
// plain node on the compiled package (what the kernel and the command-line tool run: no
// TypeScript loader in the process or its worker threads).
//
//   node skycell_pipeline_child.mjs '<json: runSkycellPipeline options>'
//
// Prints one JSON line: the run's report figures, the process's peak resident set
// (process.resourceUsage().maxRSS: main thread, worker threads and native heaps), the CPU
// seconds of the run (whole process, and per thread: the main thread, each worker thread by
// its module, the rest = libuv's file-system pool and V8's helper threads), the main thread's
// time by phase (from the progress events) and the run's MasterArrayConfig.
//
// Per-thread CPU: each worker thread's kernel task id is found by starting its Worker between
// two listings of /proc/self/task (the thread starts inside the constructor), and its
// utime + stime is read from /proc/self/task/<tid>/stat just before the pool terminates it.
import fs from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux
const opts = JSON.parse(process.argv[2]);

const taskIds = () => new Set(fs.readdirSync("/proc/self/task").map(Number));
/** utime + stime of one thread, seconds (NaN once it has ended). */
function threadCpu(tid) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Worker threads started during the run: module, task ids, CPU seconds at termination. */
const threads = [];
/** Update a worker's CPU seconds (kept from the last reading if its thread has ended). */
function sample(rec) {
  const v = rec.tids.reduce((s, t) => s + threadCpu(t), 0);
  if (Number.isFinite(v)) rec.cpu = v;
}
const require = createRequire(import.meta.url);
const workerThreads = require("node:worker_threads");
const BaseWorker = workerThreads.Worker;
workerThreads.Worker = class TrackedWorker extends BaseWorker {
  constructor(file, options) {
    const before = taskIds();
    super(file, options);
    const tids = [...taskIds()].filter((t) => !before.has(t));
    const role = /(worker|saver)-thread/.exec(String(file))?.[1] ?? "other";
    const rec = { role, tids, cpu: NaN };
    threads.push(rec);
    const terminate = this.terminate.bind(this);
    this.terminate = () => {
      sample(rec);
      return terminate();
    };
  }
};
syncBuiltinESMExports();

const { skycell } = await import("@stagelab/core");

// The MasterArrayConfig of this run (the plan the pipeline makes; outside the clock).
const cells = await skycell.loadCellList(opts.cellList ?? skycell.findCellCsv(opts.dataRoot, opts));
const store = opts.inputStore ?? `${opts.dataRoot}/${skycell.DEFAULT_PS1_STORE_NAME}`;
const infos = new Map();
for (const p of new Set(cells.map((c) => c.projection)))
  infos.set(p, await skycell.readProjectionInfo(store, p));
const config = skycell.resolveConfig(opts, {
  bandWeights: skycell.DEFAULT_TESS_BAND_WEIGHTS,
  badMaskBits: skycell.PS1_DEFAULT_BAD_MASK,
});
const plan = skycell.planRun(cells, infos, config, new Set());

// Main-thread time by phase, from the progress events: "gather" (waiting for and placing a
// row's pieces), "convolve" (the convolution, the cells' extraction, and waiting for the
// previous row's saves), "start" (planning, thread start-up, before the first row) and "drain"
// (after the last row's convolution: its saves and the flush).
const phases = { start: 0, gather: 0, convolve: 0, drain: 0 };
let phase = "start";
let since = 0;
const rssBefore = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const main0 = threadCpu(process.pid);
const t0 = performance.now();
const report = await skycell.runSkycellPipeline({
  ...opts,
  onProgress: (p) => {
    threads.forEach(sample);
    if (p.phase === "saved") return;
    const now = (performance.now() - t0) / 1000;
    phases[phase] += now - since;
    phase = p.phase;
    since = now;
  },
});
const wall = (performance.now() - t0) / 1000;
phases[phase === "convolve" ? "drain" : phase] += wall - since;
const cpu = process.cpuUsage(cpu0);
const cpuTotal = (cpu.user + cpu.system) / 1e6;
const cpuMain = threadCpu(process.pid) - main0;
const byRole = {};
for (const t of threads) byRole[t.role] = (byRole[t.role] ?? 0) + t.cpu;
const known = cpuMain + Object.values(byRole).reduce((a, b) => a + b, 0);

console.log(
  JSON.stringify({
    seconds: report.seconds,
    megapixels: report.megapixels,
    cellsWritten: report.cellsWritten,
    failed: report.failed.length,
    rowsDone: report.rowsDone,
    workers: report.workers,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    rssBeforeBytes: rssBefore,
    cpu: { total: cpuTotal, main: cpuMain, ...byRole, other: cpuTotal - known },
    phases,
    master: plan.master,
    rows: plan.jobs.length,
    pieces: plan.jobs.reduce((s, j) => s + j.pieces.length, 0),
    queueDepth: config.queueDepth,
  }),
);
