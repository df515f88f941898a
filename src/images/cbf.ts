/**
 * CBF / miniCBF images (Pilatus and friends): one 2-D integer array in a binary section,
 * byte_offset-compressed or uncompressed, after a CIF text header whose
 * `_array_data.header_contents` holds the Pilatus "# Key value" lines.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { decodeByteOffset, decodeByteOffsetWide, encodeByteOffsetView } from "./byte-offset.js";
import { ImageFormatError, ImageNotFoundError } from "./errors.js";
import { formatMiniCbfLines, parseMiniCbfHeader, type MiniCbfHeader } from "./minicbf-header.js";

export type { MiniCbfHeader } from "./minicbf-header.js";

/**
 * X-Binary-Element-Type values we read. Pixels come back as an Int32Array: unsigned 32-bit and
 * 64-bit images are accepted when every value fits it (fabio writes numpy int64 arrays as
 * "signed 64-bit integer"), and refused with an error naming the first pixel otherwise.
 */
export type CbfElementType =
  | "signed 8-bit integer"
  | "unsigned 8-bit integer"
  | "signed 16-bit integer"
  | "unsigned 16-bit integer"
  | "signed 32-bit integer"
  | "unsigned 32-bit integer"
  | "signed 64-bit integer"
  | "unsigned 64-bit integer";

export type CbfCompression = "byte_offset" | "none";

export interface CbfImage {
  /** Pixels along the fast axis (X-Binary-Size-Fastest-Dimension). */
  width: number;
  /** Pixels along the slow axis (X-Binary-Size-Second-Dimension). */
  height: number;
  /** Slow-major (row = slow index), raw values: -1 / -2 masked pixels stay as they are. */
  data: Int32Array;
  header: MiniCbfHeader;
  elementType: CbfElementType;
  compression: CbfCompression;
}

/** What the MIME header of the binary section says, and where the data starts. */
export interface CbfBinaryInfo {
  width: number;
  height: number;
  elementType: CbfElementType;
  compression: CbfCompression;
  /** X-Binary-Size: compressed bytes after the 4-byte start tag (undefined if absent). */
  binarySizeBytes: number | undefined;
  /** Content-MD5 (base64), if present. */
  md5: string | undefined;
  /** Offset of the first data byte (just after 0C 1A 04 D5). */
  dataOffset: number;
}

export interface ParseCbfOptions {
  /** Path (or label) that errors name; default "<bytes>". */
  file?: string;
  /** Check Content-MD5 when present (about 2 ms per MB). Default false. */
  verifyMd5?: boolean;
}

const SECTION = "--CIF-BINARY-FORMAT-SECTION--";
const START_TAG = Buffer.from([0x0c, 0x1a, 0x04, 0xd5]);

