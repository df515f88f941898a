"""Independent numpy reference for the voxel accumulator tests (Debian /usr/bin/python3).

Reads observations written by tests/voxel/accumulator.test.ts from a directory:
  meta.json   {"cells": [[a, b, c, al, be, ga], ...] per still, "us": [[9 row-major], ...],
               "ndiv": [3], "origin": [3], "shape": [3], "d_min": float, "d_max": float|null}
  q.f64 [n, 3], intensity.f64 [n], sigma.f64 [n], still.u32 [n]
and writes
  voxel.i32 [n]                      voxel index per observation (-1: not binned)
  count.f64, mean.f64, m2.f64, sumw.f64, wmean.f64, wm2.f64   [n_voxels], two-pass
  summary.json {"q2_min", "q2_max", "n_binned", "b_matrix"}

Everything is recomputed here from the raw inputs: the median cell, cctbx's B matrix,
A_i^-1 = (U_i B)^-1, n = floor(hkl ndiv + 1/2), the mmm ASU (absolute values,
the only Laue group this reference implements), the box index, and the per-voxel statistics
with np.bincount (two-pass variance: sum (x - mean)^2).
"""
import json
import sys

import numpy as np


def b_matrix(cell):
    a, b, c, al, be, ga = cell
    ca, cb, cg = np.cos(np.radians([al, be, ga]))
    sg = np.sin(np.radians(ga))
    v = a * b * c * np.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)
    orth = np.array(
        [
            [a, b * cg, c * cb],
            [0, b * sg, c * (ca - cb * cg) / sg],
            [0, 0, v / (a * b * sg)],
        ]
    )
    return np.linalg.inv(orth).T


def main(d):
    meta = json.load(open(f"{d}/meta.json"))
    q = np.fromfile(f"{d}/q.f64", dtype="<f8").reshape(-1, 3)
    inten = np.fromfile(f"{d}/intensity.f64", dtype="<f8")
    sig = np.fromfile(f"{d}/sigma.f64", dtype="<f8")
    still = np.fromfile(f"{d}/still.u32", dtype="<u4")
    cells = np.array(meta["cells"], dtype=float)
    cell = np.median(cells, axis=0)
    b = b_matrix(cell)
    ndiv = np.array(meta["ndiv"], dtype=float)
    origin = np.array(meta["origin"])
    shape = np.array(meta["shape"])
    n_vox = int(np.prod(shape))
    q2 = np.einsum("ij,ij->i", q, q)
    q2_max = 1 / meta["d_min"] ** 2
    q2_min = 0.0 if meta["d_max"] is None else 1 / meta["d_max"] ** 2
    ok = (q2 <= q2_max) & (q2 >= q2_min)
    hkl = np.empty_like(q)
    for s, u in enumerate(meta["us"]):
        sel = still == s
        a_inv = np.linalg.inv(np.array(u).reshape(3, 3) @ b)
        hkl[sel] = q[sel] @ a_inv.T
    x = hkl * ndiv
    n = np.floor(x + 0.5).astype(np.int64)
    n = np.abs(n)  # mmm: the ASU representative is (|h|, |k|, |l|)
    rel = n - origin
    inside = ok & np.all((rel >= 0) & (rel < shape), axis=1)
    vox = np.where(inside, (rel[:, 0] * shape[1] + rel[:, 1]) * shape[2] + rel[:, 2], -1)
    vox.astype("<i4").tofile(f"{d}/voxel.i32")
    v = vox[inside]
    xi = inten[inside]
    si = sig[inside]
    count = np.bincount(v, minlength=n_vox).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(v, weights=xi, minlength=n_vox) / count
        mean[count == 0] = 0
        m2 = np.bincount(v, weights=(xi - mean[v]) ** 2, minlength=n_vox)
        w = np.where(si > 0, 1 / np.where(si > 0, si, 1) ** 2, 0.0)
        sumw = np.bincount(v, weights=w, minlength=n_vox)
        wmean = np.bincount(v, weights=w * xi, minlength=n_vox) / sumw
        wmean[sumw == 0] = 0
        wm2 = np.bincount(v, weights=w * (xi - wmean[v]) ** 2, minlength=n_vox)
    for name, arr in [
        ("count", count),
        ("mean", mean),
        ("m2", m2),
        ("sumw", sumw),
        ("wmean", wmean),
        ("wm2", wm2),
    ]:
        arr.astype("<f8").tofile(f"{d}/{name}.f64")
    json.dump(
        {
            "q2_min": float(q2[inside].min()) if inside.any() else None,
            "q2_max": float(q2[inside].max()) if inside.any() else None,
            "n_binned": int(inside.sum()),
            "b_matrix": b.ravel().tolist(),
        },
        open(f"{d}/summary.json", "w"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
