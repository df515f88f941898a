"""FftExplorer latency through the real kernel protocol (jupyter_client over ZeroMQ), same machine.

The kernel writes a 128x128x32x32 bigFT cache (tests/ui/fixtures/fftcache.mjs) and opens the
explorer on it; the client then sends the view's requests (pick a scan frequency, pick a
detector pixel, change the mask) and times each from sending the request to receiving the
kernel's panels reply (all buffers).
Usage: fftexplorer_bench.py DIR N  (JUPYTER_PATH must include the stagelab kernelspec)
Prints BENCH_JSON {"name": [ms, ...], ...}.
"""
import json
import os
import random
import sys
import time

import numpy as np
from jupyter_client.manager import start_new_kernel

out_dir, n = sys.argv[1], int(sys.argv[2])
fixture = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ui", "fixtures", "fftcache.mjs")
km, kc = start_new_kernel(kernel_name="stagelab")


def iopub_until(pred, timeout=120):
    deadline = time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        if pred(m):
            return m


try:
    msg_id = kc.execute(
        'import { fftExplorer } from "@stagelab/kernel";\n'
        f"import * as fx from {json.dumps(fixture)};\n"
        f"const c = await fx.writeFftCache({json.dumps(out_dir)}, {{ scanShape: [128, 128], detectorShape: [32, 32], "
        "cropBounds: [0, 32, 0, 32], blockShape: [8, 8], npy: false });\n"
        "await fftExplorer(c.file)"
    )
    opened = iopub_until(
        lambda m: m["msg_type"] == "comm_open"
        and m["content"]["data"]["state"].get("_model_name") == "FftExplorerModel",
        timeout=300,
    )
    iopub_until(lambda m: m["msg_type"] == "status" and m["parent_header"].get("msg_id") == msg_id and m["content"]["execution_state"] == "idle")
    comm = opened["content"]["comm_id"]

    def request(rid, content, buffers=()):
        msg = kc.session.msg("comm_msg", {"comm_id": comm, "data": {"method": "custom", "content": dict(content, id=rid)}})
        t0 = time.perf_counter()
        kc.session.send(kc.shell_channel.socket, msg, buffers=list(buffers))
        m = iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("content", {}).get("id") == rid)
        ms = (time.perf_counter() - t0) * 1000
        c = m["content"]["data"]["content"]
        assert c["type"] == "panels", c
        return ms

    def circle(cy, cx, r):
        y, x = np.mgrid[0:32, 0:32]
        return ((y - cy) ** 2 + (x - cx) ** 2 <= r * r).astype(np.uint8)

    rng = random.Random(3)
    request("warm", {"type": "panels"})
    out = {"pick scan frequency": [], "pick detector pixel": [], "mask: toggle one pixel": [], "mask: new circle (drag)": [], "mask: all <-> clear": []}
    mask = circle(16, 16, 10)
    for i in range(n):
        out["pick scan frequency"].append(request(f"q{i}", {"type": "select", "scan_frequency": [rng.randrange(128), rng.randrange(128)]}))
        out["pick detector pixel"].append(request(f"k{i}", {"type": "select", "detector_pixel": [rng.randrange(32), rng.randrange(32)]}))
        mask = mask.copy()
        mask.flat[rng.randrange(1024)] ^= 1
        out["mask: toggle one pixel"].append(request(f"t{i}", {"type": "select", "mask": "buffer"}, [mask.tobytes()]))
        mask = circle(rng.randrange(32), rng.randrange(32), 2 + rng.randrange(12))
        out["mask: new circle (drag)"].append(request(f"c{i}", {"type": "select", "mask": "buffer"}, [mask.tobytes()]))
        out["mask: all <-> clear"].append(request(f"a{i}", {"type": "select", "mask": "all" if i % 2 == 0 else "clear"}))
    print("BENCH_JSON " + json.dumps(out), flush=True)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
