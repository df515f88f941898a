/**
 * Display helpers for cells: rich outputs, updatable displays, and a progress bar.
 */
import { randomUUID } from "node:crypto";
import { kernelApi } from "./kernel-api.js";
import { formatValue, type MimeBundle } from "./format.js";

/** An output that can be replaced in place (a display_id). */
export class DisplayHandle {
  readonly displayId = randomUUID();
  private shown = false;

  /** Show `value` (any value, formatted like a cell result) or replace what is shown. */
  update(value: unknown): void {
    this.bundle(formatValue(value));
  }

  /** Show or replace with an explicit mimebundle. */
  bundle(bundle: MimeBundle, metadata: Record<string, unknown> = {}): void {
    kernelApi().display(bundle, { displayId: this.displayId, update: this.shown, metadata });
    this.shown = true;
  }
}

function show(bundle: MimeBundle, metadata?: Record<string, unknown>): void {
  kernelApi().display(bundle, metadata ? { metadata } : {});
}

const b64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** Display any value (objects may define `[Symbol.for("Jupyter.display")]()`). */
export const display = Object.assign((value: unknown) => show(formatValue(value)), {
  text: (s: string) => show({ "text/plain": s }),
  html: (s: string) => show({ "text/html": s, "text/plain": "[HTML]" }),
  markdown: (s: string) => show({ "text/markdown": s, "text/plain": s }),
  latex: (s: string) => show({ "text/latex": s, "text/plain": s }),
  svg: (s: string) => show({ "image/svg+xml": s, "text/plain": "[SVG image]" }),
  png: (bytes: Uint8Array, size?: { width: number; height: number }) =>
    show(
      { "image/png": b64(bytes), "text/plain": "[PNG image]" },
      size ? { "image/png": size } : undefined,
    ),
  jpeg: (bytes: Uint8Array) => show({ "image/jpeg": b64(bytes), "text/plain": "[JPEG image]" }),
  json: (value: unknown) =>
    show({ "application/json": value, "text/plain": JSON.stringify(value, null, 2) }),
  /** A Vega-Lite v5 spec; JupyterLab renders it natively. */
  vegalite: (spec: Record<string, unknown>) =>
    show({ "application/vnd.vegalite.v5+json": spec, "text/plain": "[Vega-Lite chart]" }),
  bundle: (bundle: MimeBundle, metadata?: Record<string, unknown>) => show(bundle, metadata),
});

export function newDisplay(): DisplayHandle {
  return new DisplayHandle();
}

export function clearOutput(wait = false): void {
  kernelApi().clearOutput(wait);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * A progress bar for long stages: an updatable output with count, rate and ETA, updated at
 * most every `intervalMs` (so a hot loop calling tick() costs almost nothing).
 */
export class ProgressBar {
  private readonly handle = new DisplayHandle();
  private readonly started = performance.now();
  private lastDraw = -Infinity;
  private count = 0;

  constructor(
    readonly total: number,
    readonly label = "",
    private readonly intervalMs = 200,
  ) {
    this.draw();
  }

  get value(): number {
    return this.count;
  }

  tick(n = 1): void {
    this.update(this.count + n);
  }

  update(count: number): void {
    this.count = count;
    const now = performance.now();
    if (now - this.lastDraw >= this.intervalMs || count >= this.total) this.draw();
  }

  done(): void {
    this.count = Math.max(this.count, this.total);
    this.draw();
  }

  /** The text shown, e.g. `frames  45% 450/1000 [00:12<00:15, 37.5 it/s]`. */
  describe(): string {
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.count / elapsed : 0;
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 0;
    const eta = rate > 0 ? (this.total - this.count) / rate : Infinity;
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    const width = 24;
    const full = Math.round(frac * width);
    const bar = "█".repeat(full) + "░".repeat(width - full);
    const rateText =
      rate >= 1 || rate === 0 ? `${rate.toFixed(1)} it/s` : `${(1 / rate).toFixed(1)} s/it`;
    return `${this.label ? this.label + " " : ""}${pct} ${bar} ${this.count}/${this.total} [${clock(elapsed)}<${clock(eta)}, ${rateText}]`;
  }

  private draw(): void {
    this.lastDraw = performance.now();
    const text = this.describe();
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 0;
    this.handle.bundle({
      "text/plain": text,
      "text/html": `<div style="font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px)"><progress value="${frac.toFixed(4)}" max="1" style="width:16em;vertical-align:middle"></progress> ${escapeHtml(text.replace(/█|░/g, "").replace(/\s+/g, " "))}</div>`,
    });
  }
}

export function progress(total: number, label = ""): ProgressBar {
  return new ProgressBar(total, label);
}
