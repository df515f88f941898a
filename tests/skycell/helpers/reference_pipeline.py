#!/usr/bin/python3
"""Reference PS1 sliding-window convolution pipeline in numpy/scipy (independent of src/skycell).

Used by the tests as the correctness reference and by the benchmark as the reference pipeline.
Reads the store layout of src/skycell/dataset.ts (Zarr v2: <store>/<PPPP>/<skycell>/<band>/image|mask,
projection group attrs grid/cellShape/overlapPx/bands, image attrs.header with BOFFSET/BSOFTEN)
and the cell list CSV (projection,skycell,row,col,ra_deg,dec_deg).

Semantics
  combine   each band with weight != 0: L = float32(BOFFSET + 2 BSOFTEN sinh(C ln10 / 2.5));
            flux = sum(weight * L) (float64, stored float32); mask = OR of those bands' masks;
            a pixel is invalid (flux NaN) when any such band is NaN or has mask & bad_mask.
  placement cell (r, c) sits at mosaic pixel (r * stepY, c * stepX), step = cell size - overlapPx.
            Cells are pasted in row-major order (r, then c); each cell overwrites what is there
            except its first E = edge_exclusion rows (if r > 0) and first E columns (if c > 0),
            which keep the earlier cells' values. Pixels no cell covers are NaN (mask 0). A cell
            inside the grid but absent from the store is pasted as an all-NaN cell (mask 0, same
            exclusion) with --absent nan (default), or not pasted at all with --absent skip.
  rows      for each listed row (projection p, row r, listed cols c_min..c_max) the window is
            mosaic rows [r*stepY - pad, r*stepY + H + pad) x cols [c_min*stepX - pad,
            c_max*stepX + W + pad), filled by pasting (as above) every grid cell that intersects
            it, listed or not (only the intersecting part of each cell is read).
  whole     paste the whole projection mosaic once and convolve it whole.
  convolve  w = isfinite(flux); num = G(where(w, flux, 0)); den = G(w) with
            G = scipy.ndimage.gaussian_filter(sigma, mode="constant", cval=0, truncate) in
            float64; data = num / den where den > min_weight else NaN.
  output    per listed cell: image = data[cell] (float32), weight = den[cell] (float32), mask =
            pasted combined mask[cell] (uint16) -> <out>/convolved_images.zarr/<PPPP>/<name as
            listed>/image|weight|mask (zarr v2, Zlib(level=1), chunks min(512, size)), plus
            <out>/reference_summary.json.

With --processes N > 1, cells are read and combined in a multiprocessing Pool of N (the next
window's cells are requested before the current window is convolved, as the seed's parallel
readers feed its sequential assembler), and the output is written by one saver thread; assembly
and convolution stay sequential in the main process. Phase times "read"/"combine" are summed
over the cells (in whichever process did them), so with a pool they can exceed the wall time;
"wait" is the main process's time blocked on the pool / saver.

Prints one JSON line: {"seconds", "megapixels", "cells", "phases": {...}, ...}.
"""
import argparse
import csv
import json
import math
import os
import queue
import re
import sys
import threading
import time
from collections import OrderedDict
from multiprocessing import Pool

import numcodecs
import numpy as np
import zarr
from scipy.ndimage import gaussian_filter

ALPHA = 2.5 / math.log(10.0)
NAME_RE = re.compile(r"^(rings\.v3\.)?skycell\.(\d{4})\.(\d{3})$")

# ---------------------------------------------------------------------------------------------
# store access


def proj_dir(p):
    return f"{p:04d}"


def cell_names(p, index):
    plain = f"skycell.{p:04d}.{index:03d}"
    return [plain, "rings.v3." + plain]


_info_cache = {}


def projection_info(store, p):
    """Projection attrs, or None when the projection is not in the store."""
    key = (store, p)
    if key not in _info_cache:
        path = os.path.join(store, proj_dir(p), ".zattrs")
        if not os.path.exists(path):
            _info_cache[key] = None
        else:
            with open(path) as f:
                a = json.load(f)
            _info_cache[key] = {
                "grid": tuple(a["grid"]),
                "cellShape": tuple(a["cellShape"]),
                "overlapPx": int(a["overlapPx"]),
                "bands": list(a["bands"]),
            }
    return _info_cache[key]


def stored_cell_dir(store, p, index, prefer=None):
    """Directory of the cell in the store (either naming style), or None when absent."""
    names = cell_names(p, index)
    if prefer in names:
        names.remove(prefer)
        names.insert(0, prefer)
    found = [n for n in names if os.path.exists(os.path.join(store, proj_dir(p), n, ".zgroup"))]
    if len(found) > 1:
        raise RuntimeError(f"projection {p}: cell {index} stored twice ({found})")
    return found[0] if found else None