const ELEMENT_TYPES: Record<CbfElementType, { bytes: number; signed: boolean }> = {
  "signed 8-bit integer": { bytes: 1, signed: true },
  "unsigned 8-bit integer": { bytes: 1, signed: false },
  "signed 16-bit integer": { bytes: 2, signed: true },
  "unsigned 16-bit integer": { bytes: 2, signed: false },
  "signed 32-bit integer": { bytes: 4, signed: true },
  "unsigned 32-bit integer": { bytes: 4, signed: false },
  "signed 64-bit integer": { bytes: 8, signed: true },
  "unsigned 64-bit integer": { bytes: 8, signed: false },
};

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Parse the text header and the binary section's MIME header, without decoding pixels. */
export function parseCbfHeader(
  bytes: Uint8Array,
  opts: ParseCbfOptions = {},
): { header: MiniCbfHeader; binary: CbfBinaryInfo } {
  const file = opts.file ?? "<bytes>";
  const fail = (problem: string) => new ImageFormatError(problem, { file });
  const buf = asBuffer(bytes);
  const section = buf.indexOf(SECTION, 0, "latin1");
  if (section < 0) {
    const isCbf = buf.subarray(0, 6).toString("latin1") === "###CBF";
    throw fail(
      isCbf
        ? `no binary section (${SECTION}): truncated in the text header?`
        : "not a CBF file (no ###CBF magic and no binary section)",
    );
  }
  const tag = buf.indexOf(START_TAG, section);
  if (tag < 0) {
    throw fail(
      "truncated binary section: no start-of-data marker 0C 1A 04 D5 after the MIME header",
    );
  }
  const header = parseMiniCbfHeader(buf.toString("latin1", 0, section));
  const mime = parseMime(buf.toString("latin1", section + SECTION.length, tag));
  const get = (k: string) => mime.get(k.toLowerCase());

  const encoding = get("Content-Transfer-Encoding");
  if (encoding !== undefined && encoding.toUpperCase() !== "BINARY") {
    throw fail(`Content-Transfer-Encoding ${encoding} is not supported (only BINARY)`);
  }
  const conversions = /conversions\s*=\s*"?([^";\s]+)"?/i.exec(get("Content-Type") ?? "")?.[1];
  let compression: CbfCompression;
  if (conversions === undefined || /^(x-CBF_NONE|none)$/i.test(conversions)) compression = "none";
  else if (/^x-CBF_BYTE_OFFSET$/i.test(conversions)) compression = "byte_offset";
  else {
    throw fail(
      `compression "${conversions}" is not supported (only x-CBF_BYTE_OFFSET and x-CBF_NONE)`,
    );
  }
  const typeText = (get("X-Binary-Element-Type") ?? "signed 32-bit integer")
    .replace(/["']/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .toLowerCase();
  if (!(typeText in ELEMENT_TYPES)) {
    throw fail(`X-Binary-Element-Type "${typeText}" is not supported (integers only)`);
  }
  const order = get("X-Binary-Element-Byte-Order");
  if (order !== undefined && !/^LITTLE_ENDIAN$/i.test(order)) {
    throw fail(`X-Binary-Element-Byte-Order ${order} is not supported (only LITTLE_ENDIAN)`);
  }
  const int = (k: string): number | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw fail(`${k}: "${v}" is not a non-negative integer`);
    return x;
  };
  const width = int("X-Binary-Size-Fastest-Dimension");
  if (width === undefined || width === 0) {
    throw fail("X-Binary-Size-Fastest-Dimension is missing or 0");
  }
  const elements = int("X-Binary-Number-of-Elements");
  const height = int("X-Binary-Size-Second-Dimension") ?? (elements ?? 0) / width;
  if (!Number.isInteger(height) || height === 0) {
    throw fail(
      "X-Binary-Size-Second-Dimension is missing and X-Binary-Number-of-Elements does not give it",
    );
  }
  const third = int("X-Binary-Size-Third-Dimension");
  if (third !== undefined && third > 1) {
    throw fail(`3-D arrays are not supported (X-Binary-Size-Third-Dimension ${third})`);
  }
  if (elements !== undefined && elements !== width * height) {
    throw fail(
      `size mismatch: X-Binary-Number-of-Elements says ${elements} but ${width} x ${height} = ${width * height}`,
    );
  }
  return {
    header,
    binary: {
      width,
      height,
      elementType: typeText as CbfElementType,
      compression,
      binarySizeBytes: int("X-Binary-Size"),
      md5: get("Content-MD5"),
      dataOffset: tag + START_TAG.length,
    },
  };
}

