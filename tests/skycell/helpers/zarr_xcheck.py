#!/usr/bin/python3
"""zarr-python (Debian's 2.13) side of tests/skycell/zarr.test.ts.

  write ROOT PATH DTYPE SHAPE CHUNKS COMPRESSOR FILL   -> zarr-python writes a deterministic array
                                                        (+ attrs), and the raw C-order bytes to
                                                        ROOT/expected.bin
  read ROOT PATH OUT                                    -> raw C-order bytes of the array to OUT;
                                                        prints JSON metadata
SHAPE/CHUNKS are comma-separated; COMPRESSOR is none|zlib|gzip; FILL a number or nan.
"""
import json
import sys

import numcodecs
import numpy as np
import zarr


def ints(s):
    return tuple(int(v) for v in s.split(","))


def pattern(dtype, shape):
    n = int(np.prod(shape))
    i = np.arange(n, dtype="f8")
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = np.sin(i * 0.37) * 1e3 + i / 7.0
        a[::17] = np.nan
        a[5::29] = np.inf
    else:
        info = np.iinfo(dt)
        a = (i * 7919 + 13) % (int(info.max) - int(info.min) + 1) + int(info.min)
    return a.astype(dt).reshape(shape)


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        root, path, dtype, shape, chunks, comp, fill = sys.argv[2:9]
        shape, chunks = ints(shape), ints(chunks)
        compressor = {"none": None, "zlib": numcodecs.Zlib(level=3),
                      "gzip": numcodecs.GZip(level=5)}[comp]
        store = zarr.DirectoryStore(root)
        z = zarr.open_array(store, mode="w", path=path, shape=shape, chunks=chunks, dtype=dtype,
                            compressor=compressor, fill_value=float(fill) if "." in fill or fill == "nan" else int(fill))
        data = pattern(dtype, shape)
        z[...] = data
        z.attrs.update({"BOFFSET": 1.5, "name": "skycell.1234.056", "list": [1, 2, 3]})
        np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tofile(root + "/expected.bin")
    elif cmd == "read":
        root, path, out = sys.argv[2:5]
        z = zarr.open_array(zarr.DirectoryStore(root), mode="r", path=path)
        a = z[...]
        a.astype(a.dtype.newbyteorder("<")).tofile(out)
        comp = z.compressor
        print(json.dumps({
            "dtype": a.dtype.name, "shape": list(z.shape), "chunks": list(z.chunks),
            "compressor": None if comp is None else comp.get_config(),
            "fill_value": None if z.fill_value is None else (
                "NaN" if isinstance(z.fill_value, float) and np.isnan(z.fill_value) else z.fill_value.item()
                if hasattr(z.fill_value, "item") else z.fill_value),
            "attrs": dict(z.attrs), "nchunks_initialized": z.nchunks_initialized,
        }))
    else:
        raise SystemExit(f"unknown command {cmd}")


main()
