/**
 * Reciprocal-space asymmetric unit (ASU) of the 12 Laue groups, exactly as cctbx:
 * `miller.map_to_asu(space_group_type, anomalous_flag=False, indices)` for any space group
 * of the class in its reference setting, and `reciprocal_space_asu().is_inside(h)`.
 *
 * Each Laue group has its own integer mapping (absolute values, sorting, sign and sector
 * selection, mostly branch-free), no loop over operators: 30-300 M indices/s depending on
 * the class (tests/symmetry/asu.bench.ts). The orbit of every index under the Laue group
 * meets cctbx's ASU in exactly one index (checked against cctbx on the whole [-25,25]^3 box
 * and on random indices), so "the" ASU representative is well defined and independent of
 * operator order. All comparisons are on integers, including the boundary tie-breaks.
 *
 * Valid for |h|, |k|, |l| < 2^30 (hexagonal i = -h-k must fit in int32).
 */
import { SymmetryError } from "./errors.js";
import type { LaueClassName, LaueGroup } from "./laue.js";

/**
 * Maps integer indices (3 per row) into the ASU of the Laue group: in place when `out` is
 * omitted or === `hkl`, otherwise into `out` (which must not partially overlap `hkl`).
 * Exactly cctbx's `miller.map_to_asu` for the group's reference setting with
 * anomalous_flag=False (Friedel mates merged). Returns the array written.
 */
export function mapToAsu(group: LaueGroup, hkl: Int32Array, out?: Int32Array): Int32Array {
  const dst = out ?? hkl;
  const n = hkl.length;
  if (n % 3 !== 0) {
    throw new SymmetryError(`mapToAsu: index array length ${n} is not a multiple of 3`);
  }
  if (dst.length < n) {
    throw new SymmetryError(`mapToAsu: output length ${dst.length} < input length ${n}`);
  }
  const f = MAPPERS[group.name];
  if (f === undefined) {
    throw new SymmetryError(`mapToAsu: unknown Laue class "${String(group.name)}"`);
  }
  f(hkl, dst, n);
  return dst;
}

/** Is (h, k, l) inside cctbx's reference reciprocal-space ASU of the Laue group? */
export function isInAsu(group: LaueGroup, h: number, k: number, l: number): boolean {
  switch (group.name) {
    case "-1":
      return l > 0 || (l === 0 && (h > 0 || (h === 0 && k >= 0)));
    case "2/m":
      return k >= 0 && (l > 0 || (l === 0 && h >= 0));
    case "mmm":
      return h >= 0 && k >= 0 && l >= 0;
    case "4/m":
    case "6/m":
      return l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0));
    case "4/mmm":
    case "6/mmm":
      return h >= k && k >= 0 && l >= 0;
    case "-3":
      return (h >= 0 && k > 0) || (h === 0 && k === 0 && l >= 0);
    case "-3m1":
      return h >= k && k >= 0 && (h > k || l >= 0);
    case "-31m":
      return h >= k && k >= 0 && (k > 0 || l >= 0);
    case "m-3":
      return h >= 0 && ((l >= h && k > h) || (l === h && k === h));
    case "m-3m":
      return k >= l && l >= h && h >= 0;
    default:
      throw new SymmetryError(`isInAsu: unknown Laue class "${String(group.name)}"`);
  }
}

type Mapper = (a: Int32Array, o: Int32Array, n: number) => void;

// The hot loops avoid data-dependent branches where they can (Math.abs/min/max and
// conditional selects compile to branch-free code in V8): random indices make branches
// unpredictable, which costs several times more than the arithmetic.

// -1: keep (h,k,l) if its first non-zero component among l, h, k is positive, else negate.
function map1bar(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]!;
    const k = a[i + 1]!;
    const l = a[i + 2]!;
    const key = l !== 0 ? l : h !== 0 ? h : k;
    const m = key >> 31; // 0 or -1
    o[i] = (h ^ m) - m;
    o[i + 1] = (k ^ m) - m;
    o[i + 2] = (l ^ m) - m;
  }
}

// 2/m, unique axis b: orbit {(h,k,l), (-h,k,-l), (h,-k,l), (-h,-k,-l)}.
// ASU k>=0 and (l>0 or (l==0 and h>=0)).
function map2m(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]!;
    const k = a[i + 1]!;
    const l = a[i + 2]!;
    const m = (l !== 0 ? l : h) >> 31;
    o[i] = (h ^ m) - m;
    o[i + 1] = Math.abs(k);
    o[i + 2] = (l ^ m) - m;
  }
}

function mapMmm(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    o[i] = Math.abs(a[i]!);
    o[i + 1] = Math.abs(a[i + 1]!);
    o[i + 2] = Math.abs(a[i + 2]!);
  }
}

