/**
 * The kernel session: Jupyter messaging protocol 5.3 on top of tslab's executor.
 *
 * Shell messages other than execute_request are answered at once, even while a cell is
 * awaiting (so widgets stay live during long async stages); execute_requests run one at a
 * time in arrival order. After an error with stop_on_error, exactly the requests already
 * queued are aborted; later ones run (tslab aborted everything arriving within 200 ms).
 * Every output is parented to the request that produced it, tracked with AsyncLocalStorage
 * so output from async continuations lands in the right cell.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Channels, type ChannelName, type ConnectionInfo } from "./wire/channels.js";
import { newHeader, toBuffer, type Message } from "./wire/message.js";
import { CellExecutor } from "./cell-executor.js";
import { History, defaultHistoryFile } from "./history.js";
import { CommManager, type Buffers, type CommMessage } from "./comm.js";
import { formatValue, type MimeBundle } from "./format.js";
import { setKernelApi, type DisplayOptions } from "./kernel-api.js";
import { registerWidgetControl } from "./widgets/widget.js";
import { getTs, tsVersion } from "./typescript.js";
import { VERSION } from "./version.js";

interface Context {
  parent: Message;
  channel: ChannelName;
}

type Content = Record<string, unknown>;

export interface SessionOptions {
  cwd: string;
  historyFile?: string;
  /** The kernel's own dynamic import (resolves packages installed beside the kernel). */
  kernelImport: (spec: string) => Promise<unknown>;
}

export class KernelSession {
  private readonly channels: Channels;
  private readonly context = new AsyncLocalStorage<Context>();
  private readonly executor: CellExecutor;
  private readonly history: History;
  private readonly comms: CommManager;
  private readonly session = newHeader("", "").msg_id;
  private executionCount = 0;
  private readonly queue: Message[] = [];
  private running = false;
  /** The last execute_request: the parent for output that has no context of its own. */
  private lastExecute: Message | undefined;
  private pendingInput: { resolve: (s: string) => void; reject: (e: Error) => void } | undefined;
  private interruption = new AbortController();
  private readonly realStdoutWrite = process.stdout.write.bind(process.stdout);
  private readonly realStderrWrite = process.stderr.write.bind(process.stderr);

  constructor(
    conn: ConnectionInfo,
    private readonly opts: SessionOptions,
  ) {
    this.channels = new Channels(conn);
    this.executor = new CellExecutor(opts.cwd, opts.kernelImport);
    this.history = new History(opts.historyFile ?? defaultHistoryFile());
    this.comms = new CommManager({
      sendComm: (type, content, metadata, buffers) =>
        this.publish(type, content, { metadata, buffers }),
    });
    setKernelApi({
      comms: this.comms,
      display: (bundle, o) => this.display(bundle, o),
      clearOutput: (wait) => this.publish("clear_output", { wait }),
      input: (prompt, password) => this.input(prompt, password),
      interruptSignal: () => this.interruption.signal,
    });
    registerWidgetControl();
  }

  async start(): Promise<void> {
    await this.channels.bind();
    this.channels.listen("shell", (m) => this.onShell(m));
    this.channels.listen("control", (m) => this.onControl(m));
    this.channels.listen("stdin", (m) => this.onStdin(m));
    this.captureOutput();
    process.on("SIGINT", () => this.interrupt());
    // Building the TypeScript program blocks for seconds: do it once the client has its
    // kernel_info_reply (or after a second), so start-up is not held up by it.
    this.warmTimer = setTimeout(() => this.warm(), 1000);
  }

  private warmTimer: NodeJS.Timeout | undefined;

  private warm(): void {
    if (this.warmTimer) clearTimeout(this.warmTimer);
    this.warmTimer = undefined;
    try {
      this.executor.warm();
    } catch (e) {
      this.realStderrWrite(
        `[stagelab kernel] warming the TypeScript compiler failed: ${String(e)}\n`,
      );
    }
  }

  // ---- sending --------------------------------------------------------------------------

  private parentFor(): Message | undefined {
    return this.context.getStore()?.parent ?? this.lastExecute;
  }

