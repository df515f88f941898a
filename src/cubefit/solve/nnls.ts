/**
 * Exact NNLS for the global problem, on the streamed normal equations (gram.ts): the
 * Lawson-Hanson active-set method in Bro and de Jong's "fast NNLS" form (every solve uses
 * G = A^T A and h = A^T y only), with
 *
 * - column scaling: columns are normalized to unit norm (G_jj = 1) before the active-set
 *   steps, so the tolerance means the same for every column and a faint template is not
 *   mistaken for a zero one;
 * - an incrementally updated Cholesky factor of the passive block G_PP = R^T R: adding a
 *   column appends one (O(|P|^2)), removing one deletes its column and restores the triangle
 *   with Givens rotations (O(|P|^2)), so no step refactorizes (O(|P|^3));
 * - warm start from any x0 >= 0 (a Kaczmarz solution): its support is the first passive set
 *   and the feasible backtracking of the inner loop starts from x0 itself;
 * - a KKT certificate (kktResidual) so a notebook can see that the answer is optimal.
 *
 * KKT residual. With g = G x - h (half the gradient of ||Ax - y||^2), x is optimal iff
 * x >= 0, g >= 0 and x_i g_i = 0, i.e. iff min(x_i, g_i) = 0 for every i. The raw numbers
 * carry the units of the columns, so they are compared in the scaled problem where every
 * column a_j has unit norm: x'_j = ||a_j|| x_j (the part of y column j explains) and
 * g'_j = g_j / ||a_j|| (the residual's correlation with the unit column), both in units of
 * y. The reported residual is max_j |min(x'_j, g'_j)| / ||y||: independent of the scale of
 * each column and of y, 0 at the exact optimum, and < 1e-8 means no column can lower the
 * residual by more than 1e-8 ||y|| per unit of its (scaled) weight.
 */
import { residualSumOfSquares, type DesignSource } from "./design.js";
import { CubeFitSolveError, requireInt, requireVector } from "./errors.js";
import { normalEquations, type NormalEquations, type NormalEquationsOptions } from "./gram.js";

export interface NnlsOptions {
  /** Warm start (>= 0; negatives are clipped). */
  x0?: Float64Array;
  /**
   * Stop when no inactive column has a scaled gradient below -tol * ||y|| (the KKT residual of
   * the inactive columns is then <= tol). Default 1e-11.
   */
  tol?: number;
  /** Outer iterations (column additions). Default 3 * nCols, as Lawson and Hanson. */
  maxIter?: number;
  signal?: AbortSignal;
  onProgress?: (p: { iteration: number; passive: number }) => void;
}

export interface NnlsResult {
  x: Float64Array;
  /** ||A x - y||^2 from the normal equations (absolute error ~ 1e-16 * ||y||^2). */
  objective: number;
  /** KKT residual (see the module comment); < ~1e-10 at a converged solve. */
  kkt: number;
  /** Columns with x > 0. */
  passive: number;
  iterations: number;
  /** False when maxIter was reached or the run was stopped. */
  converged: boolean;
  aborted: boolean;
  warmStarted: boolean;
  seconds: number;
}

/** x^T G x - 2 h^T x + y^T y. */
export function objectiveFromNormal(ne: NormalEquations, x: Float64Array): number {
  const { n, gram, aty } = ne;
  let q = 0;
  let l = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    let gi = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) gi += gram[row + j]! * x[j]!;
    q += xi * gi;
    l += xi * aty[i]!;
  }
  return q - 2 * l + ne.yty;
}

/** g = G x - h. */
export function gradient(ne: NormalEquations, x: Float64Array): Float64Array {
  const { n, gram, aty } = ne;
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) g[i] = -aty[i]!;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const row = i * n;
    // G symmetric: add x_i * G[i, :] (row access, contiguous).
    for (let j = 0; j < n; j++) g[j] = g[j]! + xi * gram[row + j]!;
  }
  return g;
}

/** The scaled, relative KKT residual of x (module comment). Negative x counts as violation. */
export function kktResidual(ne: NormalEquations, x: Float64Array): number {
  requireVector("x", x, ne.n);
  const g = gradient(ne, x);
  const ynorm = Math.sqrt(ne.yty) || 1;
  let worst = 0;
  for (let j = 0; j < ne.n; j++) {
    const cn = Math.sqrt(ne.gram[j * ne.n + j]!);
    if (!(cn > 0)) continue; // a zero column: x_j does not enter the objective
    const v = Math.abs(Math.min(x[j]! * cn, g[j]! / cn));
    if (v > worst) worst = v;
  }
  return worst / ynorm;
}

