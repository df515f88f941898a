/**
 * One writer per file across processes. h5wasm takes no OS lock (HDF5's own file locking is
 * a no-op in WASM), so the writer holds `<file>.lock`, created atomically with O_EXCL.
 * A lock whose process is gone on this host is stale and is broken automatically; a lock
 * from another host cannot be checked and is respected.
 */
import fs from "node:fs";
import os from "node:os";
import { StoreLockedError, type LockHolder } from "./errors.js";

export interface WriterLock {
  readonly path: string;
  readonly holder: LockHolder;
  release(): void;
}

export function lockPathFor(file: string): string {
  return `${file}.lock`;
}

/** Is the process alive on this host? EPERM means it exists but belongs to someone else. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(lockPath: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockPath, "utf8")) as Partial<LockHolder>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string") return undefined;
    return {
      pid: parsed.pid,
      host: parsed.host,
      since: String(parsed.since ?? "unknown time"),
      owner: String(parsed.owner ?? "unknown"),
    };
  } catch {
    return undefined;
  }
}

/** The writer holding `file`'s lock, when there is one and its process is alive on this host. */
export function liveWriter(file: string): LockHolder | undefined {
  const holder = readHolder(lockPathFor(file));
  return holder && holder.host === os.hostname() && processAlive(holder.pid) ? holder : undefined;
}

/** Held locks of this process, released if it exits without closing its writers. */
const held = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const p of held) {
      try {
        fs.unlinkSync(p);
      } catch {
        /* already gone */
      }
    }
  });
}

export interface LockResult {
  lock: WriterLock;
  /** The previous holder died without releasing: its file may need recovery. */
  brokeStaleLockOf: LockHolder | undefined;
}

export function acquireWriterLock(file: string, owner: string): LockResult {
  const lockPath = lockPathFor(file);
  const holder: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    since: new Date().toISOString(),
    owner,
  };
  let brokeStaleLockOf: LockHolder | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = fs.openSync(lockPath, "wx", 0o644);
      try {
        // No fsync: the lock coordinates processes on this host through the page cache, and an
        // fsync here would make ext4 flush every dirty page of the data files too.
        fs.writeSync(fd, JSON.stringify(holder));
      } finally {
        fs.closeSync(fd);
      }
      held.add(lockPath);
      installExitHook();
      const lock: WriterLock = {
        path: lockPath,
        holder,
        release() {
          if (!held.delete(lockPath)) return;
          // Only remove the lock if it is still ours (never someone else's after a break).
          const current = readHolder(lockPath);
          if (current && current.pid === holder.pid && current.since === holder.since) {
            fs.rmSync(lockPath, { force: true });
          }
        },
      };
      return { lock, brokeStaleLockOf };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const current = readHolder(lockPath);
    if (current === undefined) {
      // Empty or half-written lock: its writer died between create and write, or is writing
      // it right now. Give a live writer a moment, then treat it as stale.
      const ageMs = Date.now() - safeMtime(lockPath);
      if (ageMs < 2000) {
        sleepMs(50);
        continue;
      }
    } else if (current.host !== holder.host || processAlive(current.pid) || held.has(lockPath)) {
      throw new StoreLockedError({ file }, current);
    }
    // Stale. Breakers take turns through a second exclusive lock and re-check under it, so
    // none can remove a fresh lock that another breaker took in the meantime.
    if (breakIfStill(lockPath, current)) {
      brokeStaleLockOf = current ?? {
        pid: -1,
        host: "unknown",
        since: "unknown",
        owner: "unreadable lock",
      };
    }
  }
  const last = readHolder(lockPath);
  throw new StoreLockedError(
    { file },
    last ?? { pid: -1, host: "unknown", since: "unknown", owner: "contended lock" },
  );
}

/** Remove the lock if it still holds exactly `judged` (undefined: still unreadable). */
function breakIfStill(lockPath: string, judged: LockHolder | undefined): boolean {
  const guard = `${lockPath}.breaking`;
  let fd: number;
  try {
    fd = fs.openSync(guard, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A breaker that died while holding the guard leaves it behind: it is only ever held
    // for a few milliseconds, so an old one is stale.
    if (Date.now() - safeMtime(guard) > 5000) fs.rmSync(guard, { force: true });
    sleepMs(20);
    return false;
  }
  try {
    const now = readHolder(lockPath);
    const same =
      judged === undefined
        ? now === undefined
        : now !== undefined && now.pid === judged.pid && now.since === judged.since;
    if (!same || !fs.existsSync(lockPath)) return false;
    fs.rmSync(lockPath, { force: true });
    return true;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(guard, { force: true });
  }
}

function safeMtime(p: string): number {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
