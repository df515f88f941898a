/**
 * The h5wasm module, loaded once per thread, used through its low-level API.
 *
 * Why not h5wasm's high-level classes: they copy every buffer two or three times (0.3-0.5x
 * native speed), print HDF5's error stack to the process's stderr and return negative ids
 * instead of throwing. Here every call goes through `call()`, which captures HDF5's
 * diagnostic text so our typed errors can quote it, and data moves through one reusable
 * heap buffer.
 */
import fs from "node:fs";
import type { Module as H5ModuleValue, Metadata } from "h5wasm/node";

export type H5Module = typeof H5ModuleValue;
export type { Metadata };

/** No single WASM call moves more than this many bytes: the WASM heap is 2 GiB in all. */
export const MAX_CALL_BYTES = 256 * 1024 * 1024;

/** HDF5's "unlimited" extent (H5S_UNLIMITED), outside the int32 range embind exports. */
export const H5S_UNLIMITED = 18446744073709551615n;

export interface H5Lib {
  readonly M: H5Module;
  /** Run an HDF5 call; throws `H5CallFailure` carrying HDF5's diagnostic on failure. */
  call<T>(fn: () => T): T;
  /** A heap region of at least `nbytes`, reused between calls (valid until the next `scratch`). */
  scratch(nbytes: number): number;
  /** The current heap view (re-read after every call: the heap can grow and move). */
  heap(): Uint8Array;
}

/** A failed HDF5 call, before the store turns it into a typed, user-facing error. */
export class H5CallFailure extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

let loading: Promise<H5Lib> | undefined;

export function loadH5(): Promise<H5Lib> {
  loading ??= instantiate();
  return loading;
}

async function instantiate(): Promise<H5Lib> {
  // h5wasm's package exports hide the Emscripten factory; its file sits beside the node entry.
  const entry = import.meta.resolve("h5wasm/node");
  const factoryModule = (await import(new URL("./hdf5_util.js", entry).href)) as {
    default: (opts: object) => Promise<H5Module>;
  };
  const M = await factoryModule.default({ noInitialRun: true });
  await addFilterPlugins(M);
  return new Lib(M);
}

/**
 * zstd, blosc, lz4, bitshuffle... come from h5wasm-plugins (WASM side modules that HDF5 loads
 * from its plugin path on first use). Optional: without it, gzip still works everywhere.
 */
async function addFilterPlugins(M: H5Module): Promise<void> {
  let entry: string;
  try {
    entry = import.meta.resolve("h5wasm-plugins");
  } catch {
    return;
  }
  const dir = new URL("./plugins", entry);
  if (dir.protocol === "file:" && fs.existsSync(dir))
    M.insert_plugin_search_path(decodeURIComponent(dir.pathname), 0);
}

class Lib implements H5Lib {
  private scratchPtr = 0;
  private scratchBytes = 0;

  constructor(readonly M: H5Module) {}

  call<T>(fn: () => T): T {
    const diag: string[] = [];
    const realWriteSync = fs.writeSync;
    // h5wasm's node build writes HDF5's error stack straight to fd 2 through fs.writeSync.
    // The call is synchronous, so swapping the function for its duration is race-free.
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: unknown, ...rest: unknown[]) => {
      if (fd === 2 && ArrayBuffer.isView(buf)) {
        const off = typeof rest[0] === "number" ? rest[0] : 0;
        const len = typeof rest[1] === "number" ? rest[1] : buf.byteLength - off;
        diag.push(Buffer.from(buf.buffer, buf.byteOffset + off, len).toString("utf8"));
        return len;
      }
      return (realWriteSync as (...a: unknown[]) => number)(fd, buf, ...rest);
    };
    let result: T;
    try {
      result = fn();
    } catch (e) {
      throw new H5CallFailure(summarizeDiag(diag.join("")) || describeThrown(e));
    } finally {
      (fs as { writeSync: unknown }).writeSync = realWriteSync;
    }
    if ((typeof result === "number" || typeof result === "bigint") && result < 0) {
      throw new H5CallFailure(summarizeDiag(diag.join("")) || "HDF5 call returned an error status");
    }
    return result;
  }

  scratch(nbytes: number): number {
    if (nbytes > MAX_CALL_BYTES) {
      throw new RangeError(
        `internal: ${nbytes} bytes exceeds the per-call limit ${MAX_CALL_BYTES}`,
      );
    }
    if (nbytes > this.scratchBytes) {
      if (this.scratchPtr) this.M._free(this.scratchPtr);
      // Grow geometrically so a sequence of growing slabs does not reallocate each time.
      const size = Math.min(MAX_CALL_BYTES, Math.max(nbytes, this.scratchBytes * 2, 1 << 16));
      const ptr = this.M._malloc(size);
      if (!ptr) {
        this.scratchPtr = 0;
        this.scratchBytes = 0;
        throw new RangeError(`WASM heap exhausted allocating ${size} bytes`);
      }
      this.scratchPtr = ptr;
      this.scratchBytes = size;
    }
    return this.scratchPtr;
  }

  heap(): Uint8Array {
    return this.M.HEAPU8;
  }
}

function describeThrown(e: unknown): string {
  if (e instanceof Error) return e.message;
  // embind throws C++ strings through throw_error as plain values.
  return String(e);
}

/**
 * HDF5 prints a stack from the API call down to the root cause. The innermost frames say
 * what actually went wrong ("truncated file: eof = ...", "file signature not found").
 */
export function summarizeDiag(text: string): string {
  const messages: string[] = [];
  for (const line of text.split("\n")) {
    const m = /#\d+: .* in (\w+)\(\): (.*)$/.exec(line.trim());
    if (m?.[2]) messages.push(m[2].trim());
  }
  if (messages.length === 0) return text.trim().split("\n").slice(-2).join(" ").trim();
  const unique = [...new Set(messages.reverse())];
  return unique.slice(0, 3).join("; ");
}
