#!/usr/bin/python3
"""Writes tests/skycell/fixtures/convolve/*: scipy.ndimage.gaussian_filter references.

Run with Debian's python (numpy 1.24, scipy 1.10): /usr/bin/python3 tests/skycell/helpers/make_convolve_fixtures.py
Every array is little-endian float32 (image), float64 (large-sigma references) or uint8 (mask),
row-major; manifest.json lists the small cases (full outputs), manifest-large.json the
large-sigma ones (sigma 20 and 60 on 160 x 150, radius > size / 2: the FFT path and repeated
boundary extension), whose float64 references are kept only at a grid of sample pixels to keep
the files small. Deterministic (fixed seed).
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



def write_manifest(name, cases, **extra):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(dict(generator="tests/skycell/helpers/make_convolve_fixtures.py",
                       numpy=np.__version__, scipy=__import__("scipy").__version__, **extra,
                       cases=cases), f, indent=1)
    print(f"{len(cases)} cases -> {os.path.join(OUT, name)}")


write_manifest("manifest.json", cases)

# Large sigma: every reference computed by scipy in float64 from the float32 image, stored at
# the sample grid only (edges, where the extension matters, and every 7th row / column).
LH, LW = 160, 150
ly, lx = np.mgrid[0:LH, 0:LW]
large = (200.0 + 0.4 * lx - 0.2 * ly
         + 800.0 * np.exp(-((lx - 30) ** 2 + (ly - 40) ** 2) / 18.0)
         + 400.0 * np.exp(-((lx - 148) ** 2 + (ly - 3) ** 2) / 6.0)
         + 50.0 * np.sin(lx / 9.0) * np.cos(ly / 13.0)
         + rng.normal(0, 5.0, (LH, LW))).astype("<f4")
large_mask = np.zeros((LH, LW), "u1")
large_mask[20:60, 70:110] = 1     # a masked block
large_mask[:, 5] = 1              # a masked column at the edge
large_mask[140:160, 100:150] = 1  # masked corner
large_masked = large.copy()
large_masked[80, 40] = np.nan
large_masked[100:104, 120:123] = np.nan
large_masked[large_mask == 1] = 1e6  # must be ignored (and is a large value for the FFT path)


def sample_grid(n):
    return sorted(set([0, 1, 2] + list(range(5, n, 7)) + [n - 3, n - 2, n - 1]))


rows, cols = sample_grid(LH), sample_grid(LW)
grid = np.ix_(rows, cols)
save("large.f32", large)
save("large_mask.u8", large_mask)
# the masked input is large.f32 with these NaNs and 1e6 where masked (built by the test)
large_nans = np.flatnonzero(np.isnan(large_masked)).tolist()
large_cases = []
img64 = large.astype("f8")
for sigma in (20.0, 60.0):
    for mode in ("reflect", "mirror", "nearest", "wrap", "constant"):
        cval = 30.0 if mode == "constant" else None
        extra = {} if cval is None else dict(cval=cval)
        name = f"large_s{sigma:g}_{mode}.f64"
        save(name, gaussian_filter(img64, sigma, mode=mode, **extra)[grid])
        large_cases.append(dict(kind="plain", input="image", sigma=sigma, mode=mode,
                                output=name, **extra))
# anisotropic: a direct axis and an FFT axis in one filter
save("large_aniso.f64", gaussian_filter(img64, (2.0, 40.0), mode="reflect")[grid])
large_cases.append(dict(kind="plain", input="image", sigma=[2.0, 40.0], mode="reflect",
                        output="large_aniso.f64"))
# NaNs and 1e6 blocks unnormalised at a small sigma: NaN only within the footprint
nan64 = large_masked.astype("f8")
save("large_nan_s3.f64", gaussian_filter(nan64, 3.0, mode="reflect")[grid])
large_cases.append(dict(kind="plain", input="masked", sigma=3.0, mode="reflect",
                        output="large_nan_s3.f64"))

# NaN, +Inf and -Inf (no mask): NaN where a footprint holds a NaN or both infinities, else ±Inf
inf_pixels = dict(nan=[100 * LW + 100], pos=[40 * LW + 40, 104 * LW + 104], neg=[40 * LW + 58])
inf64 = img64.copy().ravel()
for key, value in (("nan", np.nan), ("pos", np.inf), ("neg", -np.inf)):
    inf64[inf_pixels[key]] = value
inf64 = inf64.reshape(LH, LW)
for sigma in (3.0, 20.0):
    name = f"large_inf_s{sigma:g}.f64"
    save(name, gaussian_filter(inf64, sigma, mode="reflect")[grid])
    large_cases.append(dict(kind="plain", input="inf", sigma=sigma, mode="reflect", output=name))

lw = ((large_mask == 0) & ~np.isnan(large_masked)).astype("f8")
lxw = np.where(lw > 0, nan64, 0.0)
for sigma, mode in ((20.0, "reflect"), (20.0, "mirror"), (20.0, "nearest"), (20.0, "wrap"),
                    (20.0, "constant"), (60.0, "reflect"), (60.0, "constant"), (3.0, "reflect")):
    num = gaussian_filter(lxw, sigma, mode=mode)
    den = gaussian_filter(lw, sigma, mode=mode)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(den > 1e-10, num / den, np.nan)
    name = f"large_norm_s{sigma:g}_{mode}.f64"
    wname = f"large_norm_s{sigma:g}_{mode}_weight.f64"
    save(name, res[grid])
    save(wname, den[grid])
    large_cases.append(dict(kind="normalized", input="masked",
                            sigma=sigma, mode=mode, output=name, weight=wname))
# ±Inf count as valid (weight 1) in the normalised filter and propagate like NaN in the plain one
iw = (~np.isnan(inf64)).astype("f8")
with np.errstate(invalid="ignore"):
    num = gaussian_filter(np.where(iw > 0, inf64, 0.0), 3.0, mode="reflect")
    den = gaussian_filter(iw, 3.0, mode="reflect")
    res = np.where(den > 1e-10, num / den, np.nan)
save("large_norm_inf_s3.f64", res[grid])
save("large_norm_inf_s3_weight.f64", den[grid])
large_cases.append(dict(kind="normalized", input="inf", sigma=3.0, mode="reflect",
                        output="large_norm_inf_s3.f64", weight="large_norm_inf_s3_weight.f64"))

write_manifest("manifest-large.json", large_cases, shape=[LH, LW], image="large.f32",
               mask="large_mask.u8", masked_value=1e6, nans=large_nans, inf_pixels=inf_pixels,
               rows=rows, cols=cols)