  publish(
    msgType: string,
    content: unknown,
    o: { parent?: Message; metadata?: Content; buffers?: Buffers } = {},
  ): void {
    const parent = o.parent ?? this.parentFor();
    void this.channels.send("iopub", {
      identities: [Buffer.from(`kernel.${this.session}.${msgType}`)],
      header: newHeader(msgType, this.session),
      parent_header: parent?.header ?? {},
      metadata: o.metadata ?? {},
      content: content as Content,
      buffers: (o.buffers ?? []).map(toBuffer),
    });
  }

  private reply(
    channel: ChannelName,
    req: Message,
    msgType: string,
    content: Content,
    metadata: Content = {},
  ): Promise<void> {
    return this.channels.send(channel, {
      identities: req.identities,
      header: newHeader(msgType, this.session),
      parent_header: req.header,
      metadata,
      content,
      buffers: [],
    });
  }

  private status(state: "busy" | "idle" | "starting", parent: Message): void {
    this.publish("status", { execution_state: state }, { parent });
  }

  private display(bundle: MimeBundle, o: DisplayOptions = {}): void {
    const content: Content = {
      data: bundle,
      metadata: o.metadata ?? {},
      transient: o.displayId ? { display_id: o.displayId } : {},
    };
    this.publish(o.update ? "update_display_data" : "display_data", content);
  }

  /** Route process stdout/stderr to the cell that is writing (stream messages). */
  private captureOutput(): void {
    const make = (name: "stdout" | "stderr") =>
      ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown) => {
        const text =
          typeof chunk === "string"
            ? chunk
            : Buffer.from(chunk).toString(
                typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8",
              );
        if (this.parentFor()) this.publish("stream", { name, text });
        else (name === "stdout" ? this.realStdoutWrite : this.realStderrWrite)(text);
        const done = typeof encoding === "function" ? encoding : cb;
        if (typeof done === "function") (done as () => void)();
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = make("stdout");
    process.stderr.write = make("stderr");
  }

  // ---- dispatch -------------------------------------------------------------------------

  private onShell(msg: Message): void {
    if (msg.header.msg_type === "execute_request") {
      this.queue.push(msg);
      void this.pump();
      return;
    }
    void this.handleNow("shell", msg);
  }

  private onControl(msg: Message): void {
    void this.handleNow("control", msg);
  }

  private onStdin(msg: Message): void {
    if (msg.header.msg_type !== "input_reply" || !this.pendingInput) return;
    const p = this.pendingInput;
    this.pendingInput = undefined;
    p.resolve(String((msg.content as { value?: unknown }).value ?? ""));
  }

  private async handleNow(channel: ChannelName, msg: Message): Promise<void> {
    this.status("busy", msg);
    try {
      await this.context.run({ parent: msg, channel }, () => this.dispatch(channel, msg));
    } catch (e) {
      this.realStderrWrite(
        `[stagelab kernel] error handling ${msg.header.msg_type}: ${(e as Error).stack ?? String(e)}\n`,
      );
    } finally {
      this.status("idle", msg);
    }
  }

  private async dispatch(channel: ChannelName, msg: Message): Promise<void> {
    const c = msg.content as Content;
    switch (msg.header.msg_type) {
      case "kernel_info_request":
        await this.reply(channel, msg, "kernel_info_reply", this.kernelInfo());
        if (this.warmTimer) setTimeout(() => this.warm(), 50);
        return;
      case "is_complete_request":
        return this.reply(channel, msg, "is_complete_reply", this.isComplete(String(c.code ?? "")));
      case "complete_request":
        return this.reply(
          channel,
          msg,
          "complete_reply",
          this.complete(String(c.code ?? ""), Number(c.cursor_pos ?? 0)),
        );
      case "inspect_request":
        return this.reply(
          channel,
          msg,
          "inspect_reply",
          this.inspect(String(c.code ?? ""), Number(c.cursor_pos ?? 0)),
        );
      case "history_request":
        return this.reply(channel, msg, "history_reply", {
          status: "ok",
          history: this.historyQuery(c),
        });
      case "comm_info_request":
        return this.reply(channel, msg, "comm_info_reply", {
          status: "ok",
          comms: this.comms.info(c.target_name as string | undefined),
        });
      case "comm_open":
        return this.comms.handleOpen(
          String(c.comm_id),
          String(c.target_name),
          this.commMessage(msg),
        );
      case "comm_msg":
        return this.comms.handleMsg(String(c.comm_id), this.commMessage(msg));
      case "comm_close":
        return this.comms.handleClose(String(c.comm_id), this.commMessage(msg));
      case "interrupt_request":
        this.interrupt();
        return this.reply(channel, msg, "interrupt_reply", { status: "ok" });
      case "shutdown_request":
        return this.shutdown(channel, msg, Boolean(c.restart));
      default:
        this.realStderrWrite(`[stagelab kernel] unsupported message type ${msg.header.msg_type}\n`);
    }
  }

