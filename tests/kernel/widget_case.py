"""What the widget tests over the real protocol share (test_h5view, test_voxelview,
test_fftexplorer, test_prefit, test_fitdash): open a widget from a cell, custom messages to
and from its comm (buffers as message buffers), a packed message's content with its buffers
back at buffer_paths, and waiting until a following view says its file is complete."""
import os
import time

import numpy as np

from test_protocol import KernelCase, TIMEOUT

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "ui", "fixtures")
HOSTILE = '<img src=x onerror="window.__pwned=1">'


class WidgetCase(KernelCase):
    def open_widget(self, code, model_name, timeout=90):
        """Run `code`: (the comm_open of its one `model_name` widget, its execute_result's data or None)."""
        msg_id = self.kc.execute(code)
        outs = self.outputs_for(msg_id, timeout=timeout)
        reply = self.reply_for(msg_id)
        self.assertEqual(reply["content"]["status"], "ok", outs)
        opens = [
            o
            for o in outs
            if o["msg_type"] == "comm_open"
            and o["content"]["data"]["state"].get("_model_name") == model_name
        ]
        self.assertEqual(len(opens), 1, outs)
        results = [o for o in outs if o["msg_type"] == "execute_result"]
        return opens[0], (results[0]["content"]["data"] if results else None)

    def send_custom(self, comm_id, content, buffers=()):
        msg = self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
        )
        self.kc.session.send(self.kc.shell_channel.socket, msg, buffers=list(buffers))

    def custom_from(self, comm_id, pred, timeout=TIMEOUT):
        return self.iopub_until(
            lambda m: m["msg_type"] == "comm_msg"
            and m["content"]["comm_id"] == comm_id
            and m["content"]["data"].get("method") == "custom"
            and pred(m["content"]["data"]["content"]),
            timeout,
        )

    @staticmethod
    def unpack(m):
        """The custom content with its buffers back at buffer_paths (as bytes)."""
        c = m["content"]["data"]["content"]
        for path, b in zip(c.get("buffer_paths", []), m["buffers"]):
            obj = c
            for k in path[:-1]:
                obj = obj[k]
            obj[path[-1]] = bytes(b)
        return c

    @staticmethod
    def f64(b):
        return np.frombuffer(b, dtype="<f8")

    def close(self, got, want, rtol=1e-12, atol=1e-12):
        np.testing.assert_allclose(got, np.asarray(want, dtype=float), rtol=rtol, atol=atol)

    def assert_completes(self, comm_id, timeout=15):
        """The view's state comes to say its file is complete, and it stops following."""
        deadline = time.time() + timeout
        seen = {}
        while time.time() < deadline and not (seen.get("file_state") == "complete" and seen.get("following") is False):
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id:
                seen.update(m["content"]["data"].get("state", {}) or {})
        self.assertEqual((seen.get("file_state"), seen.get("following")), ("complete", False))
