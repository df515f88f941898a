/**
 * Typed errors for the scattering-factor and absolute-scaling code. Each message names the
 * argument at fault and, where there is one, the offending element symbol or value.
 */

export interface ScatteringErrorContext {
  /** The argument or option at fault (`inventory`, `stol`, `bragg.sigma`, `qRange`, ...). */
  field?: string | undefined;
  /** The element or ion label at fault, as the caller wrote it. */
  symbol?: string | undefined;
}

export class ScatteringError extends Error {
  readonly field: string | undefined;
  readonly symbol: string | undefined;
  /** The problem alone, without the field prefix. */
  readonly problem: string;

  constructor(problem: string, ctx: ScatteringErrorContext = {}) {
    super(`${ctx.field === undefined ? "" : `${ctx.field}: `}${problem}`);
    this.name = new.target.name;
    this.field = ctx.field;
    this.symbol = ctx.symbol;
    this.problem = problem;
  }
}

/** An element symbol or ion label that the tables do not know. */
export class UnknownElementError extends ScatteringError {}
