/**
 * Reading the CubeFit widgets' custom messages in node tests (the fake kernel plays the
 * frontend): their typed arrays travel as buffers at `buffer_paths`, put back here as the
 * view's put_buffers does, and asked for as float64 / uint8.
 */
import assert from "node:assert/strict";
import { insertBuffers } from "../../kernel/src/widgets/widget.js";
import type { FakeKernel, SentMessage } from "./fake-kernel.js";

/** The content of a custom message with its buffers back in place (as byte views). */
export function unpack(kernel: FakeKernel, m: SentMessage): Record<string, unknown> {
  const content = structuredClone(kernel.customOf(m)!) as Record<string, unknown>;
  const paths = (content.buffer_paths ?? []) as (string | number)[][];
  const bytes = m.buffers.map((b) =>
    b instanceof Uint8Array
      ? b
      : ArrayBuffer.isView(b)
        ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
        : new Uint8Array(b as ArrayBuffer),
  );
  insertBuffers(content, paths, bytes);
  return content;
}

/** A buffer as float64 values. */
export function f64(v: unknown): Float64Array {
  assert.ok(v instanceof Uint8Array, `expected a buffer, got ${JSON.stringify(v)}`);
  const copy = v.slice();
  return new Float64Array(copy.buffer, 0, copy.byteLength / 8);
}

/** Send a custom request with a fresh id and wait for the answer carrying that id. */
export async function ask(
  kernel: FakeKernel,
  modelId: string,
  content: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const id = `r${Math.random().toString(36).slice(2)}`;
  const since = kernel.sent.length;
  await kernel.custom(modelId, { ...content, id });
  const m = await kernel.next((m) => kernel.customOf(m)?.id === id, { since });
  return unpack(kernel, m);
}

export function near(got: number, want: number, what: string, rtol = 1e-12, atol = 1e-12): void {
  assert.ok(
    Math.abs(got - want) <= atol + rtol * Math.abs(want) ||
      (Number.isNaN(got) && Number.isNaN(want)),
    `${what}: got ${got}, want ${want}`,
  );
}

export function nearAll(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  rtol = 1e-12,
  atol = 1e-12,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) near(got[i]!, want[i]!, `${what}[${i}]`, rtol, atol);
}
