#!/usr/bin/python3
"""Writes tests/skycell/fixtures/convolve/*: scipy.ndimage.gaussian_filter references.

Run with Debian's python (numpy 1.24, scipy 1.10): /usr/bin/python3 tests/skycell/helpers/make_convolve_fixtures.py
Every array is little-endian float32 (image) or uint8 (mask), row-major; manifest.json lists
the cases. Deterministic (fixed seed).
"""
import json
import os

import numpy as np
from scipy.ndimage import gaussian_filter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "convolve")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261122)

H, W = 64, 80
yy, xx = np.mgrid[0:H, 0:W]
# smooth background + point sources + noise: realistic dynamic range, no near-zero cancellations
image = (100.0 + 0.5 * xx + 0.3 * yy
         + 500.0 * np.exp(-((xx - 20) ** 2 + (yy - 30) ** 2) / 8.0)
         + 300.0 * np.exp(-((xx - 77) ** 2 + (yy - 2) ** 2) / 3.0)
         + rng.normal(0, 5.0, (H, W))).astype("<f4")
small = image[:12, :20].copy()  # for radius > size (sigma 30 -> radius 120)

mask = np.zeros((H, W), "u1")
mask[10:20, 30:45] = 1        # a masked block
mask[:, 70] = 1               # a masked column
mask[50:64, 0:30] = 1         # masked region touching the corner/edge
masked_image = image.copy()
masked_image[5, 5] = np.nan
masked_image[40:43, 60:62] = np.nan
masked_image[mask == 1] = 1e6  # must be ignored

cases = []


def save(name, arr):
    arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(OUT, name))


save("image.f32", image)
save("small.f32", small)
save("masked_image.f32", masked_image)
save("mask.u8", mask)

for sigma, modes in ((1.5, ("reflect", "constant", "nearest", "mirror", "wrap")),
                     (4.0, ("reflect", "constant", "nearest", "mirror", "wrap"))):
    for mode in modes:
        name = f"plain_s{sigma}_{mode}.f32"
        save(name, gaussian_filter(image, sigma, mode=mode))
        cases.append(dict(kind="plain", input="image.f32", shape=[H, W], sigma=sigma,
                          mode=mode, output=name))

# anisotropic, other truncate, cval
save("plain_aniso.f32", gaussian_filter(image, (1.0, 3.0), mode="reflect", truncate=2.5))
cases.append(dict(kind="plain", input="image.f32", shape=[H, W], sigma=[1.0, 3.0],
                  mode="reflect", truncate=2.5, output="plain_aniso.f32"))
save("plain_cval.f32", gaussian_filter(image, 2.0, mode="constant", cval=50.0))
cases.append(dict(kind="plain", input="image.f32", shape=[H, W], sigma=2.0,
                  mode="constant", cval=50.0, output="plain_cval.f32"))
# radius (120) much larger than the image (12 x 20): repeated extension
for mode in ("reflect", "mirror", "nearest", "wrap", "constant"):
    name = f"small_s30_{mode}.f32"
    save(name, gaussian_filter(small, 30.0, mode=mode))
    cases.append(dict(kind="plain", input="small.f32", shape=[12, 20], sigma=30.0,
                      mode=mode, output=name))

# normalised: G*(w x) / G*(w), computed with scipy in float64
w = ((mask == 0) & ~np.isnan(masked_image)).astype("f8")
x = np.where(w > 0, masked_image.astype("f8"), 0.0)
for sigma, mode in ((1.5, "reflect"), (4.0, "reflect"), (4.0, "constant"), (4.0, "nearest")):
    num = gaussian_filter(w * x, sigma, mode=mode)
    den = gaussian_filter(w, sigma, mode=mode)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(den > 1e-10, num / den, np.nan)
    name = f"norm_s{sigma}_{mode}.f32"
    wname = f"norm_s{sigma}_{mode}_weight.f32"
    save(name, res.astype("f4"))
    save(wname, den.astype("f4"))
    cases.append(dict(kind="normalized", input="masked_image.f32", mask="mask.u8", shape=[H, W],
                      sigma=sigma, mode=mode, output=name, weight=wname))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(dict(generator="tests/skycell/helpers/make_convolve_fixtures.py",
                   numpy=np.__version__, scipy=__import__("scipy").__version__, cases=cases),
              f, indent=1)
print(f"{len(cases)} cases -> {OUT}")