/** MIME header lines "Key: value", continuation lines folded onto the previous one. */
function parseMime(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n|\r/)) {
    if (!line.trim()) continue;
    if (/^\s/.test(line) && last !== undefined) {
      out.set(last, `${out.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    out.set(last, line.slice(colon + 1).trim());
  }
  return out;
}

/** Decode a CBF file's bytes. Throws ImageFormatError saying what is wrong with them. */
export function parseCbf(bytes: Uint8Array, opts: ParseCbfOptions = {}): CbfImage {
  const file = opts.file ?? "<bytes>";
  const fail = (problem: string) => new ImageFormatError(problem, { file });
  const { header, binary } = parseCbfHeader(bytes, opts);
  const { width, height, elementType, compression, binarySizeBytes: size } = binary;
  const n = width * height;
  const elem = ELEMENT_TYPES[elementType];
  const available = bytes.length - binary.dataOffset;
  if (size !== undefined && size > available) {
    throw fail(
      `truncated binary section: X-Binary-Size says ${size} but ${available} bytes follow`,
    );
  }
  const payload = bytes.subarray(binary.dataOffset, binary.dataOffset + (size ?? available));
  if (opts.verifyMd5 && binary.md5 !== undefined) {
    const got = crypto.createHash("md5").update(payload).digest("base64");
    if (got !== binary.md5) {
      throw fail(`Content-MD5 mismatch: header says ${binary.md5}, the data hashes to ${got}`);
    }
  }
  const data = new Int32Array(n);
  if (compression === "byte_offset") {
    decodeInto(payload, size, elem.bytes, data, fail, `${width} x ${height}`);
  } else {
    const need = n * elem.bytes;
    if (payload.length < need || (size !== undefined && size !== need)) {
      throw fail(
        size !== undefined && size !== need
          ? `size mismatch: X-Binary-Size says ${size} but ${n} uncompressed ${elementType}s take ${need} bytes`
          : `truncated binary section: ${n} uncompressed ${elementType}s need ${need} bytes but ${payload.length} follow`,
      );
    }
    copyUncompressed(payload.subarray(0, need), elem, data, fail);
  }
  // Unsigned 32-bit values above 2^31 - 1 wrapped negative: refuse rather than return them.
  if (elementType === "unsigned 32-bit integer") {
    for (let i = 0; i < n; i++) {
      if (data[i]! < 0) throw fail(outOfRange(i, data[i]! >>> 0));
    }
  }
  return { width, height, data, header, elementType, compression };
}

function outOfRange(i: number, value: number | bigint): string {
  return `pixel ${i} is ${value}, outside the int32 range this reader returns`;
}

function decodeInto(
  payload: Uint8Array,
  size: number | undefined,
  elemBytes: number,
  data: Int32Array,
  fail: (problem: string) => ImageFormatError,
  dims: string,
): void {
  const n = data.length;
  // With X-Binary-Size the bytes are all there (checked before): the sizes disagree.
  const shortOf = (decoded: number) =>
    fail(
      size !== undefined
        ? `size mismatch: the ${size} bytes X-Binary-Size gives hold ${decoded} of the ${dims} = ${n} pixels`
        : `truncated binary section: the ${payload.length} bytes after the start tag hold ${decoded} of the ${dims} = ${n} pixels`,
    );
  const sizeMismatch = (consumed: number) =>
    fail(`size mismatch: X-Binary-Size says ${size} bytes but the ${n} pixels took ${consumed}`);
  if (elemBytes === 8) {
    const { values, decoded, consumed } = decodeByteOffsetWide(payload, n);
    if (decoded < n) throw shortOf(decoded);
    if (size !== undefined && consumed !== size) throw sizeMismatch(consumed);
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x < -2147483648 || x > 2147483647) throw fail(outOfRange(i, x));
      data[i] = x;
    }
    return;
  }
  let r = decodeByteOffset(payload, data);
  // A 4-byte 0x80000000 is a literal delta for CBFlib, dxtbx and fabio; a writer following
  // the spec's 64-bit escape instead is recognised by X-Binary-Size matching only that reading.
  if (r.ambiguous > 0 && size !== undefined && (r.decoded < n || r.consumed !== size)) {
    const escaped = decodeByteOffset(payload, new Int32Array(n), true);
    if (escaped.decoded === n && escaped.consumed === size)
      r = decodeByteOffset(payload, data, true);
  }
  if (r.decoded < n) throw shortOf(r.decoded);
  if (size !== undefined && r.consumed !== size) throw sizeMismatch(r.consumed);
}

function copyUncompressed(
  src: Uint8Array,
  elem: { bytes: number; signed: boolean },
  out: Int32Array,
  fail: (problem: string) => ImageFormatError,
): void {
  // Copy to an aligned buffer first: the payload's offset in the file is arbitrary.
  const aligned = new Uint8Array(src).buffer;
  const n = out.length;
  if (elem.bytes === 8) {
    const wide = elem.signed ? new BigInt64Array(aligned, 0, n) : new BigUint64Array(aligned, 0, n);
    for (let i = 0; i < n; i++) {
      const x = wide[i]!;
      if (x < -2147483648n || x > 2147483647n) throw fail(outOfRange(i, x));
      out[i] = Number(x);
    }
  } else if (elem.bytes === 4) out.set(new Int32Array(aligned, 0, n));
  else if (elem.bytes === 2) {
    out.set(elem.signed ? new Int16Array(aligned, 0, n) : new Uint16Array(aligned, 0, n));
  } else out.set(elem.signed ? new Int8Array(aligned, 0, n) : new Uint8Array(aligned, 0, n));
}

/** Gzipped CBFs (`.cbf.gz`, as beamlines archive them) are inflated transparently. */
function inflateIfGzip(file: string, bytes: Buffer): Buffer {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return zlib.gunzipSync(bytes);
  } catch (e) {
    throw new ImageFormatError(
      `gzip data is damaged: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
}

function notFound(file: string, e: unknown): unknown {
  return (e as NodeJS.ErrnoException).code === "ENOENT"
    ? new ImageNotFoundError("no such file", { file })
    : e;
}

export function readCbfSync(file: string, opts: Omit<ParseCbfOptions, "file"> = {}): CbfImage {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw notFound(file, e);
  }
  return parseCbf(inflateIfGzip(file, bytes), { ...opts, file });
}

export async function readCbf(
  file: string,
  opts: Omit<ParseCbfOptions, "file"> = {},
): Promise<CbfImage> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw notFound(file, e);
  }
  return parseCbf(inflateIfGzip(file, bytes), { ...opts, file });
}

