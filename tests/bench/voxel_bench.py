"""numpy/h5py side of tests/bench/voxel.bench.ts: the same voxel binning, statistics,
HDF5 appends, sort and merges as src/voxel, vectorised (np.bincount, np.argsort).

Usage: voxel_bench.py DIR REPS
DIR holds meta.json (per-still scaled matrices diag(ndiv) A_i^-1, box origin and shape,
|q|^2 limits, rows per still, HDF5 chunk rows) and q.f64 [n, 3], intensity.f64, sigma.f64
(stills concatenated). Prints BENCH_JSON {op: [seconds per rep]}.

Operations (each REPS times):
  bin+stats            per still: hkl*ndiv = q @ M^T, n = floor(. + 1/2), mmm ASU (abs), box index,
                       then n, mean, m2, sum_w, weighted mean, weighted m2 per voxel from
                       bincounts accumulated over stills (sums; the two-pass parts on the totals)
  add hdf5 none / lzf  bin+stats plus the binned columns appended to h5py chunked datasets
  finalize none        read the columns back, stable argsort by voxel, write sorted columns and
                       the CSR offsets (in memory: numpy has no bounded-memory sort)
  weighted mean        per-voxel n, mean, m2, sum_w, weighted mean, weighted m2 of pre-binned
                       observations (two-pass bincount)
  chan merge           Chan et al.'s pairwise merge of two partial statistics arrays
"""
import json
import os
import sys
import time

import h5py
import numpy as np

d, reps = sys.argv[1], int(sys.argv[2])
meta = json.load(open(os.path.join(d, "meta.json")))
q_all = np.fromfile(os.path.join(d, "q.f64"), dtype="<f8").reshape(-1, 3)
i_all = np.fromfile(os.path.join(d, "intensity.f64"), dtype="<f8")
s_all = np.fromfile(os.path.join(d, "sigma.f64"), dtype="<f8")
per = meta["rows_per_still"]
mats = [np.array(m).reshape(3, 3) for m in meta["scaled"]]
origin = np.array(meta["origin"])
shape = np.array(meta["shape"])
nv = int(np.prod(shape))
q2min, q2max = meta["q2_min"], meta["q2_max"]
chunk = meta["chunk_rows"]


def bin_still(k):
    q = q_all[k * per : (k + 1) * per]
    q2 = np.einsum("ij,ij->i", q, q)
    ok = (q2 <= q2max) & (q2 >= q2min)
    n = np.floor(q @ mats[k].T + 0.5).astype(np.int32)
    np.abs(n, out=n)  # mmm ASU
    rel = n - origin.astype(np.int32)
    ok &= np.all((rel >= 0) & (rel < shape), axis=1)
    v = ((rel[:, 0] * shape[1] + rel[:, 1]) * shape[2] + rel[:, 2])[ok]
    return ok, v, q2


