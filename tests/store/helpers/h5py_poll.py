"""h5py SWMR reader for the stress test: an independent check of what the store commits.

    python3 h5py_poll.py <file> <stopFile>

Opens the file with h5py in SWMR read mode and loops: refresh /_stagelab/commit and read
the marker [sequence, len(/rows), len(/index)] (the order of `tracked`), then refresh the
datasets and read rows [0, n) and check every value against row i = i*1000 + j, index i = i.
The marker and lengths must never go backwards and the datasets' extents must cover the
marker. When <stopFile> exists (holding the writer's final {seq, rows}), it re-opens the
file without SWMR and checks the final commit and state, then prints a JSON summary
(after {"progress": polls} lines every 100 polls).
"""
import json
import os
import sys

import h5py
import numpy as np

ROW_WIDTH = 8
path, stop_file = sys.argv[1], sys.argv[2]
summary = {"reader": "h5py", "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version,
           "polls": 0, "changes": 0, "rowsChecked": 0, "maxRows": 0, "lastSeq": 0, "errors": [], "final": None}


def fail(msg):
    if len(summary["errors"]) < 20:
        summary["errors"].append(msg)


def expected_rows(n):
    return np.arange(n, dtype=np.float64)[:, None] * 1000 + np.arange(ROW_WIDTH, dtype=np.float64)[None, :]


class View:
    """The handles a poll uses, opened once (refresh() re-reads their metadata)."""

    def __init__(self, f):
        book = f["_stagelab"]
        self.tracked = [t.decode() if isinstance(t, bytes) else str(t) for t in book.attrs["tracked"]]
        self.commit = book["commit"]
        self.rows, self.index = f["rows"], f["index"]


def check(v, refresh):
    tracked, commit, rows_ds, index_ds = v.tracked, v.commit, v.rows, v.index
    if refresh:
        commit.refresh()
    marker = commit[...]
    seq = int(marker[0])
    lengths = {p: int(marker[i + 1]) for i, p in enumerate(tracked)}
    n = lengths["/rows"]
    if lengths["/index"] != n:
        fail(f"seq {seq}: marker lengths differ {lengths}")
    if seq < summary["lastSeq"]:
        fail(f"sequence went back {summary['lastSeq']} -> {seq}")
    if n < summary["maxRows"]:
        fail(f"committed length went back {summary['maxRows']} -> {n} (seq {seq})")
    if refresh:
        rows_ds.refresh()
        index_ds.refresh()
    if rows_ds.shape[0] < n or index_ds.shape[0] < n:
        fail(f"seq {seq}: extents {rows_ds.shape} {index_ds.shape} behind the marker {n}")
        return
    if n > 0:
        rows = rows_ds[:n]
        idx = index_ds[:n]
        exp = expected_rows(n)
        if rows.dtype != np.float64 or rows.shape != (n, ROW_WIDTH):
            fail(f"seq {seq}: rows read as {rows.dtype} {rows.shape}")
        elif not np.array_equal(rows, exp):
            bad = np.argwhere(rows != exp)[:3]
            fail(f"seq {seq}: rows differ at {bad.tolist()} (committed {n}): "
                 f"{[float(rows[tuple(b)]) for b in bad]} vs {[float(exp[tuple(b)]) for b in bad]}")
        if not np.array_equal(idx, np.arange(n, dtype=np.int64)):
            bad = np.flatnonzero(idx != np.arange(n))[:3]
            fail(f"seq {seq}: index differs at {bad.tolist()} (committed {n})")
        summary["rowsChecked"] += n
    if seq != summary["lastSeq"]:
        summary["changes"] += 1
    summary["lastSeq"] = max(summary["lastSeq"], seq)
    summary["maxRows"] = max(summary["maxRows"], n)


with h5py.File(path, "r", libver="latest", swmr=True) as f:
    view = View(f)
    while True:
        stop = json.load(open(stop_file)) if os.path.exists(stop_file) else None
        try:
            check(view, refresh=True)
            summary["polls"] += 1
            if summary["polls"] % 100 == 0:
                print(json.dumps({"progress": summary["polls"]}), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a finding to report
            fail(f"poll {summary['polls']}: {type(e).__name__}: {e}")
            if len(summary["errors"]) >= 20:
                break
        if stop:
            break

# The writer has closed: a plain re-open must show its final commit and state "complete".
with h5py.File(path, "r") as f:
    before = summary["maxRows"]
    summary["maxRows"] = 0
    summary["lastSeq"] = 0
    check(View(f), refresh=False)
    marker = f["_stagelab/commit"][...]
    state = f["_stagelab"].attrs["state"]
    summary["final"] = {"seq": int(marker[0]), "rows": int(marker[1]), "state": state.decode() if isinstance(state, bytes) else str(state)}
    summary["maxRows"] = max(before, summary["maxRows"])
    if stop and (summary["final"]["seq"] != stop["seq"] or summary["final"]["rows"] != stop["rows"] or summary["final"]["state"] != "complete"):
        fail(f"final view {summary['final']} != writer's final {stop}")

print(json.dumps(summary))
