/**
 * Arrays travel to the browser in parts: the Jupyter server drops websocket messages over
 * 10 MB by default, so each message carries at most PART_BYTES of array data.
 */
export const PART_BYTES = 8 * 1024 * 1024;

export function splitParts(bytes: Uint8Array, partBytes = PART_BYTES): Uint8Array[] {
  if (bytes.byteLength <= partBytes) return [bytes];
  const parts: Uint8Array[] = [];
  for (let off = 0; off < bytes.byteLength; off += partBytes)
    parts.push(bytes.subarray(off, Math.min(bytes.byteLength, off + partBytes)));
  return parts;
}
