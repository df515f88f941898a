"""H5View's kernel side over the real protocol: tree, reads in parts, live increments,
static fallback, and hostile names and attributes carried as plain data."""
import json
import os
import struct
import subprocess
import tempfile
import time
import unittest

import h5py
import numpy as np

from test_protocol import TIMEOUT
from widget_case import HERE, WidgetCase


class H5ViewTests(WidgetCase):
    def open_view(self, code):
        return self.open_widget(code, "H5ViewModel", timeout=TIMEOUT)

    def test_tree_reads_and_hostile_text(self):
        path = os.path.join(tempfile.mkdtemp(), "hostile.h5")
        with h5py.File(path, "w") as f:
            g = f.create_group("<img src=x onerror=alert(1)>")
            d = g.create_dataset("data", data=np.arange(6 * 7, dtype="<f4").reshape(6, 7))
            d.attrs["note"] = "<script>alert('x')</script>"
            f.create_dataset("wave", data=(np.arange(5) + 1j * np.arange(5)).astype("<c16"))
        opened, result = self.open_view(f'import {{ h5view }} from "@stagelab/kernel"; await h5view({json.dumps(path)})')
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["_model_module"], "@stagelab/widgets")
        tree = {t["path"]: t for t in state["tree"]}
        ds = tree["/<img src=x onerror=alert(1)>/data"]
        self.assertEqual((ds["shape"], ds["dtype"]), ([6, 7], "float32"))
        self.assertEqual(ds["attrs"]["note"], "<script>alert('x')</script>")
        self.assertEqual(tree["/wave"]["dtype"], "complex128")
        # Static fallback: a PNG of the first dataset and a text tree.
        self.assertIn("image/png", result)
        self.assertTrue(result["image/png"].startswith("iVBORw0KGgo"))
        self.assertIn("data  float32 [6 x 7]", result["text/plain"])
        self.assertIn("application/vnd.jupyter.widget-view+json", result)

        comm_id = opened["content"]["comm_id"]
        self.send_custom(comm_id, {"type": "read", "id": "r1", "path": ds["path"], "selection": [[1, 5, 2], [0, 7, 3]]})
        m = self.custom_from(comm_id, lambda c: c.get("type") == "data" and c.get("id") == "r1")
        c = m["content"]["data"]["content"]
        self.assertEqual((c["shape"], c["dtype"], c["parts"]), ([2, 3], "float32", 1))
        got = struct.unpack("<6f", bytes(m["buffers"][0]))
        want = np.arange(42, dtype="<f4").reshape(6, 7)[1:5:2, 0:7:3].ravel().tolist()
        self.assertEqual(list(got), want)

        self.send_custom(comm_id, {"type": "read", "id": "bad", "path": "/nope", "selection": []})
        err = self.custom_from(comm_id, lambda c: c.get("type") == "error")
        self.assertIn("/nope", err["content"]["data"]["content"]["message"])

    def test_large_read_arrives_in_parts(self):
        path = os.path.join(tempfile.mkdtemp(), "big.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("big", data=np.arange(3 * 1024 * 1024, dtype="<f8"))  # 24 MiB
        opened, _ = self.open_view(f'import {{ h5view }} from "@stagelab/kernel"; await h5view({json.dumps(path)})')
        comm_id = opened["content"]["comm_id"]
        self.send_custom(comm_id, {"type": "read", "id": "all", "path": "/big", "selection": []})
        parts = {}
        while True:
            m = self.custom_from(comm_id, lambda c: c.get("id") == "all")
            c = m["content"]["data"]["content"]
            buf = bytes(m["buffers"][0])
            self.assertLessEqual(len(buf), 8 * 1024 * 1024)
            parts[c["offset"]] = buf
            if len(parts) == c["parts"]:
                break
        self.assertEqual(len(parts), 3)
        data = b"".join(parts[k] for k in sorted(parts))
        arr = np.frombuffer(data, dtype="<f8")
        self.assertTrue(np.array_equal(arr, np.arange(3 * 1024 * 1024, dtype="<f8")))

    def test_follows_a_file_another_process_writes(self):
        self.result_text("'warm'")  # the first cell builds the TypeScript program: not now
        path = os.path.join(tempfile.mkdtemp(), "live.h5")
        writer = subprocess.Popen(["node", os.path.join(HERE, "live_writer.mjs"), path, "60", "100"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(writer.stdout.readline().strip(), "ready")
            opened, _ = self.open_view(
                f'import {{ h5view }} from "@stagelab/kernel"; const lv = await h5view({json.dumps(path)}, {{ select: "/live/line", pollMs: 100 }}); lv'
            )
            comm_id = opened["content"]["comm_id"]
            self.assertTrue(opened["content"]["data"]["state"]["following"])
            # The view says what it shows; the kernel then pushes increments of that dataset.
            upd = {"method": "update", "state": {"view": {"path": "/live/line", "displayAxes": [0], "indices": {}, "maxPerAxis": 4096}}, "buffer_paths": []}
            self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": upd}))
            seen = {}
            t0 = time.time()
            while len(seen) < 5 and time.time() - t0 < 20:
                m = self.custom_from(comm_id, lambda c: c.get("id") == "increment:/live/line")
                c = m["content"]["data"]["content"]
                values = struct.unpack(f"<{c['shape'][0]}d", bytes(m["buffers"][0]))
                for k, v in enumerate(values):
                    seen[c["start"] + k] = v
            self.assertGreaterEqual(len(seen), 5)
            for row, v in seen.items():
                self.assertEqual(v, float(row))  # never torn: row i holds i
        finally:
            writer.wait(timeout=30)
            writer.stdout.close()
        # After the writer closes, the view reports the file complete and stops following.
        deadline = time.time() + 10
        while time.time() < deadline:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id:
                st = m["content"]["data"].get("state", {})
                if st.get("file_state") == "complete" or st.get("following") is False:
                    break
        else:
            self.fail("view did not notice the file was complete")


if __name__ == "__main__":
    unittest.main(verbosity=2)
