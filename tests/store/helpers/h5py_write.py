"""Write reference files with h5py for the interop test (h5py -> our reader).

    python3 h5py_write.py <outdir>

For each libver ('default' and 'latest') writes <outdir>/h5py-<libver>.h5 holding, for
every dtype of h5py_formula.DTYPES, /chunked/<dtype> (shape (11, 3), chunks (4, 3), gzip
level 6, unlimited axis 0) and /contiguous/<dtype> (shape (2, 3, 4)), values from the
pattern, plus big-endian datasets, a 1-d dataset with shuffle+gzip, and attributes.
Prints a JSON manifest of what it wrote.
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h5py_formula import DTYPES, pattern  # noqa: E402

outdir = sys.argv[1]
manifest = {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "files": {}}

ATTRS = {
    "title": "written by h5py ✓",
    "ratio": 0.125,
    "count": 42,
    "neg": -7,
    "big": 2**62 + 1,
    "floats": np.array([1.5, -2.25, 1e300]),
    "ints": np.array([-1, 0, 2**40], dtype=np.int64),
    "shorts": np.array([1, -2, 3], dtype=np.int16),
    "names": np.array(["alpha", "beta"], dtype=h5py.string_dtype()),
}

for libver in ["default", "latest"]:
    path = os.path.join(outdir, f"h5py-{libver}.h5")
    kw = {} if libver == "default" else {"libver": "latest"}
    with h5py.File(path, "w", **kw) as f:
        for name, value in ATTRS.items():
            f.attrs[name] = value
        chunked = f.create_group("chunked")
        contiguous = f.create_group("contiguous")
        for dtype in DTYPES:
            data = pattern(dtype, 11 * 3).reshape(11, 3)
            d = chunked.create_dataset(dtype, data=data, chunks=(4, 3), maxshape=(None, 3),
                                       compression="gzip", compression_opts=6)
            d.attrs["dtype"] = dtype
            contiguous.create_dataset(dtype, data=pattern(dtype, 2 * 3 * 4).reshape(2, 3, 4))
        # Big-endian storage: HDF5 converts to the reader's little-endian memory type.
        f.create_dataset("bigendian/int32", data=pattern("int32", 10).astype(">i4"), chunks=(3,), compression="gzip")
        f.create_dataset("bigendian/float64", data=pattern("float64", 10).astype(">f8"))
        f.create_dataset("shuffled/float32", data=pattern("float32", 100), chunks=(16,), shuffle=True,
                         compression="gzip", compression_opts=1)
        f["chunked/float64"].attrs["units"] = "m/s"
        f["chunked/float64"].attrs["scale"] = np.float32(0.5)
    manifest["files"][libver] = path

print(json.dumps(manifest))
