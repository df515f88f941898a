"""CBF byte_offset timings on the Python side, for tests/bench/cbf.bench.ts.

Usage: cbf_bench.py FILE RAW FAST SLOW REPS
  FILE  a miniCBF written by stagelab; RAW the same pixels as raw int32 little-endian.
Times (seconds, REPS each): fabio's decoder and encoder (its Cython byte_offset, as
fabio.open uses for int32 images), fabio.open of the whole file, and dxtbx's C++
uncompress/compress when dxtbx imports. Checks every decode against RAW.
Prints one JSON line: {"decode fabio": [...], ...}.
"""
import json
import logging
import re
import sys
import time

import fabio
import numpy as np
from fabio.ext import byte_offset

logging.getLogger("fabio").setLevel(logging.ERROR)

path, raw_path, fast, slow, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
want = np.fromfile(raw_path, dtype="<i4")
blob = open(path, "rb").read()
start = blob.index(b"\x0c\x1a\x04\xd5") + 4
size = int(re.search(rb"X-Binary-Size: (\d+)", blob).group(1))
packed = blob[start : start + size]
n = fast * slow
out = {}


def timed(name, fn, check=None):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
    if check is not None:
        assert check(r), name
    out[name] = times


timed("decode fabio", lambda: byte_offset.dec_cbf32(packed, n), lambda r: np.array_equal(np.asarray(r), want))
timed("read file fabio", lambda: fabio.open(path).data, lambda r: np.array_equal(r.reshape(-1), want))
timed("encode fabio", lambda: byte_offset.comp_cbf32(want))
try:
    from dxtbx.ext import compress, uncompress
    from scitbx.array_family import flex

    timed(
        "decode dxtbx",
        lambda: uncompress(packed=packed, fast=fast, slow=slow),
        lambda r: np.array_equal(r.as_numpy_array().reshape(-1), want),
    )
    as_flex = flex.int(want.astype(np.int64))
    timed("encode dxtbx", lambda: compress(as_flex))
except ImportError:
    pass
print(json.dumps(out))
