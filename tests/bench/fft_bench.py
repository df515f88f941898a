"""numpy side of tests/bench/fft.bench.ts: numpy.fft.fft2 / ifft2 over axes (0, 1) of a
complex128 [NY, NX, M] array (numpy's pocketfft, one thread).

Usage: fft_bench.py FILE NY NX M
FILE holds the array as complex128 little-endian, row-major. Runs each operation once (warm-up)
and prints one line, READY {"samples": {op: {"re": [...], "im": [...]}}, "scale": {op: max
|result|}} with the results at flat indices (i * 65537 + 12345) % size, i < 4096. Then, for
each line "fft2" or "ifft2" on stdin, runs that operation once and prints its time in seconds
(numpy returns a new array: allocating it is part of the time), so that the benchmark can
alternate numpy's runs with its own; stops at end of input.
"""
import json
import sys
import time

import numpy as np

path, ny, nx, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = np.fromfile(path, dtype="<c16").reshape(ny, nx, m)
idx = (np.arange(4096, dtype=np.int64) * 65537 + 12345) % a.size
ops = {
    "fft2": lambda: np.fft.fft2(a, axes=(0, 1)),
    "ifft2": lambda: np.fft.ifft2(a, axes=(0, 1)),
}
samples, scale = {}, {}
for name, fn in ops.items():
    r = fn().ravel()
    samples[name] = {"re": r.real[idx].tolist(), "im": r.imag[idx].tolist()}
    scale[name] = float(np.abs(r).max())
    del r
print("READY " + json.dumps({"samples": samples, "scale": scale}), flush=True)
for line in sys.stdin:
    fn = ops[line.strip()]
    t0 = time.perf_counter()
    r = fn()
    print(time.perf_counter() - t0, flush=True)
    del r
