/**
 * Typed errors for detector image I/O. Each names the file (and the frame or panel when there
 * is one) and says what is wrong in terms a user can check against the file itself.
 */

export interface ImageErrorContext {
  /** File path as the caller gave it (or a label such as "<bytes>" for in-memory data). */
  file: string;
  /** Frame index within the file, when the error concerns one. */
  frame?: number | undefined;
  /** Detector panel name, when the error concerns one. */
  panel?: string | undefined;
}

export class ImageError extends Error {
  readonly file: string;
  readonly frame: number | undefined;
  readonly panel: string | undefined;
  /** The problem alone, without the file prefix. */
  readonly problem: string;

  constructor(problem: string, ctx: ImageErrorContext, options?: { cause?: unknown }) {
    const where = [
      ctx.file,
      ctx.frame !== undefined ? `frame ${ctx.frame}` : undefined,
      ctx.panel !== undefined ? `panel "${ctx.panel}"` : undefined,
    ]
      .filter((s) => s !== undefined)
      .join(", ");
    super(`${where}: ${problem}`, options);
    this.name = new.target.name;
    this.file = ctx.file;
    this.frame = ctx.frame;
    this.panel = ctx.panel;
    this.problem = problem;
  }
}

/** The image file is missing (or a file an HDF5 external link points to is). */
export class ImageNotFoundError extends ImageError {}

/**
 * The bytes are not an image we can read: truncated binary section, unsupported compression
 * or element type, sizes that disagree, missing keys, checksum mismatch, wrong dataset rank.
 */
export class ImageFormatError extends ImageError {}

/** A frame index outside the file's frames (the imageset and the file disagree). */
export class FrameIndexError extends ImageFormatError {}

/** A detector panel that does not fit inside the raw image (the model and the file disagree). */
export class PanelLayoutError extends ImageFormatError {}
