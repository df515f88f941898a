/**
 * A bound on work in flight: a stage hands its worker calls (and what it does with their
 * results, e.g. writing a block) to add(), which waits while `limit` are pending, so memory
 * stays bounded while every worker stays busy. Used by the super-resolution steps and the
 * CubeFit HyperCube build.
 */

/**
 * At most `limit` promises pending: add() waits for a free place. The first failure is
 * rethrown by add() or drain(); settle() waits for all without throwing (cleanup paths).
 */
export class InFlight {
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;
  private failed = false;

  constructor(private readonly limit: number) {}

  async add(p: Promise<void>): Promise<void> {
    const tracked = p.then(
      () => void this.pending.delete(tracked),
      (e) => {
        this.pending.delete(tracked);
        if (!this.failed) {
          this.failed = true;
          this.failure = e;
        }
      },
    );
    this.pending.add(tracked);
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.failed) throw this.failure;
  }

  async drain(): Promise<void> {
    await this.settle();
    if (this.failed) throw this.failure;
  }

  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }
}
