/**
 * Jupyter wire protocol 5.3 messages: framing, HMAC signing, and binary buffers.
 *
 * The signature covers exactly the four JSON frames (header, parent_header, metadata,
 * content), never the binary buffers that follow: tslab signs buffers too, so every message
 * with buffers (widget arrays, comm payloads) fails its check there.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const PROTOCOL_VERSION = "5.3";
const DELIMITER = Buffer.from("<IDS|MSG>");

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message<C = Record<string, unknown>> {
  /** ZeroMQ routing identities (ROUTER sockets): where a reply must go. */
  identities: Buffer[];
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

export class SignatureError extends Error {}

export class Signer {
  constructor(
    private readonly key: string,
    private readonly scheme = "hmac-sha256",
  ) {
    if (key && scheme !== "hmac-sha256") throw new Error(`unsupported signature scheme ${scheme}`);
  }

  sign(frames: (Buffer | string)[]): string {
    if (!this.key) return "";
    const h = createHmac("sha256", this.key);
    for (const f of frames) h.update(f);
    return h.digest("hex");
  }

  verify(signature: string, frames: Buffer[]): void {
    if (!this.key) return;
    const want = Buffer.from(this.sign(frames));
    const got = Buffer.from(signature);
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      throw new SignatureError("message signature does not match");
    }
  }
}

export function decode(frames: Buffer[], signer: Signer): Message {
  const delim = frames.findIndex((f) => f.equals(DELIMITER));
  if (delim < 0 || frames.length < delim + 6)
    throw new SignatureError("malformed message: no delimiter or missing frames");
  const signature = frames[delim + 1]!.toString();
  const json = frames.slice(delim + 2, delim + 6);
  signer.verify(signature, json);
  const [header, parent, metadata, content] = json.map(
    (f) => JSON.parse(f.toString("utf8")) as unknown,
  );
  return {
    identities: frames.slice(0, delim),
    header: header as Header,
    parent_header: (parent ?? {}) as Header,
    metadata: (metadata ?? {}) as Record<string, unknown>,
    content: (content ?? {}) as Record<string, unknown>,
    buffers: frames.slice(delim + 6),
  };
}

export function encode(msg: Message<unknown>, signer: Signer): (Buffer | string)[] {
  const json = [
    JSON.stringify(msg.header),
    JSON.stringify(msg.parent_header),
    JSON.stringify(msg.metadata),
    JSON.stringify(msg.content),
  ];
  return [...msg.identities, DELIMITER, signer.sign(json), ...json, ...msg.buffers];
}

export function newHeader(msgType: string, session: string, username = "stagelab"): Header {
  return {
    msg_id: randomUUID(),
    session,
    username,
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

/** Buffers arrive as Buffers, Uint8Arrays, ArrayBuffers or any typed-array view. */
export function toBuffer(b: ArrayBuffer | ArrayBufferView): Buffer {
  if (b instanceof ArrayBuffer) return Buffer.from(b);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
