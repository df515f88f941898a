"""Kernel start-up and trivial-cell latency, stagelab vs ipykernel, same run.

Usage: kernel_bench.py STARTS CELLS  (JUPYTER_PATH must include the stagelab kernelspec)
Prints JSON {kernel: {"startup_s": [...], "cell_ms": [...]}}.
"""
import json
import sys
import time

from jupyter_client.manager import KernelManager

starts, cells = int(sys.argv[1]), int(sys.argv[2])
out = {}
for name in ("python3", "stagelab"):
    res = out.setdefault(name, {"startup_s": [], "cell_ms": []})
    for i in range(starts):
        km = KernelManager(kernel_name=name)
        t0 = time.perf_counter()
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        msg_id = kc.kernel_info()
        while True:
            m = kc.get_shell_msg(timeout=60)
            if m["parent_header"].get("msg_id") == msg_id:
                break
        res["startup_s"].append(time.perf_counter() - t0)
        if i == starts - 1:
            kc.execute_interactive("1 + 1", timeout=60)  # warm
            for _ in range(cells):
                t = time.perf_counter()
                mid = kc.execute("1 + 1")
                while True:
                    m = kc.get_shell_msg(timeout=60)
                    if m["parent_header"].get("msg_id") == mid:
                        break
                res["cell_ms"].append((time.perf_counter() - t) * 1000)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
print("BENCH_JSON " + json.dumps(out))