// 4/m: the four 90-degree rotations of (h,k) times +-l; ASU quadrant h>=0, k>0 (or 0,0).
// Negate into the half plane k>0 or (k==0, h>=0); then (h,k) -> (k,|h|) if h<0 or k==0.
function map4m(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h0 = a[i]!;
    const k0 = a[i + 1]!;
    const m = (k0 !== 0 ? k0 : h0) >> 31;
    const h = (h0 ^ m) - m;
    const k = (k0 ^ m) - m;
    const turn = h < 0 || k === 0;
    o[i] = turn ? k : h;
    o[i + 1] = turn ? Math.abs(h) : k;
    o[i + 2] = Math.abs(a[i + 2]!);
  }
}

// 4/mmm: all signed permutations of (h,k) times +-l; ASU h>=k>=0, l>=0.
function map4mmm(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const x = Math.abs(a[i]!);
    const y = Math.abs(a[i + 1]!);
    o[i] = Math.max(x, y);
    o[i + 1] = Math.min(x, y);
    o[i + 2] = Math.abs(a[i + 2]!);
  }
}

/*
 * Hexagonal axes: with i = -h-k the Laue groups act on the triple (h,k,i) (sum 0) by
 * permutations and a global sign, and on l:
 *   6/mmm : any permutation, any sign;          l -> +-l freely
 *   6/m   : even permutations, any sign;        l -> +-l freely
 *   -3    : even permutations, any sign;        l -> sign * l
 *   -31m  : any permutation, any sign;          l -> sign * l
 *   -3m1  : any permutation P, any sign;        l -> sign * parity(P) * l
 * Sort the triple descending: (mx, md, mn) = S(h,k,i), parity (-1)^inv with
 * inv = (h<k) + (h<i) + (k<i). If md >= 0 the 6/mmm representative (h>=k>=0) is (mx, md)
 * (sign +1, permutation S); otherwise it is (-mn, -md) (sign -1, permutation "reverse o S",
 * of opposite parity). So -3m1 keeps l' = parity(S) * l in both cases. Groups with even
 * permutations only take the mirror image (k, h) when that permutation is odd.
 * Equal entries make the permutation ambiguous; every such case lands on h == k or on the
 * origin, where the affected groups also contain (h,h,-l) and the ASU asks for l >= 0.
 *
 * Bit tricks: s = md >> 31 is 0 or -1, (x ^ s) - s is x or -x, (x & ~s) | (y & s) selects.
 * The "| 0" keep V8 on its int32 path. Valid for |h|, |k|, |l| < 2^30.
 */

function map6mmm(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]! | 0;
    const k = a[i + 1]! | 0;
    const t = (-h - k) | 0;
    const mx = Math.max(Math.max(h, k), t) | 0;
    const mn = Math.min(Math.min(h, k), t) | 0;
    const md = (-mx - mn) | 0;
    const s = md >> 31;
    o[i] = (mx & ~s) | (-mn & s);
    o[i + 1] = (md ^ s) - s;
    o[i + 2] = Math.abs(a[i + 2]!);
  }
}

// -31m: ASU h>=k>=0 and (k>0 or l>=0). On k==0, (h,0,-l) is a mate: l -> |l|.
function map31m(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]! | 0;
    const k = a[i + 1]! | 0;
    const l = a[i + 2]! | 0;
    const t = (-h - k) | 0;
    const mx = Math.max(Math.max(h, k), t) | 0;
    const mn = Math.min(Math.min(h, k), t) | 0;
    const md = (-mx - mn) | 0;
    const s = md >> 31;
    o[i] = (mx & ~s) | (-mn & s);
    o[i + 1] = (md ^ s) - s;
    o[i + 2] = md === 0 ? Math.abs(l) : (l ^ s) - s;
  }
}

// -3m1: ASU h>=k>=0 and (h>k or l>=0). On h==k, (h,h,-l) is a mate: l -> |l|.
function map3m1(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]! | 0;
    const k = a[i + 1]! | 0;
    const l = a[i + 2]! | 0;
    const t = (-h - k) | 0;
    const mx = Math.max(Math.max(h, k), t) | 0;
    const mn = Math.min(Math.min(h, k), t) | 0;
    const md = (-mx - mn) | 0;
    const s = md >> 31;
    const hh = (mx & ~s) | (-mn & s);
    const kk = (md ^ s) - s;
    const p = -(((h < k ? 1 : 0) + (h < t ? 1 : 0) + (k < t ? 1 : 0)) & 1);
    o[i] = hh;
    o[i + 1] = kk;
    o[i + 2] = hh === kk ? Math.abs(l) : (l ^ p) - p;
  }
}

