"""numpy side of tests/bench/cubefit-build.bench.ts: the CubeFit HyperCube models of a file
written by stagelab (populateCubeFile + ensureRebinAndResample), computed with numpy.

Usage: cubefit_build_bench.py FILE

Reads /TemPix, /ObsPix, /VelPix, /LOSVD, /Templates and /R_T with h5py and prints READY.
Then, for each line on stdin, runs once and prints the seconds it took:

  dense          models for every (s, c, p): the LOSVD kernel by velocity/pixel bin overlaps,
                 np.fft.rfft / irfft convolution of all populations at once per spaxel
                 (zero-padded: linear), then a dense (C * P, T) @ (T, L) product with R_T
                 (BLAS), the seed's dense R_T as it is stored
  sparse         the same with R_T as a scipy.sparse CSR matrix
  h5py OUT SC CC PC   "dense", then written with h5py to OUT as /HyperCube/models float32
                 (S, C, P, L) chunked (SC, CC, PC, L), uncompressed: an end-to-end build
  check OTHER    (not timed) prints the largest |difference| of the last dense models to
                 OTHER's /HyperCube/models, relative to max |model|

Stops at end of input. numpy's FFT is pocketfft (one thread); the product uses the BLAS
threads numpy was given (the benchmark reports OPENBLAS_NUM_THREADS).
"""
import os
import sys
import time

import h5py
import numpy as np
import scipy.sparse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cubefit", "fixtures"))
from cubefit_numpy import kernel_bins  # noqa: E402


with h5py.File(sys.argv[1], "r", swmr=True) as f:
    tem = f["/TemPix"][...]
    vel = f["/VelPix"][...]
    losvd = np.asarray(f["/LOSVD"][...], np.float64)  # (S, V, C)
    tpl = np.asarray(f["/Templates"][...], np.float64)  # (P, T)
    RT = np.asarray(f["/R_T"][...], np.float64)  # (T, L)
S, V, C = losvd.shape
P, T = tpl.shape
L = RT.shape[1]
dlog = (tem[-1] - tem[0]) / (T - 1)
W, k_min, k_max = kernel_bins(vel, dlog)  # W: (V, nk)
n = T + max(k_max, -k_min, 0)
n += n % 2
RT_csr = scipy.sparse.csr_matrix(RT)
place = (k_min + np.arange(W.shape[1])) % n
models = None


def build(sparse):
    global models
    out = np.empty((S, C, P, L), np.float32)
    TF = np.fft.rfft(tpl, n=n, axis=1)  # (P, n/2+1)
    for s in range(S):
        K = losvd[s].T @ W  # (C, nk)
        kc = np.zeros((C, n))
        np.add.at(kc, (slice(None), place), K)
        KF = np.fft.rfft(kc, axis=1)  # (C, n/2+1)
        m = np.fft.irfft(TF[None, :, :] * KF[:, None, :], n=n, axis=2)[:, :, :T]
        m = m.reshape(C * P, T)
        out[s] = (m @ RT_csr if sparse else m @ RT).reshape(C, P, L)
    models = out
    return out


print("READY", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "check":
        with h5py.File(cmd[1], "r", swmr=True) as f:
            other = f["/HyperCube/models"][...]
        d = np.max(np.abs(other.astype(np.float64) - models)) / np.max(np.abs(models))
        print(float(d), flush=True)
        continue
    t0 = time.perf_counter()
    if cmd[0] == "h5py":
        out = build(False)
        sc, cc, pc = int(cmd[2]), int(cmd[3]), int(cmd[4])
        with h5py.File(cmd[1], "w", libver="latest") as f:
            d = f.create_dataset("/HyperCube/models", (S, C, P, L), np.float32, chunks=(sc, cc, pc, L))
            for s0 in range(0, S, sc):
                d[s0 : s0 + sc] = out[s0 : s0 + sc]
    else:
        build(cmd[0] == "sparse")
    print(time.perf_counter() - t0, flush=True)
