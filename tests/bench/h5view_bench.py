"""H5View latency through the real kernel protocol (jupyter_client), same machine.

1. Slice updates: a 4096x4096 float32 dataset; the view asks for what it shows (the whole
   image at stride 8 -> 512x512, or a 512x512 zoom window at stride 1); time from the read
   request to the last byte of the answer.
2. Live increments: a writer process commits a row every 50 ms, each row holding its commit
   time; time from the commit to the increment reaching the client.
Usage: h5view_bench.py DIR READS SECONDS  (JUPYTER_PATH must include the stagelab kernelspec)
Prints BENCH_JSON {...} with lists of milliseconds.
"""
import json
import os
import random
import subprocess
import sys
import time

import h5py
import numpy as np
from jupyter_client.manager import start_new_kernel

out_dir, reads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
big = os.path.join(out_dir, "big.h5")
with h5py.File(big, "w") as f:
    f.create_dataset("img", data=np.random.default_rng(1).random((4096, 4096), dtype=np.float32), chunks=(256, 256))

km, kc = start_new_kernel(kernel_name="stagelab")


def iopub_until(pred, timeout=60):
    deadline = time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        if pred(m):
            return m


def open_view(path, extra=""):
    msg_id = kc.execute(f'import {{ h5view }} from "@stagelab/kernel"; await h5view({json.dumps(path)}{extra})')
    m = iopub_until(lambda m: m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("_model_name") == "H5ViewModel")
    iopub_until(lambda m: m["msg_type"] == "status" and m["parent_header"].get("msg_id") == msg_id and m["content"]["execution_state"] == "idle")
    return m["content"]["comm_id"]


def custom(comm_id, content):
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}))


comm = open_view(big)
rng = random.Random(7)
slice_ms = []
for i in range(reads):
    if i % 2 == 0:
        sel = [[0, 4096, 8], [0, 4096, 8]]
    else:
        r0, c0 = rng.randrange(0, 4096 - 512), rng.randrange(0, 4096 - 512)
        sel = [[r0, r0 + 512, 1], [c0, c0 + 512, 1]]
    t0 = time.perf_counter()
    custom(comm, {"type": "read", "id": f"b{i}", "path": "/img", "selection": sel})
    got = 0
    while True:
        m = iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("content", {}).get("id") == f"b{i}")
        c = m["content"]["data"]["content"]
        got += 1
        if got == c["parts"]:
            break
    slice_ms.append((time.perf_counter() - t0) * 1000)

live = os.path.join(out_dir, "live.h5")
writer = subprocess.Popen(["node", os.path.join(os.path.dirname(__file__), "timed_writer.mjs"), live, str(seconds)], stdout=subprocess.PIPE, text=True)
assert writer.stdout.readline().strip() == "ready"
comm2 = open_view(live, ', { select: "/t", pollMs: 100 }')
upd = {"method": "update", "state": {"view": {"path": "/t", "displayAxes": [0], "indices": {}, "maxPerAxis": 4096}}, "buffer_paths": []}
kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm2, "data": upd}))
live_ms = []
deadline = time.time() + seconds
while time.time() < deadline:
    try:
        m = iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("content", {}).get("id") == "increment:/t", timeout=2)
    except Exception:
        break
    now_ms = time.time() * 1000
    values = np.frombuffer(bytes(m["buffers"][0]), dtype="<f8")
    live_ms.extend((now_ms - values).tolist())
writer.wait(timeout=30)
writer.stdout.close()
kc.stop_channels()
km.shutdown_kernel(now=True)
print("BENCH_JSON " + json.dumps({"slice_ms": slice_ms, "live_ms": live_ms}))
