// Every bad input gives its typed error, naming the file (and the dataset), and leaves the
// process usable. Opens of damaged files run in child processes with a time limit: HDF5
// inside WASM cannot be interrupted, so a hang must fail the test rather than freeze it.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  CorruptFileError,
  DatasetExistsError,
  DatasetNotFoundError,
  DtypeMismatchError,
  FileNotFoundError,
  InvalidArgumentError,
  LayoutFrozenError,
  ShapeMismatchError,
  SliceOutOfRangeError,
  StoreClosedError,
  StoreError,
  StoreLockedError,
  StoreReader,
  StoreWriter,
  lockPathFor,
} from "../../src/index.js";
import { pattern } from "./helpers/formula.mjs";
import { assertBuildFresh, LiveChild, lastJson, makeTempDir, runNode } from "./helpers/common.js";

let dir: string;
let cleanup: () => void;
let good: string; // a small, cleanly closed store file
before(async () => {
  assertBuildFresh();
  ({ dir, cleanup } = makeTempDir("errors"));
  good = path.join(dir, "good.h5");
  const w = await StoreWriter.create(good, { provenance: { stage: "tests.errors" } });
  w.createDataset("grp/f", { dtype: "float32", shape: [0, 3], chunks: [4, 3] }).append(
    pattern("float32", 0, 30 * 3),
  );
  w.createDataset("i", { dtype: "int64", shape: [0], chunks: [8] }).append(pattern("int64", 0, 40));
  w.close();
});
after(() => cleanup());

type ErrClass = new (...args: never[]) => StoreError;