  private commMessage(msg: Message): CommMessage {
    const c = msg.content as Content;
    return {
      data: (c.data as Content) ?? {},
      metadata: msg.metadata,
      buffers: msg.buffers.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
    };
  }

  // ---- execution --------------------------------------------------------------------------

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let msg = this.queue.shift(); msg; msg = this.queue.shift()) await this.execute(msg);
    } finally {
      this.running = false;
    }
  }

  private async execute(msg: Message): Promise<void> {
    const c = msg.content as {
      code?: string;
      silent?: boolean;
      store_history?: boolean;
      stop_on_error?: boolean;
      user_expressions?: Content;
    };
    const code = String(c.code ?? "");
    const silent = Boolean(c.silent);
    const storeHistory = c.store_history ?? !silent;
    this.status("busy", msg);
    try {
      if (storeHistory) this.executionCount++;
      const count = this.executionCount;
      this.lastExecute = msg;
      if (!silent) this.publish("execute_input", { code, execution_count: count }, { parent: msg });
      if (storeHistory && code.trim()) this.history.add(count, code);
      const outcome = code.trim()
        ? await this.context.run({ parent: msg, channel: "shell" }, () =>
            this.executor.run(code, count),
          )
        : ({ ok: true, hasValue: false, value: undefined } as const);
      if (outcome.ok) {
        if (outcome.hasValue && !silent && outcome.value !== undefined) {
          this.publish(
            "execute_result",
            { execution_count: count, data: formatValue(outcome.value), metadata: {} },
            { parent: msg },
          );
        }
        await this.reply("shell", msg, "execute_reply", {
          status: "ok",
          execution_count: count,
          user_expressions: this.userExpressions(c.user_expressions),
          payload: [],
        });
        return;
      }
      const { ename, evalue, traceback } = outcome.error;
      if (!silent) this.publish("error", { ename, evalue, traceback }, { parent: msg });
      await this.reply(
        "shell",
        msg,
        "execute_reply",
        { status: "error", execution_count: count, ename, evalue, traceback },
        { status: "error" },
      );
      if (c.stop_on_error ?? true) await this.abortQueued();
    } finally {
      this.status("idle", msg);
    }
  }

  /** Requests queued before the error finished are aborted; later arrivals run normally. */
  private async abortQueued(): Promise<void> {
    const aborted = this.queue.splice(0);
    for (const m of aborted) {
      this.status("busy", m);
      await this.reply(
        "shell",
        m,
        "execute_reply",
        { status: "aborted", execution_count: this.executionCount },
        { status: "aborted" },
      );
      this.status("idle", m);
    }
  }

  /** user_expressions are reported as not evaluated: evaluating them would run code silently. */
  private userExpressions(exprs: Content | undefined): Content {
    const out: Content = {};
    for (const k of Object.keys(exprs ?? {})) {
      out[k] = {
        status: "error",
        ename: "NotSupported",
        evalue: "user_expressions are not evaluated by the stagelab kernel",
        traceback: [],
      };
    }
    return out;
  }

  private interrupt(): void {
    // Stages given interruptSignal() stop their background work too: tslab only rejects the
    // cell's promise, and an awaited stage would otherwise run on.
    this.interruption.abort(
      Object.assign(new Error("kernel interrupted"), { name: "InterruptError" }),
    );
    this.interruption = new AbortController();
    this.executor.interrupt();
    if (this.pendingInput) {
      const p = this.pendingInput;
      this.pendingInput = undefined;
      p.reject(
        Object.assign(new Error("Interrupted asynchronously while waiting for input"), {
          name: "InterruptError",
        }),
      );
    }
  }

  private async input(prompt: string, password: boolean): Promise<string> {
    const parent = this.context.getStore()?.parent ?? this.lastExecute;
    if (
      !parent ||
      parent.header.msg_type !== "execute_request" ||
      !(parent.content as { allow_stdin?: boolean }).allow_stdin
    ) {
      throw Object.assign(
        new Error("this frontend does not support input requests (allow_stdin is false)"),
        { name: "StdinNotImplementedError" },
      );
    }
    if (this.pendingInput) throw new Error("an input request is already pending");
    const answer = new Promise<string>(
      (resolve, reject) => (this.pendingInput = { resolve, reject }),
    );
    await this.channels.send("stdin", {
      identities: parent.identities,
      header: newHeader("input_request", this.session),
      parent_header: parent.header,
      metadata: {},
      content: { prompt, password },
      buffers: [],
    });
    return answer;
  }

  // ---- replies ----------------------------------------------------------------------------

  private kernelInfo(): Content {
    return {
      status: "ok",
      protocol_version: "5.3",
      implementation: "stagelab",
      debugger: false,
      implementation_version: VERSION,
      language_info: {
        name: "typescript",
        version: tsVersion(),
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        codemirror_mode: { name: "javascript", typescript: true },
      },
      banner: `stagelab ${VERSION}: TypeScript ${tsVersion()} (tslab) on Node.js ${process.versions.node}`,
      help_links: [
        { text: "stagelab store", url: "https://github.com/stagelab/stagelab/tree/main/src/store" },
      ],
    };
  }

  private isComplete(code: string): Content {
    if (/(^|\n)\s*\n\s*$/.test(code)) return { status: "complete" };
    const ts = getTs();
    const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const diags = (sf.parseDiagnostics ?? []) as {
      start: number;
      length: number;
      messageText: unknown;
    }[];
    const atEnd = diags.some(
      (d) =>
        d.start === code.length &&
        d.length === 0 &&
        typeof d.messageText === "string" &&
        d.messageText.endsWith(" expected."),
    );
    if (atEnd || /[([{,]\s*$/.test(code)) {
      const lastLine = code.slice(code.lastIndexOf("\n") + 1);
      const indent = (/^\s*/.exec(lastLine)?.[0] ?? "") + (/[([{]\s*$/.test(code) ? "  " : "");
      return { status: "incomplete", indent };
    }
    return { status: diags.length ? "invalid" : "complete" };
  }

  private complete(code: string, cursor: number): Content {
    try {
      const info = this.executor.complete(code, cursor);
      return {
        status: "ok",
        matches: info.candidates,
        cursor_start: info.start,
        cursor_end: info.end,
        metadata: {},
      };
    } catch {
      return { status: "ok", matches: [], cursor_start: cursor, cursor_end: cursor, metadata: {} };
    }
  }

  private inspect(code: string, cursor: number): Content {
    let text: string | undefined;
    try {
      text = this.executor.inspect(code, cursor);
    } catch {
      text = undefined;
    }
    return text
      ? { status: "ok", found: true, data: { "text/plain": text }, metadata: {} }
      : { status: "ok", found: false, data: {}, metadata: {} };
  }

  private historyQuery(c: Content): unknown[] {
    const output = Boolean(c.output);
    const wrap = (rows: [number, number, string][]) =>
      output ? rows.map(([s, l, i]) => [s, l, [i, null]]) : rows;
    switch (c.hist_access_type) {
      case "tail":
        return wrap(this.history.tail(Number(c.n ?? 10)));
      case "range":
        return wrap(
          this.history.range(Number(c.session ?? 0), Number(c.start ?? 0), Number(c.stop ?? 0)),
        );
      case "search":
        return wrap(
          this.history.search(
            String(c.pattern ?? "*"),
            c.n === undefined || c.n === null ? undefined : Number(c.n),
            Boolean(c.unique),
          ),
        );
      default:
        return [];
    }
  }

  private async shutdown(channel: ChannelName, msg: Message, restart: boolean): Promise<void> {
    await this.reply(channel, msg, "shutdown_reply", { status: "ok", restart });
    this.status("idle", msg);
    // Let the reply and status leave, then exit even if cells left timers or sockets open.
    setTimeout(() => {
      this.executor.close();
      this.channels.close();
      process.exit(0);
    }, 50).unref();
    setTimeout(() => process.exit(0), 2000);
  }
}