def read_and_combine(task):
    """Read region [y0:y1, x0:x1] of a cell's weighted bands and combine them.

    task = (store, projection, index, (y0, y1, x0, x1), weights, bad_mask).
    Returns (flux float32 or None when the cell is absent, mask uint16, t_read, t_combine).
    """
    store, p, index, (y0, y1, x0, x1), weights, bad_mask = task
    t0 = time.perf_counter()
    name = stored_cell_dir(store, p, index)
    if name is None:
        return None, None, time.perf_counter() - t0, 0.0
    g = zarr.open_group(os.path.join(store, proj_dir(p), name), mode="r")
    raw = []
    for band, wt in weights.items():
        if wt == 0:
            continue
        img = g[band]["image"]
        hdr = img.attrs["header"]
        raw.append((wt, hdr, img[y0:y1, x0:x1], g[band]["mask"][y0:y1, x0:x1]))
    t1 = time.perf_counter()
    total = np.zeros((y1 - y0, x1 - x0), np.float64)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint16)
    valid = np.ones((y1 - y0, x1 - x0), bool)
    for wt, hdr, c, m in raw:
        lin = (hdr["BOFFSET"] + 2.0 * hdr["BSOFTEN"] * np.sinh(c.astype(np.float64) / ALPHA)).astype(
            np.float32
        )
        total += wt * lin
        mask |= m
        valid &= ~np.isnan(lin) & ((m & bad_mask) == 0)
    flux = np.where(valid, total, np.nan).astype(np.float32)
    return flux, mask, t1 - t0, time.perf_counter() - t1


# ---------------------------------------------------------------------------------------------
# geometry


def intersecting(lo, hi, step, size, n):
    """Grid indices i in [0, n) whose span [i*step, i*step + size) meets [lo, hi)."""
    return [i for i in range(n) if i * step < hi and i * step + size > lo]


def window_tasks(store, p, info, win, weights, bad_mask):
    """(row, col, origin, local region, task) of every grid cell meeting window win=(y0,y1,x0,x1)."""
    (ny, nx), (h, w), o = info["grid"], info["cellShape"], info["overlapPx"]
    sy, sx = h - o, w - o
    wy0, wy1, wx0, wx1 = win
    out = []
    for r in intersecting(wy0, wy1, sy, h, ny):
        for c in intersecting(wx0, wx1, sx, w, nx):
            oy, ox = r * sy, c * sx
            ly0, ly1 = max(wy0, oy) - oy, min(wy1, oy + h) - oy
            lx0, lx1 = max(wx0, ox) - ox, min(wx1, ox + w) - ox
            task = (store, p, r * nx + c, (ly0, ly1, lx0, lx1), weights, bad_mask)
            out.append((r, c, (oy, ox), (ly0, ly1, lx0, lx1), task))
    return out


def paste(flux_win, mask_win, win, r, c, origin, region, flux, mask, edge, absent):
    """Paste a cell piece (local region of cell (r, c)) into the window, keeping the earlier
    cells' values in its first `edge` rows (r > 0) and columns (c > 0)."""
    ly0, ly1, lx0, lx1 = region
    if flux is None:
        if absent == "skip":
            return
        flux = np.full((ly1 - ly0, lx1 - lx0), np.nan, np.float32)
        mask = np.zeros((ly1 - ly0, lx1 - lx0), np.uint16)
    ey = edge if r > 0 else 0
    ex = edge if c > 0 else 0
    # the pasted part: local rows >= ey and local cols >= ex
    py0, px0 = max(ly0, ey), max(lx0, ex)
    if py0 >= ly1 or px0 >= lx1:
        return
    gy0, gx0 = origin[0] + py0 - win[0], origin[1] + px0 - win[2]
    gy1, gx1 = gy0 + (ly1 - py0), gx0 + (lx1 - px0)
    flux_win[gy0:gy1, gx0:gx1] = flux[py0 - ly0 :, px0 - lx0 :]
    mask_win[gy0:gy1, gx0:gx1] = mask[py0 - ly0 :, px0 - lx0 :]


def normalized_convolution(flux, sigma, truncate, min_weight):
    w = np.isfinite(flux)
    kw = dict(sigma=sigma, mode="constant", cval=0.0, truncate=truncate)
    num = gaussian_filter(np.where(w, flux, 0).astype(np.float64), **kw)
    den = gaussian_filter(w.astype(np.float64), **kw)
    with np.errstate(invalid="ignore", divide="ignore"):
        data = np.where(den > min_weight, num / den, np.nan)
    return data, den