/** The error is `cls`, a StoreError, names the file (and dataset) in .file and its message. */
function assertStoreError(
  e: unknown,
  cls: ErrClass,
  file: string,
  dataset?: string,
): asserts e is StoreError {
  assert.ok(
    e instanceof cls,
    `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
  );
  assert.ok(e instanceof StoreError);
  assert.equal(e.name, cls.name);
  assert.equal(e.file, file);
  const where = dataset === undefined ? file : `${file}:${dataset}`;
  assert.ok(
    e.message.startsWith(`${where}: `),
    `message should start with "${where}: ": ${e.message}`,
  );
  if (dataset !== undefined) assert.equal(e.dataset, dataset);
}

async function rejects(
  p: Promise<unknown> | (() => unknown),
  cls: ErrClass,
  file: string,
  dataset?: string,
): Promise<StoreError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    assertStoreError(e, cls, file, dataset);
    return e;
  }
  assert.fail(`expected ${cls.name}, nothing was thrown`);
}

/** After an error the process must still work: a fresh file round-trips. */
let sane = 0;
async function stillUsable(): Promise<void> {
  const file = path.join(dir, `sane-${++sane}.h5`);
  const w = await StoreWriter.create(file);
  w.createDataset("ok", { dtype: "uint8", shape: [0] }).append(new Uint8Array([7, 8, 9]));
  w.close();
  const r = await StoreReader.open(file);
  try {
    assert.deepEqual(Array.from(r.read("/ok").data as Uint8Array), [7, 8, 9]);
  } finally {
    r.close();
  }
  const r2 = await StoreReader.open(good);
  try {
    assert.deepEqual(r2.info("/grp/f").shape, [30, 3]);
  } finally {
    r2.close();
  }
}

interface Probe {
  ok?: boolean;
  error?: {
    name: string;
    message: string;
    file: string;
    dataset?: string;
    holder?: { pid: number; host: string; owner: string; since: string };
  };
}
async function probe(op: string, file: string, extra: string[] = []): Promise<Probe> {
  // A healthy open answers in well under a second (most of it node's start-up).
  const r = await runNode("open_probe.mjs", [op, file, ...extra], { timeoutMs: 10_000 });
  assert.ok(!r.timedOut, `${op} ${path.basename(file)}: no answer within 10 s (HDF5 hangs)`);
  return lastJson<Probe>(r, `open_probe ${op}`);
}

describe("files that are not there or not HDF5", () => {
  test("missing file: StoreReader.open and StoreWriter.open -> FileNotFoundError", async () => {
    const missing = path.join(dir, "nope", "missing.h5");
    await rejects(StoreReader.open(missing), FileNotFoundError, missing);
    await rejects(StoreWriter.open(missing), FileNotFoundError, missing);
    assert.ok(!fs.existsSync(lockPathFor(missing)), "no lock left behind");
    await stillUsable();
  });

  test("a text file -> CorruptFileError (reader and writer)", async () => {
    const text = path.join(dir, "notes.h5");
    fs.writeFileSync(text, "this is not an HDF5 file\n".repeat(200));
    await rejects(StoreReader.open(text), CorruptFileError, text);
    await rejects(StoreWriter.open(text), CorruptFileError, text);
    assert.equal(
      fs.readFileSync(text, "utf8").slice(0, 24),
      "this is not an HDF5 file",
      "the file is untouched",
    );
    assert.ok(!fs.existsSync(lockPathFor(text)), "the failed open released its lock");
    const empty = path.join(dir, "empty.h5");
    fs.writeFileSync(empty, "");
    await rejects(StoreReader.open(empty), CorruptFileError, empty);
    await stillUsable();
  });

  test("a truncated HDF5 file -> CorruptFileError from StoreWriter.open", async () => {
    const cut = path.join(dir, "cut-w.h5");
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    const r = await probe("writer-open", cut);
    assert.equal(r.error?.name, "CorruptFileError", JSON.stringify(r));
    assert.ok(r.error.message.startsWith(`${cut}: `));
    assert.equal(r.error.file, cut);
  });

  test("a truncated HDF5 file -> CorruptFileError from StoreReader.open (no hang)", async () => {
    const cut = path.join(dir, "cut-r.h5");
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    const r = await probe("reader", cut);
    assert.equal(r.error?.name, "CorruptFileError", JSON.stringify(r));
    assert.ok(r.error.message.startsWith(`${cut}: `));
  });
});

describe("bad writes", () => {
  let file: string;
  let w: StoreWriter;
  before(async () => {
    file = path.join(dir, "writes.h5");
    w = await StoreWriter.create(file);
  });
  after(() => w.abandon());

  test("wrong typed array for the dtype -> DtypeMismatchError", async () => {
    const f = w.createDataset("f32", { dtype: "float32", shape: [0, 3], chunks: [4, 3] });
    await rejects(() => f.append(new Float64Array(3) as never), DtypeMismatchError, file, "/f32");
    await rejects(
      () => f.write([0, 0], [1, 3], new Int32Array(3) as never),
      DtypeMismatchError,
      file,
      "/f32",
    );
    const c = w.createDataset("c64", { dtype: "complex64", shape: [0] });
    await rejects(() => c.append(new Float64Array(2) as never), DtypeMismatchError, file, "/c64");
    const b = w.createDataset("flags", { dtype: "bool", shape: [0] });
    await rejects(() => b.append(new Int8Array(2) as never), DtypeMismatchError, file, "/flags");
    const i = w.createDataset("big", { dtype: "int64", shape: [0] });
    await rejects(() => i.append(new Float64Array(2) as never), DtypeMismatchError, file, "/big");
    f.append(new Float32Array(6)); // the dataset still takes good data
    assert.equal(f.length, 2);
    await stillUsable();
  });

  test("wrong row size -> ShapeMismatchError", async () => {
    const d = w.createDataset("rows", { dtype: "int16", shape: [0, 4], chunks: [2, 4] });
    await rejects(() => d.append(new Int16Array(6)), ShapeMismatchError, file, "/rows");
    const c = w.createDataset("cplx", { dtype: "complex128", shape: [0, 2] });
    await rejects(() => c.append(new Float64Array(2)), ShapeMismatchError, file, "/cplx"); // one complex, not a row
    await rejects(
      () => d.write([0, 0], [1, 4], new Int16Array(3)),
      ShapeMismatchError,
      file,
      "/rows",
    );
    await rejects(() => d.write([0], [1], new Int16Array(1)), ShapeMismatchError, file, "/rows");
    await rejects(
      () => w.createDataset("bad-shape", { dtype: "int8", shape: [] }),
      ShapeMismatchError,
      file,
      "/bad-shape",
    );
    await rejects(
      () => w.createDataset("bad-max", { dtype: "int8", shape: [4], maxshape: [2] }),
      ShapeMismatchError,
      file,
      "/bad-max",
    );
    d.append(new Int16Array(8));
    assert.equal(d.length, 2);
    await stillUsable();
  });

  test("writes outside maxshape -> SliceOutOfRangeError", async () => {
    const d = w.createDataset("fixed", {
      dtype: "uint32",
      shape: [3, 2],
      maxshape: [3, 2],
      chunks: [3, 2],
    });
    await rejects(
      () => d.write([2, 0], [2, 2], new Uint32Array(4)),
      SliceOutOfRangeError,
      file,
      "/fixed",
    );
    await rejects(
      () => d.write([0, 1], [1, 2], new Uint32Array(2)),
      SliceOutOfRangeError,
      file,
      "/fixed",
    );
    await rejects(
      () => d.write([-1, 0], [1, 2], new Uint32Array(2)),
      SliceOutOfRangeError,
      file,
      "/fixed",
    );
    await rejects(() => d.append(new Uint32Array(2)), SliceOutOfRangeError, file, "/fixed");
    await stillUsable();
  });

  test("bad options and names -> InvalidArgumentError / DatasetExistsError", async () => {
    await rejects(
      () => w.createDataset("c0", { dtype: "int8", shape: [0], chunks: [0] }),
      InvalidArgumentError,
      file,
      "/c0",
    );
    await rejects(
      () => w.createDataset("c1", { dtype: "int8", shape: [0, 2], chunks: [4] }),
      InvalidArgumentError,
      file,
      "/c1",
    );
    await rejects(
      () => w.createDataset("gz", { dtype: "int8", shape: [0], compression: { gzip: 10 } }),
      InvalidArgumentError,
      file,
      "/gz",
    );
    await rejects(
      () => w.createDataset("cmp", { dtype: "int8", shape: [0], compression: "lzma" as never }),
      InvalidArgumentError,
      file,
      "/cmp",
    );
    await rejects(
      () => w.createDataset("_stagelab/mine", { dtype: "int8", shape: [0] }),
      InvalidArgumentError,
      file,
      "/_stagelab/mine",
    );
    await rejects(
      () => w.setAttrs("/", { _stagelab_attr_types: "x" }),
      InvalidArgumentError,
      file,
      "/",
    );
    w.createDataset("dup", { dtype: "int8", shape: [0] });
    await rejects(
      () => w.createDataset("/dup", { dtype: "float64", shape: [0] }),
      DatasetExistsError,
      file,
      "/dup",
    );
    await stillUsable();
  });

  test("a dataset this writer does not have -> DatasetNotFoundError", async () => {
    await rejects(() => w.dataset("nope"), DatasetNotFoundError, file, "/nope");
    await stillUsable();
  });

  test("creating datasets or groups after the first commit -> LayoutFrozenError", async () => {
    w.commit();
    await rejects(
      () => w.createDataset("late", { dtype: "int8", shape: [0] }),
      LayoutFrozenError,
      file,
      "/late",
    );
    await rejects(() => w.createGroup("lategroup"), LayoutFrozenError, file, "/lategroup");
    // Appends and commits still work after the refusals.
    const d = w.dataset<"float32">("f32");
    d.append(new Float32Array(3));
    assert.equal(w.commit().lengths["/f32"], 3);
    await stillUsable();
  });

  test("the same file as reader and writer in one thread -> InvalidArgumentError", async () => {
    await rejects(StoreReader.open(file), InvalidArgumentError, file);
    await rejects(StoreWriter.open(file), InvalidArgumentError, file);
    await stillUsable();
  });
});

describe("bad reads", () => {
  let r: StoreReader;
  before(async () => {
    r = await StoreReader.open(good);
  });
  after(() => r.close());

  test("missing dataset or group -> DatasetNotFoundError", async () => {
    await rejects(() => r.read("/nope"), DatasetNotFoundError, good, "/nope");
    await rejects(() => r.read("grp/nope/deeper"), DatasetNotFoundError, good, "/grp/nope/deeper");
    await rejects(() => r.info("/i/child"), DatasetNotFoundError, good, "/i/child");
    await rejects(() => r.read("/grp"), DatasetNotFoundError, good, "/grp"); // a group
    await rejects(() => r.attrs("/missing"), DatasetNotFoundError, good, "/missing");
    await stillUsable();
  });

  test("out-of-range selections -> SliceOutOfRangeError", async () => {
    const cases: unknown[][] = [
      [30], // index == extent
      [-31],
      [[0, 31]],
      [[5, 2]], // start > stop
      [[0, 10, 0]], // step 0
      [[0, 10, -1]],
      [null, 3],
      [0, 0, 0], // more axes than the dataset
      [1.5],
    ];
    for (const sel of cases) {
      const e = await rejects(
        () => r.read("/grp/f", sel as never),
        SliceOutOfRangeError,
        good,
        "/grp/f",
      );
      assert.match(e.message, /out of range|axes|step|integer/, JSON.stringify(sel));
    }
    await rejects(() => r.read("i", [40]), SliceOutOfRangeError, good, "/i");
    // Fine after all that:
    assert.deepEqual(r.read("/grp/f", [-1]).shape, [1, 3]);
    await stillUsable();
  });

  test("use after close -> StoreClosedError", async () => {
    const r2 = await StoreReader.open(good);
    r2.close();
    await rejects(() => r2.read("/i"), StoreClosedError, good);
    const file = path.join(dir, "closed.h5");
    const w = await StoreWriter.create(file);
    const d = w.createDataset("d", { dtype: "int8", shape: [0] });
    w.close();
    await rejects(() => d.append(new Int8Array(1)), StoreClosedError, file);
    await rejects(() => w.commit(), StoreClosedError, file);
    await rejects(() => w.close(), StoreClosedError, file);
    await stillUsable();
  });
});

describe("locks and existing files", () => {
  test("create over an existing file without overwrite -> DatasetExistsError, file untouched", async () => {
    const before = fs.readFileSync(good);
    await rejects(StoreWriter.create(good), DatasetExistsError, good);
    assert.ok(fs.readFileSync(good).equals(before), "the existing file was modified");
    assert.ok(!fs.existsSync(lockPathFor(good)), "the refused create released its lock");
    const copy = path.join(dir, "overwrite-me.h5");
    fs.copyFileSync(good, copy);
    const w = await StoreWriter.create(copy, { overwrite: true });
    w.close();
    const r = await StoreReader.open(copy);
    try {
      assert.deepEqual(r.tree(), [], "overwrite replaced the old content");
    } finally {
      r.close();
    }
    await stillUsable();
  });

  test("a second writer in another process -> StoreLockedError naming this pid", async () => {
    const file = path.join(dir, "locked-here.h5");
    const w = await StoreWriter.create(file, { provenance: { stage: "tests.errors.lock" } });
    try {
      w.createDataset("d", { dtype: "int8", shape: [0] }).append(new Int8Array([1]));
      w.commit();
      for (const [op, extra] of [
        ["writer-open", []],
        ["writer-create", ["overwrite"]],
      ] as const) {
        const p = await probe(op, file, [...extra]);
        assert.equal(p.error?.name, "StoreLockedError", `${op}: ${JSON.stringify(p)}`);
        assert.ok(p.error.message.startsWith(`${file}: `));
        assert.match(p.error.message, new RegExp(`pid ${process.pid}\\b`));
        assert.equal(p.error.holder?.pid, process.pid);
        assert.equal(p.error.holder?.host, os.hostname());
        assert.equal(p.error.holder?.owner, "tests.errors.lock");
      }
      // The refused writers did not disturb the file: readers in another process see it.
      const seen = await probe("reader", file);
      assert.equal(seen.ok, true, JSON.stringify(seen));
    } finally {
      w.close();
    }
    assert.ok(!fs.existsSync(lockPathFor(file)));
    await stillUsable();
  });

  test("a writer in another process holds the lock -> StoreLockedError here, with its pid", async () => {
    const file = path.join(dir, "locked-there.h5");
    const holder = LiveChild.node("open_probe.mjs", ["hold", file]);
    try {
      await holder.waitFor((s) => s.includes('"holding"'), 20_000, "the other writer");
      const pid = holder.child.pid!;
      const e = await rejects(StoreWriter.open(file), StoreLockedError, file);
      assert.ok(e instanceof StoreLockedError);
      assert.equal(e.holder.pid, pid);
      assert.match(e.message, new RegExp(`pid ${pid}\\b`));
      await rejects(StoreWriter.create(file, { overwrite: true }), StoreLockedError, file);
      assert.ok(fs.existsSync(file), "overwrite must not remove a live writer's file");
      holder.closeStdin(); // the holder closes its writer and exits
      const done = await holder.exited;
      assert.equal(done.code, 0, holder.stderr);
      assert.ok(!fs.existsSync(lockPathFor(file)));
      // The refused opens released everything: this process can now write the file.
      const w = await StoreWriter.open(file);
      assert.equal(w.recovered, undefined);
      assert.deepEqual(w.close().lengths, { "/held": 1 });
    } finally {
      holder.kill();
      await holder.exited;
    }
    await stillUsable();
  });

  test("a stale lock (dead pid on this host) is broken automatically", async () => {
    const deadPid = await new Promise<number>((resolve, reject) => {
      const c = spawn("true");
      c.on("error", reject);
      c.on("exit", () => resolve(c.pid!));
    });
    assert.throws(() => process.kill(deadPid, 0), "the pid is really gone");
    const stale = JSON.stringify({
      pid: deadPid,
      host: os.hostname(),
      since: "2000-01-01T00:00:00.000Z",
      owner: "dead",
    });

    // On a new file: create just works.
    const fresh = path.join(dir, "stale-new.h5");
    fs.writeFileSync(lockPathFor(fresh), stale);
    const w1 = await StoreWriter.create(fresh);
    const held = JSON.parse(fs.readFileSync(lockPathFor(fresh), "utf8")) as { pid: number };
    assert.equal(held.pid, process.pid, "the lock is now ours");
    w1.createDataset("d", { dtype: "int8", shape: [0] }).append(new Int8Array([4]));
    w1.close();
    assert.ok(!fs.existsSync(lockPathFor(fresh)));

    // On an existing file: open treats the dead holder as a crash and rebuilds from commits.
    const existing = path.join(dir, "stale-existing.h5");
    fs.copyFileSync(good, existing);
    fs.writeFileSync(lockPathFor(existing), stale);
    const w2 = await StoreWriter.open(existing);
    try {
      assert.ok(w2.recovered, "a broken stale lock is reported as a recovery");
      assert.deepEqual(w2.recovered.keptRows, { "/grp/f": 30, "/i": 40 });
      w2.dataset<"int64">("i").append(pattern("int64", 40, 2));
    } finally {
      w2.close();
    }
    const r = await StoreReader.open(existing);
    try {
      assert.equal(r.state, "complete");
      assert.deepEqual(
        Array.from(r.read("/i").data as BigInt64Array),
        Array.from(pattern("int64", 0, 42)),
      );
    } finally {
      r.close();
    }
    await stillUsable();
  });

  test("a lock held from another host is respected", async () => {
    const file = path.join(dir, "remote.h5");
    fs.copyFileSync(good, file);
    const remote = {
      pid: 1,
      host: `not-${os.hostname()}`,
      since: "2020-01-01T00:00:00.000Z",
      owner: "remote stage",
    };
    fs.writeFileSync(lockPathFor(file), JSON.stringify(remote));
    const e = await rejects(StoreWriter.open(file), StoreLockedError, file);
    assert.ok(e instanceof StoreLockedError);
    assert.deepEqual(e.holder, remote);
    assert.equal(
      fs.readFileSync(lockPathFor(file), "utf8"),
      JSON.stringify(remote),
      "the lock is untouched",
    );
    fs.rmSync(lockPathFor(file));
    await stillUsable();
  });
});
