// SWMR under load: one writer process appends and commits while two reader processes poll
// the same file — ours (StoreReader.refresh) and h5py in SWMR read mode. Every poll checks
// every committed row against the formula (row i = i*1000 + j) and that commits never go
// backwards. Thousands of polls in all, zero errors, zero torn or out-of-order reads.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { assertBuildFresh, jsonLines, lastJson, LiveChild, makeTempDir } from "./helpers/common.js";

interface Summary {
  reader: string;
  polls: number;
  changes: number;
  rowsChecked: number;
  maxRows: number;
  lastSeq: number;
  errors: string[];
  final: { seq: number; rows: number; state: string } | null;
}

const MIN_POLLS = 2000; // across both readers
const MIN_WRITE_MS = 4000; // the writer runs at least this long...
const MAX_WRITE_MS = 45_000; // ...and at most this long, polls or not

function polls(child: LiveChild): number {
  const progress = jsonLines<{ progress?: number }>(child.stdout).filter(
    (l) => typeof l.progress === "number",
  );
  return progress.at(-1)?.progress ?? 0;
}

test(
  "SWMR stress: writer appends+commits, our reader and h5py poll concurrently",
  { timeout: 120_000 },
  async (t) => {
    assertBuildFresh();
    const { dir, cleanup } = makeTempDir("swmr");
    const children: LiveChild[] = [];
    try {
      const file = path.join(dir, "stress.h5");
      const writerStop = path.join(dir, "writer.stop");
      const readerStop = path.join(dir, "readers.stop");
      const t0 = Date.now();
      const writer = LiveChild.node("append_writer.mjs", [
        file,
        JSON.stringify({
          stopFile: writerStop,
          durationMs: MAX_WRITE_MS,
          commitEvery: 2,
          pauseMs: 6,
          // Past 3000 rows, grow slowly (but keep committing): every poll reads every
          // committed row, so a slow (loaded) machine still gets its polls in.
          slowAfterRows: 3000,
          slowPauseMs: 40,
        }),
      ]);
      children.push(writer);
      // h5py cannot open the file before the writer is in SWMR mode (its first commit).
      await writer.waitFor(
        (s) => s.includes('"event":"commit"'),
        30_000,
        "the writer's first commit",
      );
      const ours = LiveChild.node("store_poll.mjs", [file, readerStop]);
      const h5py = LiveChild.python("h5py_poll.py", [file, readerStop]);
      children.push(ours, h5py);

      // Let it run until both readers together made enough polls (and at least MIN_WRITE_MS).
      while (Date.now() - t0 < MAX_WRITE_MS) {
        if (Date.now() - t0 >= MIN_WRITE_MS && polls(ours) + polls(h5py) >= MIN_POLLS * 1.25) break;
        if (
          ours.child.exitCode !== null ||
          h5py.child.exitCode !== null ||
          writer.child.exitCode !== null
        )
          break;
        await new Promise((r) => setTimeout(r, 200));
      }
      fs.writeFileSync(writerStop, "");
      await writer.waitFor((s) => s.includes('"event":"done"'), 30_000, "the writer to close");
      const done = jsonLines<{ event: string; seq: number; rows: number; appends: number }>(
        writer.stdout,
      ).find((l) => l.event === "done")!;
      const commits = jsonLines<{ event: string; seq: number; rows: number }>(writer.stdout).filter(
        (l) => l.event === "commit",
      );
      fs.writeFileSync(readerStop, JSON.stringify({ seq: done.seq, rows: done.rows }));

      const [wExit, oExit, hExit] = await Promise.all([writer.exited, ours.exited, h5py.exited]);
      assert.equal(wExit.code, 0, `writer: ${writer.stderr}`);
      assert.equal(oExit.code, 0, `our reader: ${ours.stderr}`);
      assert.equal(hExit.code, 0, `h5py reader: ${h5py.stderr}`);
      const s1 = lastJson<Summary>(
        { ...oExit, stdout: ours.stdout, stderr: ours.stderr },
        "store_poll.mjs",
      );
      const s2 = lastJson<Summary>(
        { ...hExit, stdout: h5py.stdout, stderr: h5py.stderr },
        "h5py_poll.py",
      );

      const line = (s: Summary) =>
        `${s.reader}: ${s.polls} polls, ${s.changes} new commits seen, ${s.rowsChecked} rows checked, ` +
        `max ${s.maxRows} rows, last seq ${s.lastSeq}, ${s.errors.length} errors`;
      const report = [
        `writer: ${done.appends} appends, ${commits.length + 1} commits, ${done.rows} rows in ${Date.now() - t0} ms`,
        line(s1),
        line(s2),
        `total polls: ${s1.polls + s2.polls}`,
      ];
      for (const l of report) t.diagnostic(l);
      console.log(`[swmr-stress] ${report.join("; ")}`);

      assert.deepEqual(s1.errors, [], "our reader saw errors or torn/out-of-order reads");
      assert.deepEqual(s2.errors, [], "h5py saw errors or torn/out-of-order reads");
      assert.ok(s1.polls + s2.polls >= MIN_POLLS, `only ${s1.polls + s2.polls} polls in all`);
      // Both readers really followed the writer (saw many different commits), not just its end.
      assert.ok(s1.changes >= 20, `our reader saw only ${s1.changes} commits`);
      assert.ok(s2.changes >= 20, `h5py saw only ${s2.changes} commits`);
      assert.ok(done.rows >= 200, `the writer wrote only ${done.rows} rows`);
      // Each reader ended on the writer's final commit.
      assert.deepEqual(s1.final, { seq: done.seq, rows: done.rows, state: "complete" });
      assert.deepEqual(s2.final, { seq: done.seq, rows: done.rows, state: "complete" });
    } finally {
      for (const c of children) c.kill();
      await Promise.all(children.map((c) => c.exited));
      cleanup();
    }
  },
);
