// WorkerPool (src/parallel/worker-pool.ts) on real worker threads: urgent calls go ahead of
// queued ones, a call past its time limit fails and its worker is replaced, close() fails the
// calls still running.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkerPool, WorkerTimeoutError } from "../../src/parallel/worker-pool.js";
import type { SleepThreadApi } from "./helpers/sleep-thread.js";

const ENTRY = new URL("./helpers/sleep-thread", import.meta.url);

test("an urgent call waits ahead of calls queued before it, in order among urgent ones", async () => {
  const pool = new WorkerPool<SleepThreadApi>(ENTRY, 1);
  try {
    const done: string[] = [];
    const call = (label: string, urgent: boolean) =>
      pool.run((w) => w.sleep(label === "busy" ? 300 : 10, label), { urgent }).then((l) => {
        done.push(l);
      });
    const calls = [call("busy", false), call("a", false), call("b", false)];
    calls.push(call("u1", true), call("u2", true));
    assert.deepEqual(pool.depth, { queued: 4, running: 1 });
    await Promise.all(calls);
    assert.deepEqual(done, ["busy", "u1", "u2", "a", "b"]);
  } finally {
    await pool.close();
  }
});

test("a call past its time limit fails with WorkerTimeoutError; the pool keeps its size", async () => {
  const pool = new WorkerPool<SleepThreadApi>(ENTRY, 1);
  try {
    await assert.rejects(
      pool.run((w) => w.sleep(60_000, "stuck"), { timeoutMs: 300, what: "sleeping" }),
      (e: unknown) =>
        e instanceof WorkerTimeoutError && /sleeping took longer than 300 ms/.test(e.message),
    );
    assert.equal(await pool.run((w) => w.sleep(1, "after")), "after");
  } finally {
    await pool.close();
  }
});

test("close() fails the calls still running, and returns without waiting for them", async () => {
  const pool = new WorkerPool<SleepThreadApi>(ENTRY, 1);
  const running = pool.run((w) => w.sleep(60_000, "long"));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = performance.now();
  await pool.close();
  await assert.rejects(running, /closed during the call/);
  assert.ok(performance.now() - t0 < 5_000);
});
