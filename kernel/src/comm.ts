/**
 * Comms in both directions with binary buffers. Cell code registers targets (the frontend
 * opens comms to them) or opens comms itself; each comm delivers messages and close events
 * to its handlers.
 */
import { randomUUID } from "node:crypto";

export type Buffers = (ArrayBuffer | ArrayBufferView)[];

export interface CommMessage {
  data: Record<string, unknown>;
  buffers: Uint8Array[];
  metadata: Record<string, unknown>;
}

/** The kernel operations a comm needs (implemented by the kernel session). */
export interface CommTransport {
  sendComm(
    msgType: "comm_open" | "comm_msg" | "comm_close",
    content: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Buffers,
  ): void;
}

export class Comm {
  private readonly msgHandlers: ((m: CommMessage) => void | Promise<void>)[] = [];
  private readonly closeHandlers: ((m: CommMessage) => void)[] = [];
  private closed = false;

  /** @internal create through CommManager */
  constructor(
    private readonly transport: CommTransport,
    readonly commId: string,
    readonly targetName: string,
    /** Drops the comm from its manager's table once closed. */
    private readonly forget: () => void,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  send(
    data: Record<string, unknown>,
    buffers: Buffers = [],
    metadata: Record<string, unknown> = {},
  ): void {
    if (this.closed) throw new Error(`comm ${this.commId} (${this.targetName}) is closed`);
    this.transport.sendComm("comm_msg", { comm_id: this.commId, data }, metadata, buffers);
  }

  close(data: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.sendComm("comm_close", { comm_id: this.commId, data }, {}, []);
    this.forget();
  }

  onMsg(handler: (m: CommMessage) => void | Promise<void>): this {
    this.msgHandlers.push(handler);
    return this;
  }

  onClose(handler: (m: CommMessage) => void): this {
    this.closeHandlers.push(handler);
    return this;
  }

  /** @internal */
  async deliver(m: CommMessage): Promise<void> {
    for (const h of this.msgHandlers) await h(m);
  }

  /** @internal the frontend closed it */
  remoteClosed(m: CommMessage): void {
    this.closed = true;
    for (const h of this.closeHandlers) h(m);
  }
}

export type TargetHandler = (comm: Comm, open: CommMessage) => void | Promise<void>;

export class CommManager {
  private readonly targets = new Map<string, TargetHandler>();
  private readonly comms = new Map<string, Comm>();

  constructor(private readonly transport: CommTransport) {}

  registerTarget(name: string, handler: TargetHandler): void {
    this.targets.set(name, handler);
  }

  unregisterTarget(name: string): void {
    this.targets.delete(name);
  }

  /** Open a comm from the kernel side. */
  open(
    targetName: string,
    data: Record<string, unknown> = {},
    metadata: Record<string, unknown> = {},
    buffers: Buffers = [],
    commId: string = randomUUID().replace(/-/g, ""),
  ): Comm {
    const comm = new Comm(this.transport, commId, targetName, () => this.forget(commId));
    this.comms.set(commId, comm);
    this.transport.sendComm(
      "comm_open",
      { comm_id: commId, target_name: targetName, data },
      metadata,
      buffers,
    );
    return comm;
  }

  get(commId: string): Comm | undefined {
    return this.comms.get(commId);
  }

  forget(commId: string): void {
    this.comms.delete(commId);
  }

  info(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, c] of this.comms) {
      if (!targetName || c.targetName === targetName) out[id] = { target_name: c.targetName };
    }
    return out;
  }

  /** The frontend opened a comm: run the target's handler, or close it if there is none. */
  async handleOpen(commId: string, targetName: string, m: CommMessage): Promise<void> {
    const handler = this.targets.get(targetName);
    const comm = new Comm(this.transport, commId, targetName, () => this.forget(commId));
    if (!handler) {
      this.transport.sendComm("comm_close", { comm_id: commId, data: {} }, {}, []);
      return;
    }
    this.comms.set(commId, comm);
    await handler(comm, m);
  }

  async handleMsg(commId: string, m: CommMessage): Promise<void> {
    await this.comms.get(commId)?.deliver(m);
  }

  handleClose(commId: string, m: CommMessage): void {
    const c = this.comms.get(commId);
    if (!c) return;
    this.comms.delete(commId);
    c.remoteClosed(m);
  }
}
