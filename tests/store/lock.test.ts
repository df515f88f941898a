// One writer per file across processes: contenders racing to create the same file at the
// same moment — exactly one wins, the others get StoreLockedError naming the winner, and
// the file ends up holding the winner's data. Also when they race to break a stale lock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreReader, lockPathFor } from "../../src/index.js";
import { assertBuildFresh, jsonLines, LiveChild, makeTempDir } from "./helpers/common.js";

const CONTENDERS = 4;

interface Outcome {
  won: boolean;
  pid: number;
  error?: { name: string; message: string };
  closed?: boolean;
}

async function race(file: string, overwrite: boolean, release: string): Promise<Outcome[]> {
  fs.rmSync(release, { force: true });
  // Start time far enough ahead for every child to load node and the library first.
  const startAt = Date.now() + 1500;
  const children = Array.from({ length: CONTENDERS }, () =>
    LiveChild.node("race_create.mjs", [
      file,
      String(startAt),
      release,
      overwrite ? "overwrite" : "",
    ]),
  );
  try {
    // The winner holds the lock until every contender has answered: however late a
    // contender starts, it races against a held lock, never after the winner closed.
    await Promise.all(
      children.map((c) => c.waitFor((s) => s.includes('"won"'), 30_000, "an outcome")),
    );
    fs.writeFileSync(release, "");
    const exits = await Promise.all(children.map((c) => c.exited));
    return children.map((c, i) => {
      assert.equal(exits[i]!.code, 0, `contender failed: ${c.stderr.slice(-2000)}`);
      const lines = jsonLines<Outcome>(c.stdout);
      return { ...lines[0]!, closed: lines.some((l) => l.closed) };
    });
  } finally {
    for (const c of children) c.kill();
    await Promise.all(children.map((c) => c.exited));
  }
}

async function checkOutcome(file: string, outcomes: Outcome[], round: string): Promise<void> {
  const winners = outcomes.filter((o) => o.won);
  const summary = outcomes
    .map((o) => (o.won ? `pid ${o.pid} won` : `pid ${o.pid}: ${o.error?.name}`))
    .join(", ");
  assert.equal(winners.length, 1, `${round}: ${winners.length} winners (${summary})`);
  const winner = winners[0]!;
  assert.ok(winner.closed, `${round}: the winner did not close`);
  for (const o of outcomes.filter((x) => !x.won)) {
    assert.equal(o.error?.name, "StoreLockedError", `${round}: ${summary}`);
    assert.match(
      o.error.message,
      new RegExp(`pid ${winner.pid}\\b`),
      `${round}: the loser is told who holds the lock`,
    );
  }
  assert.ok(!fs.existsSync(lockPathFor(file)), `${round}: lock left behind`);
  const r = await StoreReader.open(file);
  try {
    assert.equal(r.state, "complete");
    assert.deepEqual(
      Array.from(r.read("/winner").data as Int32Array),
      [winner.pid],
      `${round}: the file holds the winner's data`,
    );
  } finally {
    r.close();
  }
}

test(
  "contenders racing to create the same file: exactly one wins",
  { timeout: 120_000 },
  async (t) => {
    assertBuildFresh();
    const { dir, cleanup } = makeTempDir("lock");
    try {
      const file = path.join(dir, "contended.h5");
      // Round 1: a new file, no overwrite. Round 2: the file exists, overwrite: the lock still
      // decides. Round 3: a stale lock of a dead process is there: all race to break it.
      for (const [round, overwrite, stale] of [
        ["new file", false, false],
        ["existing file, overwrite", true, false],
        ["stale lock, overwrite", true, true],
        ["stale lock again", true, true],
      ] as const) {
        if (stale) {
          const deadPid = await new Promise<number>((resolve, reject) => {
            const c = spawn("true");
            c.on("error", reject);
            c.on("exit", () => resolve(c.pid!));
          });
          fs.writeFileSync(
            lockPathFor(file),
            JSON.stringify({
              pid: deadPid,
              host: os.hostname(),
              since: "2000-01-01T00:00:00Z",
              owner: "dead",
            }),
          );
        }
        const outcomes = await race(file, overwrite, path.join(dir, "release"));
        await checkOutcome(file, outcomes, round);
        t.diagnostic(
          `${round}: ${outcomes.map((o) => (o.won ? "won" : o.error?.name)).join(", ")}`,
        );
      }
    } finally {
      cleanup();
    }
  },
);