// ---- writing ----------------------------------------------------------------------------

export interface CbfImageInput {
  width: number;
  height: number;
  /** Slow-major, width * height values. */
  data: Int32Array;
}

export interface EncodeCbfOptions {
  /** CIF data block name (`data_<name>`); default "image". */
  name?: string;
}

/** Pilatus module geometry dxtbx assumes for Pilatus miniCBFs (FormatPilatusHelpers). */
const PILATUS_MODULE = { fast: 487, slow: 195, gapFast: 7, gapSlow: 17 };

/**
 * Is width x height a whole number of Pilatus modules with the standard gaps? dxtbx's
 * FormatCBFMiniPilatus asserts this when it builds the detector (to mask the gaps).
 */
export function isPilatusLayout(width: number, height: number): boolean {
  const fits = (size: number, module: number, gap: number) => {
    const k = Math.floor(size / module);
    return k >= 1 && size - k * module === (k - 1) * gap;
  };
  return (
    fits(width, PILATUS_MODULE.fast, PILATUS_MODULE.gapFast) &&
    fits(height, PILATUS_MODULE.slow, PILATUS_MODULE.gapSlow)
  );
}

/** Header lines dxtbx needs to build the models, with defaults for the non-physical ones. */
function withDefaults(
  image: CbfImageInput,
  h: Partial<MiniCbfHeader>,
): Partial<MiniCbfHeader> & { headerConvention: string; detector: string } {
  const pilatusShaped = isPilatusLayout(image.width, image.height);
  const detector = h.detector ?? (pilatusShaped ? "PILATUS, S/N 60-0000" : "GENERIC, S/N 60-0000");
  if (/PILATUS/i.test(detector) && !pilatusShaped) {
    throw new RangeError(
      `a ${image.width} x ${image.height} image cannot be written as a PILATUS miniCBF: dxtbx requires ` +
        `whole Pilatus modules (n x 487 + (n-1) x 7 by m x 195 + (m-1) x 17 pixels); ` +
        `give a detector name without "PILATUS" to write it with header convention GENERIC_MINI`,
    );
  }
  return {
    ...h,
    detector,
    headerConvention:
      h.headerConvention ?? (/PILATUS/i.test(detector) ? "PILATUS_1.2" : "GENERIC_MINI"),
    // camserver style: milliseconds, no zone.
    timestamp: h.timestamp ?? new Date().toISOString().replace(/Z$/, ""),
    exposurePeriodS: h.exposurePeriodS ?? h.exposureTimeS,
    countCutoff: h.countCutoff ?? 1048575,
    startAngleDeg: h.startAngleDeg ?? 0,
    angleIncrementDeg: h.angleIncrementDeg ?? 0,
  };
}

