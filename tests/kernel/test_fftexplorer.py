"""FftExplorer's kernel side over the real protocol: the model's state (cache layout, the mask
as a binary buffer, file-controlled text as plain data), the static PNG of the four panels, the
panels it sends against numpy.fft.fft2 of the cropped datacube (the fixture writes it as .npy),
a mask sent as a message buffer, the proceed action calling a cell's callback, live pushes while
a writer in the kernel completes blocks, and typed errors that leave the kernel alive."""
import json
import os
import struct
import tempfile
import unittest

import numpy as np

from widget_case import FIXTURES, HOSTILE, WidgetCase

FIXTURE = os.path.join(FIXTURES, "fftcache.mjs")


def shifted(a):
    return np.fft.fftshift(a, axes=(0, 1))


class FftExplorerTests(WidgetCase):
    def open_explorer(self, code):
        return self.open_widget(code, "FftExplorerModel")

    def request(self, comm_id, rid, content, buffers=()):
        self.send_custom(comm_id, dict(content, id=rid), buffers)
        m = self.custom_from(comm_id, lambda c: c.get("id") == rid)
        return self.decode(m)

    @staticmethod
    def decode(m):
        c = m["content"]["data"]["content"]
        panels = {}
        for meta, b in zip(c.get("panels", []), m["buffers"]):
            panels[meta["name"]] = (meta, np.frombuffer(bytes(b), dtype="<f4").reshape(meta["rows"], meta["cols"]))
        return c, panels

    def assert_close(self, got, want):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-4)

    def test_state_panels_proceed_and_static_fallback(self):
        d = tempfile.mkdtemp()
        opened, result = self.open_explorer(
            f'import {{ fftExplorer, type FftSelection }} from "@stagelab/kernel";\n'
            f"import * as fx from {json.dumps(FIXTURE)};\n"
            f"const c = await fx.writeFftCache({json.dumps(d)}, {{ dataset: {json.dumps(HOSTILE)} }});\n"
            f"const got: FftSelection[] = [];\n"
            f"let failNext = true;\n"
            f"const ex = await fftExplorer(c.file, {{ scanFrequency: [1, 2], onProceed: (s) => {{\n"
            f"  got.push(s); if (failNext) {{ failNext = false; throw new Error('step 3 is not ready'); }}\n"
            f"  return 'correlating'; }} }});\n"
            f"ex"
        )
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["_model_module"], "@stagelab/widgets")
        self.assertEqual(state["_view_name"], "FftExplorerView")
        info = state["info"]
        self.assertEqual((info["scan"], info["crop"], info["block_shape"]), ([16, 16], [8, 8], [4, 4]))
        self.assertEqual(info["crop_bounds"], [2, 10, 2, 10])
        self.assertEqual(info["dataset"], HOSTILE)  # plain data; the view shows it as text
        self.assertEqual(info["mode"], "memory")
        self.assertEqual((state["blocks_done"], state["blocks_total"]), (4, 4))
        self.assertEqual((state["scan_frequency"], state["detector_pixel"]), ([1, 2], [4, 4]))
        self.assertEqual((state["file_state"], state["following"]), ("complete", False))
        # The mask travels as a binary buffer (uint8 per crop pixel).
        paths = opened["content"]["data"]["buffer_paths"]
        self.assertIn(["mask"], paths)
        mask0 = bytes(opened["buffers"][paths.index(["mask"])])
        self.assertEqual(mask0, b"\x01" * 64)

        # Static fallback: the four panels 2 x 2, and a text summary.
        self.assertIn("application/vnd.jupyter.widget-view+json", result)
        self.assertIn("4 of 4 blocks complete", result["text/plain"])
        self.assertIn("[16 x 16 x 8 x 8]", result["text/plain"])
        import base64

        png = base64.b64decode(result["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", png[16:24]), (192 + 8 + 200, 200 + 8 + 192))

        # The panels against numpy.
        F = np.fft.fft2(np.load(os.path.join(d, "cube.npy")), axes=(0, 1))
        A = np.abs(F)
        comm_id = opened["content"]["comm_id"]
        c, p = self.request(comm_id, "r1", {"type": "panels"})
        self.assertEqual(list(p), ["overview", "detector", "amplitude", "phase"])
        self.assert_close(p["overview"][1], shifted(A.mean(axis=(2, 3))))
        self.assertEqual(p["overview"][0]["averaged"], 64)
        self.assert_close(p["detector"][1], A[1, 2])
        self.assert_close(p["amplitude"][1], shifted(A[:, :, 4, 4]))
        ph = shifted(np.angle(F[:, :, 4, 4]))
        diff = np.abs(np.angle(np.exp(1j * (p["phase"][1] - ph))))
        self.assertLess(diff[shifted(A[:, :, 4, 4]) > 1e-5 * A.max()].max(), 1e-4)

        # A mask as a message buffer; a click on the sub-selection; a click on the overview.
        mask = np.zeros((8, 8), np.uint8)
        mask[2:6, 3:7] = 1
        c, p = self.request(comm_id, "r2", {"type": "select", "mask": "buffer"}, [mask.tobytes()])
        self.assertEqual((list(p), c["mask_count"]), (["overview"], 16))
        self.assert_close(p["overview"][1], shifted(A[:, :, mask == 1].mean(axis=2)))
        c, p = self.request(comm_id, "r3", {"type": "select", "detector_pixel": [2, 6], "scan_frequency": [15, 0]})
        self.assertEqual(list(p), ["detector", "amplitude", "phase"])
        self.assert_close(p["detector"][1], A[15, 0])
        self.assert_close(p["amplitude"][1], shifted(A[:, :, 2, 6]))
        self.assertEqual(json.loads(json.loads(self.result_text("JSON.stringify(Array.from(ex.mask))"))), mask.ravel().tolist())

        # Proceed: the callback's error is widget text, the next press succeeds.
        self.send_custom(comm_id, {"type": "proceed", "id": "p1"})
        r = self.custom_from(comm_id, lambda c: c.get("id") == "p1")["content"]["data"]["content"]
        self.assertEqual((r["status"], r["message"]), ("error", "step 3 is not ready"))
        self.send_custom(comm_id, {"type": "proceed", "id": "p2"})
        r = self.custom_from(comm_id, lambda c: c.get("id") == "p2")["content"]["data"]["content"]
        self.assertEqual((r["status"], r["message"]), ("done", "correlating"))
        sel = json.loads(json.loads(self.result_text(
            "const s = await ex.proceeded;\n"
            "JSON.stringify({ q: s.scanFrequency, k: s.detectorPixel, m: Array.from(s.mask), n: got.length })"
        )))
        self.assertEqual((sel["q"], sel["k"], sel["n"]), ([15, 0], [2, 6], 2))
        self.assertEqual(sel["m"], mask.ravel().tolist())
        self.assertEqual(self.result_text("1 + 1"), "2")

    def test_follows_the_writer_in_the_kernel(self):
        d = tempfile.mkdtemp()
        opened, _ = self.open_explorer(
            f'import {{ fftExplorer }} from "@stagelab/kernel";\n'
            f"import * as fx from {json.dumps(FIXTURE)};\n"
            f"const live = await fx.writeFftCache({json.dumps(d)}, {{ blocks: 1 }});\n"
            f"const lx = await fftExplorer(live.file, {{ pollMs: 100 }});\n"
            f"lx"
        )
        state = opened["content"]["data"]["state"]
        comm_id = opened["content"]["comm_id"]
        self.assertEqual((state["file_state"], state["following"], state["blocks_done"]), ("writing", True, 1))
        c, p = self.request(comm_id, "r1", {"type": "panels"})
        self.assertEqual(p["detector"][0]["pending"], 48)
        self.assertTrue(np.isnan(p["amplitude"][1]).all())  # pixel (4, 4) is in block 3
        F = np.fft.fft2(np.load(os.path.join(d, "cube.npy")), axes=(0, 1))
        A = np.abs(F)
        self.kc.execute("live.writeBlocks(3)")
        m = self.custom_from(comm_id, lambda c: c.get("id") == "live" and c.get("blocks_done") == 4, timeout=20)
        c, p = self.decode(m)
        self.assert_close(p["overview"][1], shifted(A.mean(axis=(2, 3))))
        self.assert_close(p["amplitude"][1], shifted(A[:, :, 4, 4]))
        self.kc.execute("live.close()")
        self.assert_completes(comm_id)

    def test_bad_paths_are_typed_errors(self):
        reply, _ = self.run_cell(
            'import { fftExplorer } from "@stagelab/kernel";\n'
            f"await fftExplorer({json.dumps(os.path.join(tempfile.mkdtemp(), 'missing_superres_cache.h5'))})"
        )
        c = reply["content"]
        self.assertEqual((c["status"], c["ename"]), ("error", "CacheMissingError"))
        self.assertIn("no such cache file", c["evalue"])
        self.assertEqual(self.result_text("40 + 2"), "42")


if __name__ == "__main__":
    unittest.main(verbosity=2)
