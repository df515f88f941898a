// Shared by the symmetry tests. The PRNG and index layout must match
// tests/symmetry/fixtures/cctbx_common.py exactly: xorshift32 (13/17/5) on a uint32 state,
// component = next() % (2r + 1) - r, rows [0, n/2) with r = 6, rows [n/2, n) with r = 200.
import crypto from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

export const SMALL = 6;
export const LARGE = 200;

export function xorshift32Indices(seed: number, n: number): Int32Array {
  let x = seed >>> 0;
  if (x === 0) throw new Error("xorshift32 seed must be non-zero");
  const out = new Int32Array(3 * n);
  const half = 3 * Math.floor(n / 2);
  for (let j = 0; j < 3 * n; j++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const r = j < half ? SMALL : LARGE;
    out[j] = (x % (2 * r + 1)) - r;
  }
  return out;
}

export const sha256 = (a: Int32Array): string =>
  crypto
    .createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");

export interface FixtureClass {
  laue: string;
  spaceGroups: number[];
  seed: number;
  n: number;
  inputSha256: string;
  mappedSha256: string;
  first200: number[];
  boxMultiplicity: number[];
  boxInAsu: string;
}

export interface Fixtures {
  box: number;
  classes: FixtureClass[];
}

export function loadFixtures(): Fixtures {
  const p = fileURLToPath(new URL("./fixtures/asu-fixtures.json", import.meta.url));
  return JSON.parse(fs.readFileSync(p, "utf8")) as Fixtures;
}

/** Row-by-row comparison with a useful message (first few differing rows). */
export function diffRows(
  input: Int32Array,
  got: Int32Array,
  want: Int32Array | number[],
  label: string,
  maxRows = got.length / 3,
): string | undefined {
  const bad: string[] = [];
  let nBad = 0;
  for (let r = 0; r < maxRows; r++) {
    const i = 3 * r;
    if (got[i] !== want[i] || got[i + 1] !== want[i + 1] || got[i + 2] !== want[i + 2]) {
      nBad++;
      if (bad.length < 8) {
        bad.push(
          `row ${r}: (${input[i]},${input[i + 1]},${input[i + 2]}) -> ours ` +
            `(${got[i]},${got[i + 1]},${got[i + 2]}) cctbx (${want[i]},${want[i + 1]},${want[i + 2]})`,
        );
      }
    }
  }
  return nBad === 0 ? undefined : `${label}: ${nBad} rows differ\n  ${bad.join("\n  ")}`;
}
