/**
 * A still's Bragg mask from its reflection table (plan Module 1.S.3): the union of the
 * shoebox foreground pixels of every reflection (option B of the plan), or of their
 * bounding boxes when shoeboxes were not saved (the region `dials.generate_mask` would
 * cover). Shoeboxes span frames; a still has one, so the mask is the projection over z.
 */
import type { Detector } from "../geometry/models.js";
import type { ReflectionTable } from "../dials/reflection-table.js";
import type { BraggMask } from "./masks.js";
import { DiffuseInputError } from "./errors.js";

export type BraggMaskSource = "shoebox" | "bbox";

export interface BraggMaskOptions {
  source?: BraggMaskSource;
  /** Grow every masked region by this many pixels (default 0). */
  dilatePx?: number;
  /** Only reflections of this experiment id (the `id` column), when the table holds several. */
  experimentId?: number;
}

/** DIALS MaskCode.Foreground. */
const FOREGROUND = 2;

export function braggMask(
  detector: Detector,
  table: ReflectionTable,
  opts: BraggMaskOptions = {},
): BraggMask {
  const source = opts.source ?? "shoebox";
  const masks = detector.panels.map((p) => new Uint8Array(p.imageSize[0] * p.imageSize[1]));
  const ids = table.columns.get("id");
  const keep = (r: number) =>
    opts.experimentId === undefined || (ids?.type === "int" && ids.data[r] === opts.experimentId);
  const grow = Math.max(0, Math.floor(opts.dilatePx ?? 0));

  const paint = (
    panel: number,
    x0: number,
    x1: number,
    y0: number,
    y1: number,
    fg?: (x: number, y: number) => boolean,
  ) => {
    const p = detector.panels[panel];
    if (!p)
      throw new DiffuseInputError(
        `reflection on panel ${panel}, but the detector has ${detector.panels.length} panels`,
      );
    const [nFast, nSlow] = p.imageSize;
    const m = masks[panel]!;
    for (let y = Math.max(0, y0 - grow); y < Math.min(nSlow, y1 + grow); y++)
      for (let x = Math.max(0, x0 - grow); x < Math.min(nFast, x1 + grow); x++) {
        if (fg && !fg(x, y)) continue;
        m[y * nFast + x] = 1;
      }
  };

  if (source === "shoebox") {
    const col = table.columns.get("shoebox");
    if (!col || col.type !== "Shoebox<>")
      throw new DiffuseInputError(
        "the reflection table has no shoebox column; use the bbox Bragg mask",
      );
    col.data.forEach((sb, r) => {
      if (!keep(r)) return;
      const [x0, x1, y0, y1, z0, z1] = sb.bbox;
      const nx = x1 - x0,
        ny = y1 - y0,
        nz = z1 - z0;
      const mask = sb.mask;
      if (!mask || mask.length !== nx * ny * nz) {
        paint(sb.panel, x0, x1, y0, y1);
        return;
      }
      // Foreground in any frame of the shoebox (z, y, x order); grow applies around each pixel.
      const fgAt = (x: number, y: number) => {
        for (let z = 0; z < nz; z++)
          if ((mask[(z * ny + y) * nx + x]! & FOREGROUND) !== 0) return true;
        return false;
      };
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++)
          if (fgAt(x, y)) paint(sb.panel, x0 + x, x0 + x + 1, y0 + y, y0 + y + 1);
    });
    return masks;
  }

  const bbox = table.columns.get("bbox");
  const panel = table.columns.get("panel");
  if (!bbox || bbox.type !== "int6")
    throw new DiffuseInputError("the reflection table has no bbox column (int6)");
  for (let r = 0; r < table.nrows; r++) {
    if (!keep(r)) continue;
    const pnl = panel && panel.type === "std::size_t" ? Number(panel.data[r]) : 0;
    const b = bbox.data;
    paint(pnl, b[6 * r]!, b[6 * r + 1]!, b[6 * r + 2]!, b[6 * r + 3]!);
  }
  return masks;
}