/**
 * A miniCBF (byte_offset, signed 32-bit, Pilatus header) that fabio and dxtbx read. Header
 * fields not given are not written, except: detector (PILATUS for Pilatus-shaped images,
 * GENERIC otherwise), header convention, timestamp (now), exposure period (= exposure
 * time), count cutoff (1048575), start angle and increment (0). dxtbx also needs
 * pixelSizeM, wavelengthA, detectorDistanceM and beamXyPx to build its models.
 */
export function encodeCbf(
  image: CbfImageInput,
  header: Partial<MiniCbfHeader> = {},
  opts: EncodeCbfOptions = {},
): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size ${width} x ${height} must be positive integers`);
  }
  if (data.length !== width * height) {
    throw new RangeError(
      `image data has ${data.length} values, ${width} x ${height} needs ${width * height}`,
    );
  }
  const h = withDefaults(image, header);
  const blob = encodeByteOffsetView(data);
  const md5 = crypto.createHash("md5").update(blob).digest("base64");
  const name = (opts.name ?? "image").replace(/[^A-Za-z0-9_.-]/g, "_") || "image";
  const padding = 4095; // as the Pilatus camserver writes: zeros after the data
  const head = [
    "###CBF: VERSION 1.5, CBFlib v0.7.8 - PILATUS detectors (written by stagelab)",
    "",
    `data_${name}`,
    "",
    `_array_data.header_convention "${h.headerConvention}"`,
    "_array_data.header_contents",
    ";",
    ...formatMiniCbfLines(h),
    ";",
    "",
    "_array_data.data",
    ";",
    SECTION,
    "Content-Type: application/octet-stream;",
    '     conversions="x-CBF_BYTE_OFFSET"',
    "Content-Transfer-Encoding: BINARY",
    `X-Binary-Size: ${blob.length}`,
    "X-Binary-ID: 1",
    'X-Binary-Element-Type: "signed 32-bit integer"',
    "X-Binary-Element-Byte-Order: LITTLE_ENDIAN",
    `Content-MD5: ${md5}`,
    `X-Binary-Number-of-Elements: ${width * height}`,
    `X-Binary-Size-Fastest-Dimension: ${width}`,
    `X-Binary-Size-Second-Dimension: ${height}`,
    `X-Binary-Size-Padding: ${padding}`,
    "",
    "",
  ].join("\r\n");
  const tail = `\r\n${SECTION}--\r\n;\r\n\r\n`;
  const headBytes = Buffer.from(head, "latin1");
  const out = new Uint8Array(
    headBytes.length + START_TAG.length + blob.length + padding + tail.length,
  );
  let p = 0;
  out.set(headBytes, p);
  p += headBytes.length;
  out.set(START_TAG, p);
  p += START_TAG.length;
  out.set(blob, p);
  p += blob.length + padding;
  out.set(Buffer.from(tail, "latin1"), p);
  return out;
}

function blockName(file: string): string {
  return path.basename(file).replace(/\.cbf$/i, "");
}

/** A temp name beside the target: same filesystem, so the final rename is atomic. */
function tempPath(file: string): string {
  const rand = crypto.randomBytes(4).toString("hex");
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${rand}.tmp`);
}

/** Write a miniCBF atomically: a reader sees either no file (or the old one) or all of it. */
export function writeCbfSync(
  file: string,
  image: CbfImageInput,
  header: Partial<MiniCbfHeader> = {},
): void {
  const bytes = encodeCbf(image, header, { name: blockName(file) });
  const tmp = tempPath(file);
  try {
    const fd = fs.openSync(tmp, "wx");
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeCbf(
  file: string,
  image: CbfImageInput,
  header: Partial<MiniCbfHeader> = {},
): Promise<void> {
  const bytes = encodeCbf(image, header, { name: blockName(file) });
  const tmp = tempPath(file);
  try {
    const fh = await fs.promises.open(tmp, "wx");
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}