def run_bin(sink=None):
    acc = np.zeros((6, nv))
    for k in range(len(mats)):
        ok, v, q2 = bin_still(k)
        x = i_all[k * per : (k + 1) * per][ok]
        s = s_all[k * per : (k + 1) * per][ok]
        w = np.where(s > 0, 1 / np.where(s > 0, s, 1) ** 2, 0.0)
        acc[0] += np.bincount(v, minlength=nv)
        acc[1] += np.bincount(v, weights=x, minlength=nv)
        acc[2] += np.bincount(v, weights=x * x, minlength=nv)
        acc[3] += np.bincount(v, weights=w, minlength=nv)
        acc[4] += np.bincount(v, weights=w * x, minlength=nv)
        acc[5] += np.bincount(v, weights=w * x * x, minlength=nv)
        if sink is not None:
            sink(v, x, s, np.full(v.shape, k, dtype="<u4"), q_all[k * per : (k + 1) * per][ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        n = acc[0]
        mean = np.where(n > 0, acc[1] / n, 0)
        m2 = acc[2] - n * mean * mean
        wmean = np.where(acc[3] > 0, acc[4] / acc[3], 0)
        wm2 = acc[5] - acc[3] * wmean * wmean
    return n, mean, m2, acc[3], wmean, wm2


def columns(f, comp):
    kw = {} if comp is None else {"compression": comp}
    return {
        "voxel": f.create_dataset("obs/voxel", (0,), "<i4", maxshape=(None,), chunks=(chunk,), **kw),
        "intensity": f.create_dataset("obs/intensity", (0,), "<f8", maxshape=(None,), chunks=(chunk,), **kw),
        "sigma": f.create_dataset("obs/sigma", (0,), "<f8", maxshape=(None,), chunks=(chunk,), **kw),
        "still": f.create_dataset("obs/still", (0,), "<u4", maxshape=(None,), chunks=(chunk,), **kw),
        "q_lab": f.create_dataset("obs/q_lab", (0, 3), "<f4", maxshape=(None, 3), chunks=(chunk, 3), **kw),
    }


def append(ds, a):
    n = ds.shape[0]
    ds.resize((n + a.shape[0],) + ds.shape[1:])
    ds[n:] = a


times = {}


def timed(name, fn):
    t0 = time.perf_counter()
    r = fn()
    times.setdefault(name, []).append(time.perf_counter() - t0)
    return r


for rep in range(reps):
    timed("bin + statistics", run_bin)
    for comp, label in [(None, "none"), ("lzf", "lzf")]:
        path = os.path.join(d, f"np_{label}.h5")

        def add():
            with h5py.File(path, "w", libver="latest") as f:
                cols = columns(f, comp)

                def sink(v, x, s, st, q):
                    append(cols["voxel"], v.astype("<i4"))
                    append(cols["intensity"], x)
                    append(cols["sigma"], s)
                    append(cols["still"], st)
                    append(cols["q_lab"], q.astype("<f4"))

                run_bin(sink)

        timed(f"add hdf5 {label}", add)
        if label == "none":

            def finalize():
                with h5py.File(path, "a", libver="latest") as f:
                    src = {k: f["obs"][k][...] for k in ("voxel", "intensity", "sigma", "still", "q_lab")}
                    order = np.argsort(src["voxel"], kind="stable")
                    g = f.create_group("sorted")
                    for k, a in src.items():
                        g.create_dataset(k, data=a[order], chunks=(chunk,) + a.shape[1:])
                    counts = np.bincount(src["voxel"], minlength=nv)
                    off = np.zeros(nv + 1, dtype="<u8")
                    np.cumsum(counts, out=off[1:])
                    g.create_dataset("offset", data=off)

            timed("finalize none", finalize)
        os.remove(path)

# Pre-binned observations for the merge benches (binning not timed).
vs, xs, ss = [], [], []
for k in range(len(mats)):
    ok, v, _ = bin_still(k)
    vs.append(v)
    xs.append(i_all[k * per : (k + 1) * per][ok])
    ss.append(s_all[k * per : (k + 1) * per][ok])
v, x, s = np.concatenate(vs), np.concatenate(xs), np.concatenate(ss)


def weighted_mean():
    n = np.bincount(v, minlength=nv).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(v, weights=x, minlength=nv) / n
        m2 = np.bincount(v, weights=(x - mean[v]) ** 2, minlength=nv)
        w = np.where(s > 0, 1 / np.where(s > 0, s, 1) ** 2, 0.0)
        sw = np.bincount(v, weights=w, minlength=nv)
        wmean = np.bincount(v, weights=w * x, minlength=nv) / sw
        wm2 = np.bincount(v, weights=w * (x - wmean[v]) ** 2, minlength=nv)
    return n, mean, m2, sw, wmean, wm2


half = len(v) // 2
parts = []
for sl in (slice(0, half), slice(half, None)):
    vv, xx, ss_ = v[sl], x[sl], s[sl]
    n = np.bincount(vv, minlength=nv).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nan_to_num(np.bincount(vv, weights=xx, minlength=nv) / n)
        m2 = np.bincount(vv, weights=(xx - mean[vv]) ** 2, minlength=nv)
        w = np.where(ss_ > 0, 1 / np.where(ss_ > 0, ss_, 1) ** 2, 0.0)
        sw = np.bincount(vv, weights=w, minlength=nv)
        wm = np.nan_to_num(np.bincount(vv, weights=w * xx, minlength=nv) / sw)
        wm2 = np.bincount(vv, weights=w * (xx - wm[vv]) ** 2, minlength=nv)
    parts.append((n, mean, m2, sw, wm, wm2))


def chan():
    (na, ma, m2a, wa, wma, wm2a), (nb, mb, m2b, wb, wmb, wm2b) = parts
    with np.errstate(invalid="ignore", divide="ignore"):
        n = na + nb
        dl = mb - ma
        mean = np.where(n > 0, ma + dl * nb / n, 0)
        m2 = np.where(n > 0, m2a + m2b + dl * dl * na * nb / n, 0)
        w = wa + wb
        dw = wmb - wma
        wmean = np.where(w > 0, wma + dw * wb / w, 0)
        wm2 = np.where(w > 0, wm2a + wm2b + dw * dw * wa * wb / w, 0)
    return n, mean, m2, w, wmean, wm2


for rep in range(reps):
    timed("weighted mean", weighted_mean)
    timed("chan merge", chan)

print("BENCH_JSON " + json.dumps({"times": times, "binned": int(len(v))}))
