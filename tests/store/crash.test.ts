// A writer killed with SIGKILL at a random moment loses nothing it committed. Each trial:
// a child appends+commits in a loop, printing each committed length once commit() returned;
// we kill it 100-800 ms after its first commit; then (a) a reader sees every committed row
// intact, at least as many as the last printed length; (b) StoreWriter.open recovers the
// file, appends more and closes; a reader sees every row and state "complete"; h5py reads
// the recovered file. A writer killed before its first commit gives typed errors, no hang.
//
// Every check of a crashed file runs in a child process with a time limit: HDF5 inside
// WASM cannot be interrupted, so a hang there must fail the test instead of freezing it.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { lockPathFor } from "../../src/index.js";
import {
  assertBuildFresh,
  jsonLines,
  lastJson,
  LiveChild,
  makeTempDir,
  runNode,
  runPython,
} from "./helpers/common.js";

assertBuildFresh();
const { dir, cleanup } = makeTempDir("crash");
after(() => cleanup());

const TRIALS = 10;
const CHECK_TIMEOUT_MS = 30_000;

interface ReadResult {
  state: string;
  sequence: number;
  rows: number;
  index: number;
  errors: string[];
  error?: { name: string; message: string; file: string };
}
interface RecoverResult {
  recovered: {
    file: string;
    sequence: number;
    keptRows: Record<string, number>;
    skipped: unknown[];
  } | null;
  lengthsAtOpen: Record<string, number>;
  closed: { sequence: number; lengths: Record<string, number> };
  lockAfter: boolean;
  error?: { name: string; message: string };
}

async function check<T>(args: string[], what: string): Promise<T> {
  const r = await runNode("crash_check.mjs", args, { timeoutMs: CHECK_TIMEOUT_MS });
  assert.ok(
    !r.timedOut,
    `${what}: no answer within ${CHECK_TIMEOUT_MS} ms (hang)\n${r.stderr.slice(-2000)}`,
  );
  return lastJson<T>(r, what);
}

