"""scipy side of tests/bench/skycell-convolve.bench.ts: scipy.ndimage.gaussian_filter, plain and
in the mask/NaN-normalised pipeline (what a numpy/scipy PS1 pipeline does).

Usage: skycell_convolve_bench.py DIR HEIGHT WIDTH SIGMA
DIR holds image.f32 and image_nan.f32 (the same with NaNs; float32) and mask.u8 (non-zero =
masked), row-major HEIGHT x WIDTH. Prints
READY, then answers commands on stdin, one per line, each with one line on stdout (so the TS side
can interleave its runs with these):
  plain  out = gaussian_filter(image, SIGMA)                                    -> seconds
  norm   on image_nan: w = valid (unmasked, not NaN); num = gaussian_filter(w * image),
         den = gaussian_filter(w); data = num / den where den > 1e-10 else NaN  -> seconds
  save   write the last results to DIR/scipy_plain.f32, scipy_norm.f32, scipy_weight.f32
                                                                                -> scipy version
  quit
"""
import os
import sys
import time

import numpy as np
import scipy
from scipy.ndimage import gaussian_filter

out_dir = sys.argv[1]
h, w, sigma = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
image = np.fromfile(os.path.join(out_dir, "image.f32"), dtype="<f4").reshape(h, w)
image_nan = np.fromfile(os.path.join(out_dir, "image_nan.f32"), dtype="<f4").reshape(h, w)
mask = np.fromfile(os.path.join(out_dir, "mask.u8"), dtype="u1").reshape(h, w)
results = {}


def plain():
    results["plain"] = gaussian_filter(image, sigma)


def norm():
    valid = (mask == 0) & ~np.isnan(image_nan)
    weight = valid.astype(np.float32)
    num = gaussian_filter(np.where(valid, image_nan, np.float32(0)), sigma)
    den = gaussian_filter(weight, sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        results["norm"] = np.where(den > 1e-10, num / den, np.float32(np.nan))
    results["weight"] = den


print("READY", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "quit":
        break
    if cmd in ("plain", "norm"):
        t0 = time.perf_counter()
        (plain if cmd == "plain" else norm)()
        print(time.perf_counter() - t0, flush=True)
    elif cmd == "save":
        for name in ("plain", "norm", "weight"):
            results[name].astype("<f4").tofile(os.path.join(out_dir, f"scipy_{name}.f32"))
        print(scipy.__version__, flush=True)
    else:
        raise SystemExit(f"unknown command {cmd!r}")