// -3: ASU sector h>=0, k>0 (plus (0,0,l>=0)). Only even permutations are available, so an
// odd permutation to the 6/mmm representative (big, small) means (small, big) instead. A
// result on k==0, (A,0,-A), is turned to (0,A,-A) by the negated cyclic shift (l flips).
function map3bar(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]! | 0;
    const k = a[i + 1]! | 0;
    const l = a[i + 2]! | 0;
    const t = (-h - k) | 0;
    const mx = Math.max(Math.max(h, k), t) | 0;
    const mn = Math.min(Math.min(h, k), t) | 0;
    const md = (-mx - mn) | 0;
    const s = md >> 31;
    const big = (mx & ~s) | (-mn & s);
    const small = (md ^ s) - s;
    const q = -(((h < k ? 1 : 0) + (h < t ? 1 : 0) + (k < t ? 1 : 0) + (s & 1)) & 1);
    const hh = (small & q) | (big & ~q);
    const kk = (big & q) | (small & ~q);
    const ll = (l ^ s) - s;
    if (kk !== 0) {
      o[i] = hh;
      o[i + 1] = kk;
      o[i + 2] = ll;
    } else {
      o[i] = 0;
      o[i + 1] = hh;
      o[i + 2] = hh === 0 ? Math.abs(l) : -ll;
    }
  }
}

// 6/m: as -3 with l -> |l|.
function map6m(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const h = a[i]! | 0;
    const k = a[i + 1]! | 0;
    const t = (-h - k) | 0;
    const mx = Math.max(Math.max(h, k), t) | 0;
    const mn = Math.min(Math.min(h, k), t) | 0;
    const md = (-mx - mn) | 0;
    const s = md >> 31;
    const big = (mx & ~s) | (-mn & s);
    const small = (md ^ s) - s;
    const q = -(((h < k ? 1 : 0) + (h < t ? 1 : 0) + (k < t ? 1 : 0) + (s & 1)) & 1);
    const hh = (small & q) | (big & ~q);
    const kk = (big & q) | (small & ~q);
    const z = -(kk === 0 ? 1 : 0); // (A,0) -> (0,A)
    o[i] = hh & ~z;
    o[i + 1] = (kk & ~z) | (hh & z);
    o[i + 2] = Math.abs(a[i + 2]!);
  }
}

// m-3: all sign changes times cyclic (even) permutations of (h,k,l).
// ASU h>=0 and ((l>=h and k>h) or (l==h and k==h)): h the smallest, k strictly larger
// unless all are equal. With |.| sorted lo<=mid<=hi: (lo,mid,hi) if the sorting
// permutation is even, else (lo,hi,mid); if lo==mid<hi both parities are available and
// (lo,hi,lo) is the one with k>h.
function mapM3(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const x = Math.abs(a[i]! | 0) | 0;
    const y = Math.abs(a[i + 1]! | 0) | 0;
    const z = Math.abs(a[i + 2]! | 0) | 0;
    const lo = Math.min(Math.min(x, y), z) | 0;
    const hi = Math.max(Math.max(x, y), z) | 0;
    const mid = (x + y + z - lo - hi) | 0;
    const q = -((((x > y ? 1 : 0) + (x > z ? 1 : 0) + (y > z ? 1 : 0)) & 1) | (mid === lo ? 1 : 0));
    o[i] = lo;
    o[i + 1] = (hi & q) | (mid & ~q);
    o[i + 2] = (mid & q) | (hi & ~q);
  }
}

// m-3m: all signed permutations; ASU k>=l>=h>=0 (h smallest, k largest).
function mapM3m(a: Int32Array, o: Int32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const x = Math.abs(a[i]! | 0) | 0;
    const y = Math.abs(a[i + 1]! | 0) | 0;
    const z = Math.abs(a[i + 2]! | 0) | 0;
    const lo = Math.min(Math.min(x, y), z) | 0;
    const hi = Math.max(Math.max(x, y), z) | 0;
    o[i] = lo;
    o[i + 1] = hi;
    o[i + 2] = (x + y + z - lo - hi) | 0;
  }
}

const MAPPERS: Readonly<Record<LaueClassName, Mapper>> = {
  "-1": map1bar,
  "2/m": map2m,
  mmm: mapMmm,
  "4/m": map4m,
  "4/mmm": map4mmm,
  "-3": map3bar,
  "-3m1": map3m1,
  "-31m": map31m,
  "6/m": map6m,
  "6/mmm": map6mmm,
  "m-3": mapM3,
  "m-3m": mapM3m,
};