/** A small deterministic PRNG, so a failing trial can be re-run with the same timings. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = Number(process.env["STAGELAB_CRASH_SEED"] ?? Date.now() % 100_000);

describe("SIGKILL during append+commit, at random times", () => {
  const rand = mulberry32(seed);
  const summary: string[] = [];
  after(() => console.log(`[crash] seed ${seed}\n[crash] ${summary.join("\n[crash] ")}`));

  for (let trial = 1; trial <= TRIALS; trial++) {
    const killAfterMs = Math.round(100 + rand() * 700);
    const commitEvery = 1 + Math.floor(rand() * 3);
    const pauseMs = Math.floor(rand() * 3);
    test(
      `trial ${trial}: kill 100-800 ms after the first commit, then read, recover, extend`,
      { timeout: 120_000 },
      async (t) => {
        t.diagnostic(
          `seed ${seed} (STAGELAB_CRASH_SEED replays it): kill after ${killAfterMs} ms, ` +
            `commit every ${commitEvery} appends, pause ${pauseMs} ms`,
        );
        const file = path.join(dir, `trial-${trial}.h5`);
        const writer = LiveChild.node("append_writer.mjs", [
          file,
          JSON.stringify({ commitEvery, pauseMs }),
        ]);
        try {
          await writer.waitFor((s) => s.includes('"event":"commit"'), 30_000, "the first commit");
          await new Promise((r) => setTimeout(r, killAfterMs));
        } finally {
          writer.kill("SIGKILL");
        }
        const exit = await writer.exited;
        assert.equal(exit.signal, "SIGKILL", `the writer ended by itself: ${writer.stderr}`);
        const commits = jsonLines<{ event: string; seq: number; rows: number }>(
          writer.stdout,
        ).filter((l) => l.event === "commit");
        const last = commits.at(-1)!;
        assert.ok(last, "no commit printed");
        assert.ok(fs.existsSync(lockPathFor(file)), "a killed writer leaves its lock behind");

        // (a) Everything committed is there and intact (the file may hold more than the last
        // printed commit: the child can die between commit() and printing).
        const seen = await check<ReadResult>(["read", file], "read after the kill");
        assert.equal(seen.error, undefined, JSON.stringify(seen.error));
        assert.equal(seen.state, "writing");
        assert.deepEqual(seen.errors, [], "committed rows differ from the formula");
        assert.ok(
          seen.rows >= last.rows,
          `reader sees ${seen.rows} rows, the writer had committed ${last.rows}`,
        );
        assert.ok(
          seen.sequence >= last.seq,
          `reader sees commit ${seen.sequence}, the writer had printed ${last.seq}`,
        );
        assert.equal(seen.index, seen.rows, "/index and /rows committed together");

        // (b) Recovery: rebuilt from the committed data, then written on and closed.
        const more = 11 + trial;
        const rec = await check<RecoverResult>(
          ["recover", file, String(more)],
          "StoreWriter.open after the kill",
        );
        assert.equal(rec.error, undefined, JSON.stringify(rec.error));
        assert.ok(rec.recovered, "StoreWriter.open did not report a recovery");
        assert.equal(rec.recovered.sequence, seen.sequence);
        assert.deepEqual(rec.recovered.keptRows, { "/rows": seen.rows, "/index": seen.rows });
        assert.deepEqual(rec.recovered.skipped, []);
        assert.deepEqual(rec.lengthsAtOpen, { "/rows": seen.rows, "/index": seen.rows });
        const total = seen.rows + more;
        assert.deepEqual(rec.closed.lengths, { "/rows": total, "/index": total });
        assert.equal(rec.closed.sequence, seen.sequence + 2);
        assert.equal(rec.lockAfter, false, "the lock is released after close");
        assert.ok(
          !fs.readdirSync(dir).some((f) => f.startsWith(`trial-${trial}.h5.recovering`)),
          "recovery left its temp file",
        );

        const final = await check<ReadResult>(["read", file], "read after recovery");
        assert.equal(final.error, undefined, JSON.stringify(final.error));
        assert.equal(final.state, "complete");
        assert.equal(final.rows, total);
        assert.equal(final.sequence, seen.sequence + 2);
        assert.deepEqual(final.errors, []);

        // h5py reads the recovered file: one SWMR poll, then the plain re-open of the final check.
        const stop = path.join(dir, `trial-${trial}.stop`);
        fs.writeFileSync(stop, JSON.stringify({ seq: final.sequence, rows: total }));
        const py = await runPython("h5py_poll.py", [file, stop], { timeoutMs: CHECK_TIMEOUT_MS });
        const pys = lastJson<{ errors: string[]; final: unknown; polls: number }>(
          py,
          "h5py on the recovered file",
        );
        assert.deepEqual(pys.errors, []);
        assert.deepEqual(pys.final, { seq: final.sequence, rows: total, state: "complete" });

        const line = `trial ${trial}: killed after ${killAfterMs} ms at printed commit ${last.seq} (${last.rows} rows); file had commit ${seen.sequence} (${seen.rows} rows); recovered and grown to ${total} rows`;
        summary.push(line);
        t.diagnostic(line);
      },
    );
  }
});

describe("SIGKILL before the first commit", () => {
  test(
    "reader and StoreWriter.open give typed errors (no hang); create with overwrite starts again",
    { timeout: 120_000 },
    async () => {
      const file = path.join(dir, "never-committed.h5");
      const writer = LiveChild.node("append_writer.mjs", [
        file,
        JSON.stringify({ commit: false, pauseMs: 1 }),
      ]);
      try {
        await writer.waitFor(
          (s) => s.includes('"event":"created"'),
          30_000,
          "the writer to create the file",
        );
        await new Promise((r) => setTimeout(r, 150));
      } finally {
        writer.kill("SIGKILL");
      }
      assert.equal((await writer.exited).signal, "SIGKILL");
      assert.ok(fs.existsSync(file));

      // The reader waits (waitMs) for a writer that is still creating the file, then says so.
      const seen = await check<ReadResult>(
        ["read", file, "300"],
        "reader on a never-committed file",
      );
      assert.equal(seen.error?.name, "WriterCrashedError", JSON.stringify(seen));
      assert.ok(seen.error.message.startsWith(`${file}: `), seen.error.message);

      // The writer side: the stale lock is broken and the file found to hold nothing committed.
      const rec = await check<RecoverResult>(
        ["recover", file, "5"],
        "StoreWriter.open on a never-committed file",
      );
      assert.equal(rec.error?.name, "CorruptFileError", JSON.stringify(rec));
      assert.match(rec.error.message, /before the first commit/);
      assert.ok(rec.error.message.includes(file));
      assert.ok(!fs.existsSync(lockPathFor(file)), "a failed open releases the lock");

      // The remedy the message gives works: start again.
      const again = await check<{ ok?: boolean; error?: unknown }>(
        ["create", file],
        "create over it",
      );
      assert.deepEqual(again, { ok: true });
      const ok = await runNode("reader_dump.mjs", [file]);
      const dump = lastJson<{ state: string; datasets: Record<string, { data: number[] }> }>(
        ok,
        "reader_dump",
      );
      assert.equal(dump.state, "complete");
      assert.deepEqual(dump.datasets["/x"]!.data, [1, 2, 3]);
    },
  );
});