# ---------------------------------------------------------------------------------------------
# cell list


def load_cells(csv_path):
    """Listed cells grouped by (projection, row), in (projection, row) order of first listing."""
    with open(csv_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if any((v or "").strip() for v in r.values())]
    groups = OrderedDict()
    for r in rows:
        p = int(r["projection"])
        name = r["skycell"].strip()
        m = NAME_RE.match(name)
        if not m or int(m.group(2)) != p:
            raise SystemExit(f"{csv_path}: bad skycell {name!r} for projection {p}")
        cell = {"name": name, "index": int(m.group(3)), "row": int(r["row"]), "col": int(r["col"])}
        groups.setdefault((p, cell["row"]), []).append(cell)
    return OrderedDict(sorted(groups.items()))


def check_cells(p, info, cells):
    ny, nx = info["grid"]
    for cell in cells:
        if not (0 <= cell["row"] < ny and 0 <= cell["col"] < nx) or cell["index"] != cell["row"] * nx + cell["col"]:
            raise SystemExit(
                f"listed cell {cell['name']} (row {cell['row']}, col {cell['col']}) does not fit projection {p}'s {ny}x{nx} grid"
            )


# ---------------------------------------------------------------------------------------------
# output


class Writer:
    """Writes the per-cell outputs (inline, or on one saver thread when threaded)."""

    def __init__(self, out, enabled, threaded, phases):
        self.enabled = enabled
        self.phases = phases
        self.compressor = numcodecs.Zlib(level=1)
        self.root = zarr.open_group(os.path.join(out, "convolved_images.zarr"), mode="a") if enabled else None
        self.queue = queue.Queue(maxsize=4) if (enabled and threaded) else None
        self.error = None
        if self.queue is not None:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _write(self, p, name, image, weight, mask):
        t0 = time.perf_counter()
        g = self.root.require_group(f"{proj_dir(p)}/{name}")
        chunks = tuple(min(512, s) for s in image.shape)
        for key, arr, fill in (("image", image, np.nan), ("weight", weight, np.nan), ("mask", mask, 0)):
            g.create_dataset(key, data=arr, chunks=chunks, compressor=self.compressor, fill_value=fill, overwrite=True)
        self.phases["write"] += time.perf_counter() - t0

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                for args in item:
                    self._write(*args)
            except Exception as e:  # surfaced by close()
                self.error = e

    def submit(self, items):
        if not self.enabled:
            return
        if self.queue is None:
            for args in items:
                self._write(*args)
        else:
            t0 = time.perf_counter()
            self.queue.put(items)
            self.phases["wait"] += time.perf_counter() - t0

    def close(self):
        if self.queue is not None:
            t0 = time.perf_counter()
            self.queue.put(None)
            self.thread.join()
            self.phases["wait"] += time.perf_counter() - t0
        if self.error is not None:
            raise self.error


