// PS1 asinh linearisation (IPP wiki "asinh_compression" convention): known values and round trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  hasPs1Asinh,
  PS1_ASINH_ALPHA,
  ps1Compress,
  ps1Linearize,
  Ps1AsinhError,
} from "../../src/skycell/index.js";

const H = { BOFFSET: 12.5, BSOFTEN: 30.25 };

test("alpha = 2.5 log10(e)", () => {
  assert.ok(Math.abs(PS1_ASINH_ALPHA - 1.0857362047581294) < 1e-15);
});

test("known values: C = 0 -> BOFFSET; L = BOFFSET + BSOFTEN*(e^(C/a) - e^(-C/a))", () => {
  const c = [0, 1, -1, 2.5, 10];
  const got = ps1Linearize(c, H);
  c.forEach((v, i) => {
    const want =
      H.BOFFSET + H.BSOFTEN * (Math.exp(v / PS1_ASINH_ALPHA) - Math.exp(-v / PS1_ASINH_ALPHA));
    assert.ok(
      Math.abs(got[i]! - want) <= 1e-6 * Math.max(1, Math.abs(want)),
      `${v}: ${got[i]} vs ${want}`,
    );
  });
  assert.equal(got[0], Math.fround(H.BOFFSET));
});

test("round trip flux -> compressed -> flux (float32), NaN preserved", () => {
  const flux = new Float64Array(2001);
  for (let i = 0; i < flux.length; i++) flux[i] = (i - 1000) * Math.abs(i - 1000) * 0.37 + 0.125;
  flux[7] = NaN;
  const back = ps1Linearize(ps1Compress(flux, H), H);
  for (let i = 0; i < flux.length; i++) {
    const f = flux[i]!;
    if (Number.isNaN(f)) {
      assert.ok(Number.isNaN(back[i]!));
      continue;
    }
    // float32 compressed values: relative error ~ 1e-7 * |C| amplified by dL/dC ~ |L - BOFFSET|/alpha
    const tol = 4e-6 * (Math.abs(f - H.BOFFSET) + 2 * H.BSOFTEN);
    assert.ok(Math.abs(back[i]! - f) <= tol, `${f} -> ${back[i]}`);
  }
});

test("header checks", () => {
  assert.ok(hasPs1Asinh({ BOFFSET: 1, BSOFTEN: 2, EXPTIME: 3 }));
  assert.ok(!hasPs1Asinh({ BOFFSET: 1 }));
  assert.throws(() => ps1Linearize([1], { BOFFSET: 0, BSOFTEN: 0 }), Ps1AsinhError);
  assert.throws(() => ps1Compress([1], { BOFFSET: NaN, BSOFTEN: 1 }), Ps1AsinhError);
});