export interface OptimumComparison {
  objective: number;
  optimum: number;
  /** objective - optimum (>= 0 up to rounding). */
  gap: number;
  /** gap / ||y||^2. */
  relGap: number;
  /** ||x - x*||. */
  distance: number;
  /** ||x - x*|| / ||x*||. */
  relDistance: number;
  /** kktResidual(x). */
  kkt: number;
}

/**
 * How far x (e.g. a Kaczmarz solution) is from the NNLS optimum x*. With `design`, both
 * objectives are recomputed from the rows (exact residuals; the normal-equation form loses
 * digits to cancellation when the residual is tiny against ||y||).
 */
export async function compareToOptimum(
  ne: NormalEquations,
  x: Float64Array,
  xStar: Float64Array,
  design?: DesignSource,
): Promise<OptimumComparison> {
  requireVector("x", x, ne.n);
  requireVector("xStar", xStar, ne.n);
  const objective = design
    ? (await residualSumOfSquares(design, x)).rss
    : objectiveFromNormal(ne, x);
  const optimum = design
    ? (await residualSumOfSquares(design, xStar)).rss
    : objectiveFromNormal(ne, xStar);
  let d2 = 0;
  let s2 = 0;
  for (let j = 0; j < ne.n; j++) {
    d2 += (x[j]! - xStar[j]!) ** 2;
    s2 += xStar[j]! ** 2;
  }
  const gap = objective - optimum;
  return {
    objective,
    optimum,
    gap,
    relGap: ne.yty > 0 ? gap / ne.yty : gap,
    distance: Math.sqrt(d2),
    relDistance: s2 > 0 ? Math.sqrt(d2 / s2) : Math.sqrt(d2),
    kkt: kktResidual(ne, x),
  };
}

/**
 * The passive set with its Cholesky factor G_PP = R^T R (R upper triangular, row-major with
 * stride n, in passive-set order), and u = R^-T h_P kept along with it, so the passive
 * block's solution needs only the back substitution R z = u. Rows of R are contiguous, so the
 * triangular solves and the Givens rotations of a removal walk memory in order.
 */
class PassiveFactor {
  readonly cols: Int32Array;
  /** Position of each column in `cols`, -1 when active (held at 0). */
  readonly pos: Int32Array;
  m = 0;
  private readonly R: Float64Array;
  private readonly u: Float64Array;
  private readonly work: Float64Array;

  constructor(
    private readonly n: number,
    private readonly G: Float64Array,
    private readonly h: Float64Array,
  ) {
    this.cols = new Int32Array(n);
    this.pos = new Int32Array(n).fill(-1);
    this.R = new Float64Array(n * n);
    this.u = new Float64Array(n);
    this.work = new Float64Array(n);
  }

  /**
   * Append column j. Returns false (and leaves the set unchanged) when it is numerically in
   * the span of the passive columns: its pivot would be below 1e-12 of its (unit) norm.
   */
  add(j: number): boolean {
    const { n, G, R, m, u } = this;
    const r = this.work;
    // R^T r = G[P, j], row-oriented forward substitution: once r_t is known, subtract its
    // contribution from every later entry along row t of R.
    for (let i = 0; i < m; i++) r[i] = G[j * n + this.cols[i]!]!;
    let ss = 0;
    let ru = 0;
    for (let t = 0; t < m; t++) {
      const rt = r[t]! / R[t * n + t]!;
      r[t] = rt;
      ss += rt * rt;
      ru += rt * u[t]!;
      const row = t * n;
      for (let i = t + 1; i < m; i++) r[i] = r[i]! - R[row + i]! * rt;
    }
    const d2 = G[j * n + j]! - ss;
    if (!(d2 > 1e-12 * G[j * n + j]!)) return false;
    const d = Math.sqrt(d2);
    for (let t = 0; t < m; t++) R[t * n + m] = r[t]!;
    R[m * n + m] = d;
    // The new last row of R^T u = h_P: r . u + d u_m = h_j.
    u[m] = (this.h[j]! - ru) / d;
    this.cols[m] = j;
    this.pos[j] = m;
    this.m = m + 1;
    return true;
  }

