/**
 * What the file viewers (H5View, VoxelView, FftExplorer, PrefitSnapshot, FitDashboard) share:
 * a read-only reader on the store's thread, a static preview shown with the widget for readers
 * without a kernel, a "follow" mode that polls for new commits while the file is being
 * written, errors sent to the view as text, and file-controlled attributes as text.
 */
import type { AsyncStoreReader } from "@stagelab/core";
import { Widget, type WidgetState } from "../widgets/widget.js";
import { DISPLAY_SYMBOL, type MimeBundle } from "../format.js";

export interface FollowState extends WidgetState {
  following: boolean;
  poll_ms: number;
  error: string;
}

/**
 * The follow fields of a view's first state: it follows while the file is being written
 * (unless `follow` says otherwise) and polls every `pollMs` (default 500, at least 50).
 */
export function followState(
  opts: { follow?: boolean; pollMs?: number },
  fileState: string,
  sequence: number,
): { following: boolean; poll_ms: number; sequence: number; file_state: string; error: string } {
  return {
    following: opts.follow ?? fileState === "writing",
    poll_ms: Math.max(50, opts.pollMs ?? 500),
    sequence,
    file_state: fileState,
    error: "",
  };
}

/** Text of an attribute value (JSON for non-strings): file-controlled, shown as text only. */
export function attrText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (ArrayBuffer.isView(v)) return `[${Array.from(v as unknown as ArrayLike<number>).join(", ")}]`;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** An error as one line of widget text ("Name: message" for typed errors). */
export function errorText(e: unknown): string {
  if (e instanceof Error)
    return e.name && e.name !== "Error" ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

/** What a file view reads through: the store's reader by default (FftExplorer: the cache's). */
export interface ClosableReader {
  close(): Promise<void>;
}

export abstract class FileView<
  S extends FollowState,
  R extends ClosableReader = AsyncStoreReader,
> extends Widget<S> {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  protected preview: MimeBundle = {};

  protected constructor(
    protected readonly reader: R,
    model: ConstructorParameters<typeof Widget<S>>[0],
    state: S,
  ) {
    super(model, state);
    this.observe(() => this.schedule(), ["following", "poll_ms"]);
    this.comm.onClose(() => void this.dispose());
    this.schedule();
  }

  /** One poll while following: refresh the reader and push what changed. */
  protected abstract pollOnce(): Promise<void>;

  /** Closes the reader when the widget goes (VoxelView waits for its queued reads). */
  protected closeReader(): Promise<void> {
    return this.reader.close();
  }

  /** Draw the static preview; should drawing fail, the preview is `text()` alone. */
  protected async setPreview(draw: () => Promise<MimeBundle>, text: () => string): Promise<void> {
    try {
      this.preview = await draw();
    } catch {
      this.preview = { "text/plain": text() };
    }
  }

  /** A failed request `id` as an error message to the views (errorText of `e`). */
  protected sendError(id: string, e: unknown): void {
    if (!this.comm.isClosed) this.sendCustom({ type: "error", id, message: errorText(e) });
  }

  /** Follow new commits (or stop following). */
  follow(on = true): void {
    this.set({ following: on } as Partial<S>);
  }

  override [DISPLAY_SYMBOL](): MimeBundle {
    return {
      ...this.preview,
      ...super[DISPLAY_SYMBOL](),
      "text/plain": String(this.preview["text/plain"] ?? this.toString()),
    };
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.get("following") || this.comm.isClosed) return;
    this.timer = setInterval(() => void this.poll(), Math.max(50, this.get("poll_ms")));
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.pollOnce();
    } catch (e) {
      this.set({ error: (e as Error).message } as Partial<S>);
    } finally {
      this.polling = false;
    }
  }

  private async dispose(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.closeReader();
  }

  override close(): void {
    super.close();
    void this.dispose();
  }
}
