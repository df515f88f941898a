"""numpy/scipy side of tests/bench/cubefit-solve.bench.ts, kept running so that its runs
alternate with stagelab's (same machine load).

Usage:
  cubefit_solve_bench.py kaczmarz A_FILE Y_FILE ROWS N SPAXELS PIXELS K EPOCHS LR X0
  cubefit_solve_bench.py nnls A_FILE Y_FILE ROWS N

A_FILE holds A (ROWS x N, float64 little-endian, row-major; for kaczmarz SPAXELS blocks of
PIXELS rows), Y_FILE y (ROWS). Runs once (warm-up) and prints READY {json}: for kaczmarz the
resulting x, for nnls scipy's x, objective and KKT residual (the definition of
src/cubefit/solve/nnls.ts). Then, per line "run" on stdin, runs once more and prints the time
in seconds; stops at end of input.

kaczmarz is the seed's loop written in numpy, the same arithmetic as stagelab's solveKaczmarz
with rowOrder "sequential": per epoch, per spaxel, K rows from (epoch*K) % PIXELS, each
x += lr * (y_l - a.x) / (a.a) * a, then x = max(x, 0). nnls is scipy.optimize.nnls(A, y)
(Lawson-Hanson on A itself, Fortran), which has no tolerance knob: it runs to its own end.
"""
import json
import sys
import time

import numpy as np
from scipy.optimize import nnls

mode = sys.argv[1]
A = np.fromfile(sys.argv[2], dtype="<f8").reshape(int(sys.argv[4]), int(sys.argv[5]))
y = np.fromfile(sys.argv[3], dtype="<f8")


def kaczmarz(S, L, K, epochs, lr, x0):
    x = np.full(A.shape[1], x0)
    for ep in range(epochs):
        start = (ep * K) % L
        for s in range(S):
            for i in range(min(K, L)):
                r_idx = s * L + (start + i) % L
                a = A[r_idx]
                r = y[r_idx] - a @ x
                nrm = a @ a
                if nrm > 0:
                    x += (lr * r / nrm) * a
                    np.maximum(x, 0, out=x)
    return x


def kkt(x):
    g = A.T @ (A @ x - y)
    cn = np.sqrt(np.einsum("ij,ij->j", A, A))
    ok = cn > 0
    v = np.abs(np.minimum(x[ok] * cn[ok], g[ok] / cn[ok]))
    return float(v.max() / (np.linalg.norm(y) or 1.0))


if mode == "kaczmarz":
    S, L, K, epochs = (int(v) for v in sys.argv[6:10])
    lr, x0 = float(sys.argv[10]), float(sys.argv[11])
    run = lambda: kaczmarz(S, L, K, epochs, lr, x0)
    x = run()
    print("READY " + json.dumps({"x": x.tolist()}), flush=True)
else:
    run = lambda: nnls(A, y, maxiter=50 * A.shape[1])
    x, rnorm = run()
    print(
        "READY "
        + json.dumps({"x": x.tolist(), "objective": float(rnorm) ** 2, "kkt": kkt(x)}),
        flush=True,
    )
for line in sys.stdin:
    t0 = time.perf_counter()
    run()
    print(time.perf_counter() - t0, flush=True)