  /**
   * Remove the column at position k: delete it from R, then re-triangularize with Givens
   * rotations of neighbouring rows, applied to u as well (R_del = Q R' and R_del^T u = h_P'
   * give R'^T (Q^T u) = h_P'; the last entry of Q^T u belongs to the zero row and is dropped).
   */
  removeAt(k: number): void {
    const { n, R, u } = this;
    const m = this.m;
    for (let i = 0; i < m; i++) R.copyWithin(i * n + k, i * n + k + 1, i * n + m);
    // Rows k..m-1 now have one subdiagonal entry each (R[i+1, i]); rotate it away.
    for (let i = k; i < m - 1; i++) {
      const ri = i * n;
      const rj = (i + 1) * n;
      const a = R[ri + i]!;
      const b = R[rj + i]!;
      const r = Math.hypot(a, b);
      const c = a / r;
      const s = b / r;
      R[ri + i] = r;
      R[rj + i] = 0;
      for (let t = i + 1; t < m - 1; t++) {
        const vi = R[ri + t]!;
        const vj = R[rj + t]!;
        R[ri + t] = c * vi + s * vj;
        R[rj + t] = c * vj - s * vi;
      }
      const ui = u[i]!;
      const uj = u[i + 1]!;
      u[i] = c * ui + s * uj;
      u[i + 1] = c * uj - s * ui;
    }
    const j = this.cols[k]!;
    this.pos[j] = -1;
    for (let i = k; i < m - 1; i++) {
      const c = this.cols[i + 1]!;
      this.cols[i] = c;
      this.pos[c] = i;
    }
    this.m = m - 1;
  }

  /** z (by position) solving G_PP z = h_P: the back substitution R z = u. */
  solve(z: Float64Array): void {
    const { n, R, m, u } = this;
    for (let i = m - 1; i >= 0; i--) {
      const row = i * n;
      let s0 = u[i]!;
      let s1 = 0;
      let t = i + 1;
      for (; t + 1 < m; t += 2) {
        s0 -= R[row + t]! * z[t]!;
        s1 -= R[row + t + 1]! * z[t + 1]!;
      }
      if (t < m) s0 -= R[row + t]! * z[t]!;
      z[i] = (s0 + s1) / R[row + i]!;
    }
  }
}

