/**
 * Typed error for the symmetry module: unknown or unsupported space-group symbols and
 * malformed index arrays. `symbol` holds the offending symbol (as given) when there is one.
 */
export class SymmetryError extends Error {
  readonly symbol: string | undefined;

  constructor(message: string, symbol?: string) {
    super(message);
    this.name = new.target.name;
    this.symbol = symbol;
  }
}
