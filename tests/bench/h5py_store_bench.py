"""h5py side of bench/store.bench.ts: the same operations on the same data, timed here.

Usage: h5py_store_bench.py RAW_FILE ROWS ROW_ELEMS CHUNK_ROWS SLAB_ROWS REPS OUT_DIR SLICES_JSON
Prints one JSON object: {op: [seconds per rep, ...]}.
"""
import json
import sys
import time

import h5py
import numpy as np

raw, rows, row_elems, chunk_rows, slab_rows, reps, out_dir, slices_file = sys.argv[1:]
rows, row_elems, chunk_rows, slab_rows, reps = map(int, (rows, row_elems, chunk_rows, slab_rows, reps))
data = np.fromfile(raw, dtype="<f4").reshape(rows, row_elems)
slices = json.load(open(slices_file))
times = {}


def timed(name, fn):
    times.setdefault(name, [])
    t0 = time.perf_counter()
    fn()
    times[name].append(time.perf_counter() - t0)


for comp, label in ((None, "none"), (1, "gzip-1")):
    path = f"{out_dir}/h5py-{label}.h5"
    for _ in range(reps):
        def write():
            with h5py.File(path, "w", libver="v110") as f:
                ds = f.create_dataset(
                    "x", shape=(0, row_elems), maxshape=(None, row_elems), dtype="<f4",
                    chunks=(chunk_rows, row_elems), compression="gzip" if comp else None,
                    compression_opts=comp,
                )
                for r in range(0, rows, slab_rows):
                    n = min(slab_rows, rows - r)
                    ds.resize(r + n, axis=0)
                    ds[r:r + n] = data[r:r + n]
        timed(f"write {label}", write)

        def read():
            with h5py.File(path, "r") as f:
                ds = f["x"]
                out = np.empty((slab_rows, row_elems), dtype="<f4")
                for r in range(0, rows, slab_rows):
                    n = min(slab_rows, rows - r)
                    ds.read_direct(out, np.s_[r:r + n], np.s_[0:n])
        timed(f"read {label}", read)

    if comp is None:
        for _ in range(reps):
            def small():
                with h5py.File(path, "r") as f:
                    ds = f["x"]
                    for (r0, c0, nr, nc) in slices:
                        ds[r0:r0 + nr, c0:c0 + nc]
            timed("random small slices", small)

print(json.dumps(times))
