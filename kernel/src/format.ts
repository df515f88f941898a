/**
 * Turning values into Jupyter mimebundles.
 *
 * An object may provide its own representation with a `[Symbol.for("Jupyter.display")]()`
 * method returning a mimebundle (the same hook other JS kernels use). Typed arrays and the
 * store's {dtype, shape, data} arrays get a numeric summary; everything else util.inspect.
 */
import { inspect } from "node:util";

export type MimeBundle = Record<string, unknown>;

export const DISPLAY_SYMBOL = Symbol.for("Jupyter.display");

export function hasOwnDisplay(v: unknown): v is { [DISPLAY_SYMBOL]: () => MimeBundle } {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as Record<symbol, unknown>)[DISPLAY_SYMBOL] === "function"
  );
}

type Numeric = ArrayLike<number> | ArrayLike<bigint>;

function isTypedArray(v: unknown): v is Numeric & ArrayBufferView {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

interface ArrayLikeRecord {
  dtype: string;
  shape: number[];
  data: Numeric & ArrayBufferView;
}

function isStoreArray(v: unknown): v is ArrayLikeRecord {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.dtype === "string" && Array.isArray(o.shape) && isTypedArray(o.data);
}

function stats(
  data: Numeric,
  stride = 1,
  offset = 0,
): { min: number; max: number; mean: number; nan: number } | undefined {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  let nan = 0;
  for (let i = offset; i < data.length; i += stride) {
    const x = Number(data[i]);
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    n++;
  }
  return n ? { min, max, mean: sum / n, nan } : undefined;
}

const fmt = (x: number) =>
  Number.isInteger(x) && Math.abs(x) < 1e15 ? String(x) : x.toPrecision(6);

export function summarizeArray(dtype: string, shape: number[], data: Numeric): string {
  const complex = dtype.startsWith("complex");
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = (data as unknown as ArrayBufferView).byteLength;
  let line = `${dtype} array, shape [${shape.join(", ")}] (${n.toLocaleString("en")} values, ${humanBytes(bytes)})`;
  if (complex) {
    const re = stats(data, 2, 0);
    const im = stats(data, 2, 1);
    if (re && im)
      line += `\n  re: min ${fmt(re.min)}  max ${fmt(re.max)}  mean ${fmt(re.mean)}\n  im: min ${fmt(im.min)}  max ${fmt(im.max)}  mean ${fmt(im.mean)}`;
  } else {
    const s = stats(data);
    if (s)
      line += `\n  min ${fmt(s.min)}  max ${fmt(s.max)}  mean ${fmt(s.mean)}${s.nan ? `  NaN ${s.nan}` : ""}`;
  }
  const head = Array.from({ length: Math.min(8, data.length) }, (_, i) => String(data[i]));
  line += `\n  [${head.join(", ")}${data.length > 8 ? ", …" : ""}]`;
  return line;
}

export function humanBytes(b: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = b;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

/** The mimebundle for a cell's result value. */
export function formatValue(v: unknown): MimeBundle {
  if (hasOwnDisplay(v)) {
    const bundle = v[DISPLAY_SYMBOL]();
    if (bundle && typeof bundle === "object") {
      return "text/plain" in bundle
        ? bundle
        : { ...bundle, "text/plain": inspect(v, { depth: 1 }) };
    }
  }
  if (isStoreArray(v)) return { "text/plain": summarizeArray(v.dtype, v.shape, v.data) };
  if (isTypedArray(v)) {
    const name = v.constructor.name.replace(/Array$/, "").toLowerCase();
    return { "text/plain": summarizeArray(name, [v.length], v) };
  }
  if (typeof v === "string") return { "text/plain": v.includes("\n") ? v : JSON.stringify(v) };
  return { "text/plain": inspect(v, { depth: 3, maxArrayLength: 50, breakLength: 100 }) };
}
