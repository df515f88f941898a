#!/usr/bin/python3
"""zarr-python (Debian's 2.13) side of tests/skycell/dataset.test.ts.

  dump STORE OUTDIR WEIGHTS_JSON BADBITS
      Opens STORE with zarr.open_group and walks projection -> skycell -> band groups. For every
      band writes OUTDIR/<proj>__<cell>__<band>.image.bin (float32 LE) and .mask.bin (uint16 LE);
      for every cell the band combination computed here with numpy (each band linearised to
      float32 as ps1Linearize does, float64 weighted sum, NaN where any weighted band is NaN or
      has a BADBITS bit) to OUTDIR/<proj>__<cell>.combined.bin (float32 LE). Prints a JSON summary
      of the hierarchy: group attributes, array shapes, chunks, dtypes, compressors, headers.
"""
import json
import os
import sys

import numpy as np
import zarr

ALPHA = 2.5 / np.log(10.0)


def linearize(c, header):
    return (header["BOFFSET"] + 2 * header["BSOFTEN"] * np.sinh(c.astype("f8") / ALPHA)).astype("f4")


def main():
    cmd = sys.argv[1]
    if cmd != "dump":
        raise SystemExit(f"unknown command {cmd}")
    root, outdir, weights, badbits = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])
    os.makedirs(outdir, exist_ok=True)
    g = zarr.open_group(zarr.DirectoryStore(root), mode="r")
    summary = {"projections": {}}
    for pname, pg in g.groups():
        proj = {"attrs": dict(pg.attrs), "cells": {}}
        for cname, cg in pg.groups():
            cell = {"attrs": dict(cg.attrs), "bands": {}}
            total = None
            bad = None
            for bname, bg in cg.groups():
                img, msk = bg["image"], bg["mask"]
                a, m = img[...], msk[...]
                stem = os.path.join(outdir, f"{pname}__{cname}__{bname}")
                a.astype("<f4").tofile(stem + ".image.bin")
                m.astype("<u2").tofile(stem + ".mask.bin")
                comp = img.compressor
                cell["bands"][bname] = {
                    "header": img.attrs["header"],
                    "shape": list(img.shape), "chunks": list(img.chunks), "dtype": img.dtype.name,
                    "maskShape": list(msk.shape), "maskDtype": msk.dtype.name,
                    "compressor": None if comp is None else comp.get_config(),
                }
                w = weights.get(bname, 0)
                if w == 0:
                    continue
                lin = linearize(a, img.attrs["header"])
                total = w * lin.astype("f8") if total is None else total + w * lin.astype("f8")
                b = np.isnan(lin) | ((m & badbits) != 0)
                bad = b if bad is None else bad | b
            if total is not None:
                total[bad] = np.nan
                total.astype("<f4").tofile(os.path.join(outdir, f"{pname}__{cname}.combined.bin"))
            proj["cells"][cname] = cell
        summary["projections"][pname] = proj
    print(json.dumps(summary))


main()
