/**
 * Typed errors for bad input to the diffuse-extraction stage. Each message names the still,
 * the panel and the offending option with its value, so a notebook user can act on it.
 */

export interface DiffuseErrorContext {
  /** The option or argument at fault (`mask`, `exposureTimeS`, `background.map`, ...). */
  field?: string | undefined;
  panelIndex?: number | undefined;
  stillId?: number | undefined;
}

export class DiffuseInputError extends Error {
  readonly field: string | undefined;
  readonly panelIndex: number | undefined;
  readonly stillId: number | undefined;

  constructor(problem: string, ctx: DiffuseErrorContext = {}) {
    const where = [
      ctx.stillId === undefined ? undefined : `still ${ctx.stillId}`,
      ctx.panelIndex === undefined ? undefined : `panel ${ctx.panelIndex}`,
    ]
      .filter((s) => s !== undefined)
      .join(", ");
    const field = ctx.field === undefined ? "" : `${ctx.field}: `;
    super(`${where ? `${where}: ` : ""}${field}${problem}`);
    this.name = new.target.name;
    this.field = ctx.field;
    this.panelIndex = ctx.panelIndex;
    this.stillId = ctx.stillId;
  }
}
