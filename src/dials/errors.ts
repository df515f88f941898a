/**
 * Typed errors for DIALS files. Messages name the file, where in it (a column, or a JSON path
 * such as `experiment[2].beam`) and what is wrong, so a notebook user can act on them.
 */

export class DialsError extends Error {
  /** The file as the caller named it, when there is one. */
  readonly file: string | undefined;
  /** Where in the file: a column name or a JSON path. */
  readonly location: string | undefined;
  /** The problem alone, without file and location. */
  readonly problem: string;

  constructor(
    problem: string,
    ctx: { file?: string | undefined; location?: string | undefined } = {},
  ) {
    const where = [ctx.file, ctx.location].filter((x) => x !== undefined && x !== "").join(": ");
    super(where ? `${where}: ${problem}` : problem);
    this.name = new.target.name;
    this.file = ctx.file;
    this.location = ctx.location;
    this.problem = problem;
  }
}

/** The bytes or JSON are not a valid DIALS file (or not one this reader understands). */
export class DialsFormatError extends DialsError {}

/** A reflection-table column is missing, or holds another type than the caller asked for. */
export class DialsColumnError extends DialsError {
  readonly column: string;
  /** The type the caller asked for. */
  readonly expected: string;
  /** The column's type, or undefined when there is no such column. */
  readonly actual: string | undefined;

  constructor(
    problem: string,
    column: string,
    expected: string,
    actual: string | undefined,
    file?: string,
  ) {
    super(problem, { file, location: `column '${column}'` });
    this.column = column;
    this.expected = expected;
    this.actual = actual;
  }
}
