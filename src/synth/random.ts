/**
 * Seeded randomness for synthetic data: the same seed gives the same data on every machine,
 * so a resumed or regenerated still is bit-identical and tests can name their truth.
 */

/** A 32-bit generator (sfc32) returning uniforms in [0, 1). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seeds: number[]) {
    // Mix any number of integer seeds (dataset seed, still index, ...) into the state.
    let h = 0x811c9dc5;
    for (const s of seeds)
      h = Math.imul(h ^ (s >>> 0), 0x01000193) ^ Math.imul(s / 4294967296, 0x5bd1e995);
    this.a = h >>> 0;
    this.b = (h ^ 0x9e3779b9) >>> 0;
    this.c = Math.imul(h, 0x85ebca6b) >>> 0;
    this.d = 1;
    for (let i = 0; i < 15; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller, one value per call for simplicity). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /**
   * A Poisson deviate. Exact (Knuth's product method) below mean 30; above, the normal
   * approximation with continuity correction, whose error is far below the counting noise
   * it stands for.
   */
  poisson(mean: number): number {
    if (!(mean > 0)) return 0;
    if (mean < 30) {
      const limit = Math.exp(-mean);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
  }

  /** A uniformly random rotation matrix (row-major), from a random unit quaternion. */
  rotation(): [number, number, number, number, number, number, number, number, number] {
    const [u1, u2, u3] = [this.next(), this.next(), this.next()];
    const a = Math.sqrt(1 - u1),
      b = Math.sqrt(u1);
    const [w, x, y, z] = [
      a * Math.sin(2 * Math.PI * u2),
      a * Math.cos(2 * Math.PI * u2),
      b * Math.sin(2 * Math.PI * u3),
      b * Math.cos(2 * Math.PI * u3),
    ];
    return [
      1 - 2 * (y * y + z * z),
      2 * (x * y - z * w),
      2 * (x * z + y * w),
      2 * (x * y + z * w),
      1 - 2 * (x * x + z * z),
      2 * (y * z - x * w),
      2 * (x * z - y * w),
      2 * (y * z + x * w),
      1 - 2 * (x * x + y * y),
    ];
  }
}
