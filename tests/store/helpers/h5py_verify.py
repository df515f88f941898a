"""Read a file our writer wrote with h5py, and report what h5py sees (our writer -> h5py).

    python3 h5py_verify.py <file>

Every dataset under /dt* groups is named after its dtype; its values are checked against
h5py_formula.pattern (the formula re-implemented with numpy). Other datasets are listed
with their first values. Prints one JSON object:
  {"datasets": {path: {dtype, shape, maxshape, chunks, compression, compression_opts,
                       shuffle, values_ok, mismatch, head}},
   "attrs": {path: {name: {"type": numpy dtype or "str", "value": ...}}},
   "libver": [...], "hdf5": version}
Integers outside +-2**53 are reported as strings (JSON numbers would round them).
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h5py_formula import DTYPES, pattern, same  # noqa: E402

SAFE = 2**53


def jsonable(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    if isinstance(v, str):
        return v
    if isinstance(v, (np.ndarray, list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.complexfloating, complex)):
        return [jsonable(v.real), jsonable(v.imag)]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        i = int(v)
        return i if -SAFE < i < SAFE else str(i)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if np.isfinite(f) else str(f)
    return repr(v)


def attr_report(obj):
    out = {}
    for name, value in obj.attrs.items():
        kind = "str" if isinstance(value, str) else str(np.asarray(value).dtype)
        out[name] = {"type": kind, "value": jsonable(value)}
    return out


path = sys.argv[1]
report = {"hdf5": h5py.version.hdf5_version, "datasets": {}, "attrs": {}}
with h5py.File(path, "r") as f:
    report["libver"] = list(f.libver)
    report["attrs"]["/"] = attr_report(f)

    def visit(name, obj):
        p = "/" + name
        report["attrs"][p] = attr_report(obj)
        if not isinstance(obj, h5py.Dataset):
            return
        data = obj[()]
        entry = {
            "dtype": str(obj.dtype),
            "shape": list(obj.shape),
            "maxshape": [m if m is not None else None for m in obj.maxshape] if obj.maxshape else None,
            "chunks": list(obj.chunks) if obj.chunks else None,
            "compression": obj.compression,
            "compression_opts": jsonable(obj.compression_opts) if obj.compression_opts is not None else None,
            "shuffle": bool(obj.shuffle),
            "head": jsonable(np.asarray(data).reshape(-1)[:4]),
        }
        if data.size <= 64:
            entry["values"] = jsonable(np.asarray(data).reshape(-1))
        if name.split("/")[0].startswith("dt") and name.split("/")[-1] in DTYPES:
            dtype = name.split("/")[-1]
            expected = pattern(dtype, int(np.prod(obj.shape))).reshape(obj.shape)
            entry["values_ok"] = same(data, expected)
            if not entry["values_ok"]:
                flat, exp = np.asarray(data).reshape(-1), expected.reshape(-1)
                bad = next((i for i in range(min(flat.size, exp.size)) if not same(flat[i], exp[i])), None)
                entry["mismatch"] = {"index": bad, "got": jsonable(flat[bad]) if bad is not None else None,
                                     "expected": jsonable(exp[bad]) if bad is not None else None}
        report["datasets"][p] = entry

    f.visititems(visit)

print(json.dumps(report))