/** Solve min ||A x - y||^2, x >= 0, from the normal equations. */
export async function solveNnls(ne: NormalEquations, opts: NnlsOptions = {}): Promise<NnlsResult> {
  const t0 = performance.now();
  const { n } = ne;
  requireInt("n", n, 1);
  if (ne.gram.length !== n * n || ne.aty.length !== n)
    throw new CubeFitSolveError("normal equations", `gram must be ${n}x${n} and aty ${n} long`);
  const tol = opts.tol ?? 1e-11;
  if (!(tol > 0)) throw new CubeFitSolveError("tol", `must be > 0, got ${tol}`);
  const maxIter = opts.maxIter ?? 3 * n;
  requireInt("maxIter", maxIter, 0);

  // Column scaling: d_j = 1 / ||a_j||; scaled G has a unit diagonal.
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const gjj = ne.gram[j * n + j]!;
    d[j] = gjj > 0 ? 1 / Math.sqrt(gjj) : 0;
  }
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) G[i * n + j] = ne.gram[i * n + j]! * d[i]! * d[j]!;
  const h = new Float64Array(n);
  for (let j = 0; j < n; j++) h[j] = ne.aty[j]! * d[j]!;
  const ynorm = Math.sqrt(ne.yty) || 1;
  const addTol = tol * ynorm;

  const F = new PassiveFactor(n, G, h);
  const x = new Float64Array(n); // scaled variables x' = x / d
  const z = new Float64Array(n); // by position
  const xP = new Float64Array(n); // x on P, by position
  const w = new Float64Array(n);
  /** Columns refused this round (dependent, or a new column whose solve came out <= 0). */
  const refused = new Uint8Array(n);
  let warmStarted = false;

  if (opts.x0) {
    requireVector("x0", opts.x0, n);
    for (let j = 0; j < n; j++) {
      const v = opts.x0[j]!;
      if (v > 0 && d[j]! > 0 && F.add(j)) x[j] = v / d[j]!;
    }
    warmStarted = F.m > 0;
  }

  let lastYield = performance.now();
  const maybeYield = async () => {
    if (performance.now() - lastYield > 50) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
  };

  /**
   * Lawson-Hanson's inner loop from a feasible x supported on P: move toward the
   * unconstrained solution z of the passive block as far as feasibility allows, drop the
   * columns that hit 0, repeat until z > 0 on all of P, then take x = z.
   */
  const innerLoop = (solved: boolean) => {
    for (let guard = 0; guard <= n; guard++) {
      if (!solved) F.solve(z);
      solved = false;
      let alpha = Infinity;
      let hit = -1;
      for (let i = 0; i < F.m; i++) {
        if (z[i]! <= 0) {
          const xi = x[F.cols[i]!]!;
          const a = xi / (xi - z[i]!);
          if (a < alpha) {
            alpha = a;
            hit = i;
          }
        }
      }
      if (hit < 0) {
        for (let i = 0; i < F.m; i++) x[F.cols[i]!] = z[i]!;
        return;
      }
      for (let i = 0; i < F.m; i++) {
        const j = F.cols[i]!;
        x[j] = x[j]! + alpha * (z[i]! - x[j]!);
      }
      x[F.cols[hit]!] = 0;
      // Drop every passive column at (or numerically at) zero, from the end so positions hold.
      for (let i = F.m - 1; i >= 0; i--) {
        const j = F.cols[i]!;
        if (x[j]! <= 0) {
          x[j] = 0;
          F.removeAt(i);
        }
      }
    }
    throw new CubeFitSolveError("nnls", "inner loop did not terminate (degenerate problem)");
  };

  if (F.m > 0) innerLoop(false);

  let iterations = 0;
  let converged = false;
  let aborted = false;
  for (;;) {
    if (opts.signal?.aborted) {
      aborted = true;
      break;
    }
    // w_j = h_j - G[j, P] x_P (the negative scaled gradient) for the candidates j not in P.
    // Two ways: rows of G for P added over all of w (n |P| work, contiguous), or a gathered
    // dot product per candidate ((n - |P|) |P| work, scattered reads, ~3x slower per entry),
    // which wins once P holds most columns.
    const m = F.m;
    let best = -1;
    let bestW = addTol;
    const consider = (j: number, wj: number) => {
      if (wj > bestW && F.pos[j]! < 0 && !refused[j] && d[j] !== 0) {
        bestW = wj;
        best = j;
      }
    };
    if (3 * (n - m) < n) {
      for (let i = 0; i < m; i++) xP[i] = x[F.cols[i]!]!;
      for (let j = 0; j < n; j++) {
        if (F.pos[j]! >= 0) continue;
        const row = j * n;
        let s0 = 0;
        let s1 = 0;
        let i = 0;
        for (; i + 1 < m; i += 2) {
          s0 += G[row + F.cols[i]!]! * xP[i]!;
          s1 += G[row + F.cols[i + 1]!]! * xP[i + 1]!;
        }
        if (i < m) s0 += G[row + F.cols[i]!]! * xP[i]!;
        consider(j, h[j]! - (s0 + s1));
      }
    } else {
      w.set(h);
      for (let i = 0; i < m; i++) {
        const p = F.cols[i]!;
        const xp = x[p]!;
        const row = p * n;
        for (let t = 0; t < n; t++) w[t] = w[t]! - xp * G[row + t]!;
      }
      for (let j = 0; j < n; j++) consider(j, w[j]!);
    }
    if (best < 0) {
      converged = true;
      break;
    }
    if (iterations >= maxIter) break;
    iterations++;
    if (!F.add(best)) {
      refused[best] = 1;
      continue;
    }
    F.solve(z);
    if (!(z[F.m - 1]! > 0)) {
      // Numerically the new column cannot enter (its w was rounding noise): refuse it.
      F.removeAt(F.m - 1);
      refused[best] = 1;
      continue;
    }
    innerLoop(true);
    refused.fill(0);
    opts.onProgress?.({ iteration: iterations, passive: F.m });
    await maybeYield();
  }

  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = x[j]! * d[j]!;
  return {
    x: out,
    objective: objectiveFromNormal(ne, out),
    kkt: kktResidual(ne, out),
    passive: F.m,
    iterations,
    converged,
    aborted,
    warmStarted,
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface NnlsFitOptions
  extends NnlsOptions, Omit<NormalEquationsOptions, "signal" | "onProgress"> {
  onGramProgress?: NormalEquationsOptions["onProgress"];
}

/** normalEquations + solveNnls: the exact optimum of the design, with its normal equations. */
export async function nnlsFit(
  design: DesignSource,
  opts: NnlsFitOptions = {},
): Promise<NnlsResult & { normal: NormalEquations }> {
  const gramOpts: NormalEquationsOptions = {};
  if (opts.threads !== undefined) gramOpts.threads = opts.threads;
  if (opts.blockRows !== undefined) gramOpts.blockRows = opts.blockRows;
  if (opts.signal) gramOpts.signal = opts.signal;
  if (opts.onGramProgress) gramOpts.onProgress = opts.onGramProgress;
  const normal = await normalEquations(design, gramOpts);
  const res = await solveNnls(normal, opts);
  return { ...res, normal };
}
