/**
 * The five kernel sockets of a connection file, with ordered sends.
 * zeromq 6 rejects a send while another is in flight on the same socket, and replies,
 * streams and comm messages are produced from many async tasks at once: each socket gets a
 * queue so messages leave in the order they were produced.
 */
import fs from "node:fs";
import * as zmq from "zeromq";
import { decode, encode, Signer, type Message } from "./message.js";

export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  control_port: number;
  iopub_port: number;
  stdin_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export function readConnectionFile(file: string): ConnectionInfo {
  return JSON.parse(fs.readFileSync(file, "utf8")) as ConnectionInfo;
}

type Sendable = zmq.Router | zmq.Publisher;

class OrderedSender {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly socket: Sendable) {}
  send(frames: (Buffer | string)[]): Promise<void> {
    this.chain = this.chain.then(
      () => this.socket.send(frames),
      () => this.socket.send(frames),
    );
    return this.chain;
  }
}

export type ChannelName = "shell" | "control" | "stdin";

export class Channels {
  readonly signer: Signer;
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  private readonly iopub = new zmq.Publisher();
  private readonly hb = new zmq.Reply();
  private readonly senders: Record<ChannelName | "iopub", OrderedSender>;
  private closed = false;

  constructor(private readonly conn: ConnectionInfo) {
    this.signer = new Signer(conn.key, conn.signature_scheme);
    this.senders = {
      shell: new OrderedSender(this.shell),
      control: new OrderedSender(this.control),
      stdin: new OrderedSender(this.stdin),
      iopub: new OrderedSender(this.iopub),
    };
  }

  private addr(port: number): string {
    const sep = this.conn.transport === "ipc" ? "-" : ":";
    return `${this.conn.transport}://${this.conn.ip}${sep}${port}`;
  }

  async bind(): Promise<void> {
    await Promise.all([
      this.shell.bind(this.addr(this.conn.shell_port)),
      this.control.bind(this.addr(this.conn.control_port)),
      this.stdin.bind(this.addr(this.conn.stdin_port)),
      this.iopub.bind(this.addr(this.conn.iopub_port)),
      this.hb.bind(this.addr(this.conn.hb_port)),
    ]);
    void this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    try {
      for await (const frames of this.hb) await this.hb.send(frames);
    } catch {
      /* socket closed at shutdown */
    }
  }

  /** Receive loop: calls `onMessage` for every well-signed message; bad ones are logged. */
  listen(channel: ChannelName, onMessage: (msg: Message) => void): void {
    const sock = this[channel];
    void (async () => {
      try {
        for await (const frames of sock) {
          let msg: Message;
          try {
            msg = decode(frames, this.signer);
          } catch (e) {
            process.stderr.write(
              `[stagelab kernel] dropped a ${channel} message: ${(e as Error).message}\n`,
            );
            continue;
          }
          onMessage(msg);
        }
      } catch (e) {
        if (!this.closed)
          process.stderr.write(`[stagelab kernel] ${channel} socket failed: ${String(e)}\n`);
      }
    })();
  }

  send(channel: ChannelName | "iopub", msg: Message<unknown>): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.senders[channel].send(encode(msg, this.signer)).catch((e: unknown) => {
      if (!this.closed)
        process.stderr.write(`[stagelab kernel] send on ${channel} failed: ${String(e)}\n`);
    });
  }

  close(): void {
    this.closed = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.close();
  }
}