# ---------------------------------------------------------------------------------------------
# pipeline


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sigma", type=float, default=60.0)
    ap.add_argument("--truncate", type=float, default=4.0)
    ap.add_argument("--pad", type=int, default=480)
    ap.add_argument("--edge-exclusion", type=int, default=10)
    ap.add_argument("--min-weight", type=float, default=1e-10)
    ap.add_argument("--weights", default='{"g":0,"r":0.24,"i":0.41,"z":0.25,"y":0.1}')
    ap.add_argument("--bad-mask", type=int, default=0x0002 | 0x0004 | 0x0008 | 0x0020 | 0x0100 | 0x2000)
    ap.add_argument("--mode", choices=["rows", "whole"], default="rows")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--absent", choices=["nan", "skip"], default="nan",
                    help="absent in-grid cells: paste as all-NaN (default) or paste nothing")
    a = ap.parse_args()

    weights = {k: float(v) for k, v in json.loads(a.weights).items()}
    if not any(v != 0 for v in weights.values()):
        raise SystemExit("every band weight is 0")
    if a.pad < 0 or a.edge_exclusion < 0:
        raise SystemExit("pad and edge exclusion must be >= 0")

    t_start = time.perf_counter()
    if not a.no_write:
        os.makedirs(a.out, exist_ok=True)
    phases = {"read": 0.0, "combine": 0.0, "assemble": 0.0, "convolve": 0.0, "write": 0.0, "wait": 0.0}
    groups = load_cells(a.csv)
    pool = Pool(a.processes) if a.processes > 1 else None
    writer = Writer(a.out, not a.no_write, pool is not None, phases)

    # the units of work: (projection, info, window, listed cells)
    units = []
    missing_projections = set()
    megapixels = 0.0
    n_cells = 0
    for (p, r), cells in groups.items():
        info = projection_info(a.store, p)
        if info is None:
            missing_projections.add(p)
            continue
        check_cells(p, info, cells)
        (h, w), o = info["cellShape"], info["overlapPx"]
        if not a.edge_exclusion <= o:
            raise SystemExit(f"edge exclusion {a.edge_exclusion} > overlap {o}")
        megapixels += len(cells) * h * w / 1e6
        n_cells += len(cells)
        units.append((p, r, info, cells))

    if a.mode == "rows":
        work = []
        for p, r, info, cells in units:
            (h, w), o = info["cellShape"], info["overlapPx"]
            sy, sx = h - o, w - o
            cmin = min(c["col"] for c in cells)
            cmax = max(c["col"] for c in cells)
            win = (r * sy - a.pad, r * sy + h + a.pad, cmin * sx - a.pad, cmax * sx + w + a.pad)
            work.append((p, info, win, cells))
    else:
        work = []
        by_proj = OrderedDict()
        for p, r, info, cells in units:
            by_proj.setdefault(p, (info, []))[1].extend(cells)
        for p, (info, cells) in by_proj.items():
            (ny, nx), (h, w), o = info["grid"], info["cellShape"], info["overlapPx"]
            win = (0, (ny - 1) * (h - o) + h, 0, (nx - 1) * (w - o) + w)
            work.append((p, info, win, cells))

    absent_cells = set()

    def fetch(k):
        p, info, win, _ = work[k]
        pieces = window_tasks(a.store, p, info, win, weights, a.bad_mask)
        tasks = [pc[4] for pc in pieces]
        if pool is None:
            return pieces, [read_and_combine(t) for t in tasks]
        return pieces, pool.map_async(read_and_combine, tasks, chunksize=1)

    pending = fetch(0) if work else None
    for k, (p, info, win, cells) in enumerate(work):
        pieces, results = pending
        if pool is not None:
            t0 = time.perf_counter()
            results = results.get()
            phases["wait"] += time.perf_counter() - t0
        # request the next window's cells before this one is assembled and convolved
        pending = fetch(k + 1) if k + 1 < len(work) else None

        t0 = time.perf_counter()
        flux_win = np.full((win[1] - win[0], win[3] - win[2]), np.nan, np.float32)
        mask_win = np.zeros(flux_win.shape, np.uint16)
        for (r, c, origin, region, task), (flux, mask, t_read, t_comb) in zip(pieces, results):
            phases["read"] += t_read
            phases["combine"] += t_comb
            if flux is None:
                absent_cells.add((p, task[2]))
            paste(flux_win, mask_win, win, r, c, origin, region, flux, mask, a.edge_exclusion, a.absent)
        phases["assemble"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        data, den = normalized_convolution(flux_win, a.sigma, a.truncate, a.min_weight)
        phases["convolve"] += time.perf_counter() - t0

        (h, w), o = info["cellShape"], info["overlapPx"]
        items = []
        for cell in cells:
            y0 = cell["row"] * (h - o) - win[0]
            x0 = cell["col"] * (w - o) - win[2]
            sl = (slice(y0, y0 + h), slice(x0, x0 + w))
            items.append((p, cell["name"], data[sl].astype(np.float32), den[sl].astype(np.float32), mask_win[sl].copy()))
        writer.submit(items)

    writer.close()
    if pool is not None:
        pool.close()
        pool.join()
    seconds = time.perf_counter() - t_start

    result = {
        "seconds": seconds,
        "megapixels": megapixels,
        "cells": n_cells,
        "windows": len(work),
        "mode": a.mode,
        "processes": a.processes,
        "phases": phases,
        "absent_cells": sorted(f"{p:04d}.{i:03d}" for p, i in absent_cells),
        "missing_projections": sorted(missing_projections),
    }
    if not a.no_write:
        summary = dict(result)
        summary["parameters"] = {
            "sigma": a.sigma, "truncate": a.truncate, "pad": a.pad, "edge_exclusion": a.edge_exclusion,
            "min_weight": a.min_weight, "weights": weights, "bad_mask": a.bad_mask, "absent": a.absent,
            "store": a.store, "csv": a.csv,
        }
        summary["cell_list"] = [
            {"projection": p, "row": r, "skycells": [c["name"] for c in cells]} for p, r, _, cells in units
        ]
        with open(os.path.join(a.out, "reference_summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
