/**
 * An in-process stand-in for the running kernel, for node tests and benchmarks of kernel-side
 * widget models: comms go to a recording transport instead of ZeroMQ, and a test plays the
 * frontend by delivering comm messages (custom requests, state updates) to a model.
 */
import { CommManager, type Buffers } from "../../kernel/src/comm.js";
import { setKernelApi } from "../../kernel/src/kernel-api.js";

export interface SentMessage {
  msgType: "comm_open" | "comm_msg" | "comm_close";
  content: Record<string, unknown>;
  metadata: Record<string, unknown>;
  buffers: Buffers;
  /** performance.now() when the model sent it. */
  at: number;
}

export interface FakeKernel {
  readonly comms: CommManager;
  /** Every message the models sent, in order. */
  readonly sent: SentMessage[];
  /** A custom message from "the view" to the model of comm `commId`. */
  custom(commId: string, content: Record<string, unknown>, buffers?: Uint8Array[]): Promise<void>;
  /** A state update from "the view". */
  update(commId: string, state: Record<string, unknown>): Promise<void>;
  /** The first message from now on (or already sent after `since`) matching `pred`. */
  next(
    pred: (m: SentMessage) => boolean,
    opts?: { timeoutMs?: number; since?: number },
  ): Promise<SentMessage>;
  /** The custom content of a comm_msg (undefined for other messages). */
  customOf(m: SentMessage): Record<string, unknown> | undefined;
}

/** Install a fake kernel for this process (widgets created from now on use it). */
export function fakeKernel(): FakeKernel {
  const sent: SentMessage[] = [];
  const waiters: { pred: (m: SentMessage) => boolean; resolve: (m: SentMessage) => void }[] = [];
  const comms = new CommManager({
    sendComm(msgType, content, metadata, buffers) {
      const m: SentMessage = { msgType, content, metadata, buffers, at: performance.now() };
      sent.push(m);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(m)) {
          waiters[i]!.resolve(m);
          waiters.splice(i, 1);
        }
      }
    },
  });
  setKernelApi({
    comms,
    display() {},
    clearOutput() {},
    input: () => Promise.resolve(""),
    interruptSignal: () => new AbortController().signal,
  });
  const customOf = (m: SentMessage) => {
    const data = m.content.data as { method?: string; content?: Record<string, unknown> };
    return m.msgType === "comm_msg" && data?.method === "custom" ? data.content : undefined;
  };
  return {
    comms,
    sent,
    customOf,
    custom(commId, content, buffers = []) {
      return comms.handleMsg(commId, {
        data: { method: "custom", content },
        buffers,
        metadata: {},
      });
    },
    update(commId, state) {
      return comms.handleMsg(commId, {
        data: { method: "update", state, buffer_paths: [] },
        buffers: [],
        metadata: {},
      });
    },
    next(pred, opts = {}) {
      const since = opts.since;
      if (since !== undefined) {
        const hit = sent.slice(since).find(pred);
        if (hit) return Promise.resolve(hit);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no matching message within ${opts.timeoutMs ?? 10_000} ms`));
        }, opts.timeoutMs ?? 10_000);
        const done = (m: SentMessage) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiters.push({ pred, resolve: done });
      });
    },
  };
}

/** A float32 buffer of a sent message as a Float32Array. */
export function float32Of(b: ArrayBuffer | ArrayBufferView): Float32Array {
  if (b instanceof Float32Array) return b;
  if (b instanceof ArrayBuffer) return new Float32Array(b);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
}
