"""PrefitSnapshot's kernel side over the real protocol (jupyter_client, ZeroMQ): the model's
state (the cube's sizes, file-controlled text as plain data), the static PNG, and the four
panels it sends (typed arrays as message buffers at buffer_paths) against numpy on what h5py
reads from the file: exp(ObsPix), DataCube rows, the y-limits of unmasked pixels, Templates @
R_T, the LOSVD and its kernel (np.interp at v = c k dlog), stored models; a selection over the
wire; live pushes while a writer in the kernel commits tiles; typed errors, kernel alive."""
import base64
import json
import os
import struct
import sys
import tempfile
import unittest

import h5py
import numpy as np

from widget_case import FIXTURES, HOSTILE, WidgetCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cubefit", "fixtures"))
from cubefit_numpy import kernel_bins  # noqa: E402

FIXTURE = os.path.join(FIXTURES, "cubefit.mjs")
C_KMS = 299792.458


class CubeFitCase(WidgetCase):
    """The CubeFit widgets' requests (shared with test_fitdash.py)."""

    def request(self, comm_id, rid, content):
        self.send_custom(comm_id, dict(content, id=rid))
        return self.unpack(self.custom_from(comm_id, lambda c: c.get("id") == rid))


class PrefitTests(CubeFitCase):
    def check_panels(self, p, f, spaxel, component, population):
        obs = f["/ObsPix"][:]
        mask = f["/Mask"][:]
        cube = f["/DataCube"][:]
        sp = p["spectra"]
        self.assertEqual(sp["spaxels"][0], spaxel)
        self.close(self.f64(sp["wavelength"]), np.exp(obs))
        for s, v in zip(sp["spaxels"], sp["values"]):
            self.close(self.f64(v), cube[s])
        shown = cube[sp["spaxels"]][:, mask == 1]
        lo, hi = shown.min(), shown.max()
        self.close(sp["y_domain"], [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)])
        self.assertLess(sp["y_domain"][1], cube[:, mask == 0].min())  # masked spikes excluded
        rebinned = f["/Templates"][:].astype(np.float64) @ f["/R_T"][:].astype(np.float64)
        tp = p["templates"]
        for q, v in zip(tp["populations"], tp["values"]):
            self.close(self.f64(v), rebinned[q], rtol=1e-10, atol=1e-12)
        lv = p["losvd"]
        vel = f["/VelPix"][:]
        losvd = f["/LOSVD"][spaxel, :, component].astype(np.float64)
        self.close(self.f64(lv["values"]), losvd)
        dlog = np.median(np.diff(f["/TemPix"][:]))
        self.close(lv["dlog"], dlog, rtol=1e-9)
        # The builder's kernel: each velocity bin spread over the template pixels it overlaps.
        W, k_min, k_max = kernel_bins(vel, dlog)
        w = losvd @ W
        self.close(self.f64(lv["kernel_offsets"]), np.arange(k_min, k_max + 1) * dlog)
        self.close(self.f64(lv["kernel_weights"]), w / w.sum(), rtol=1e-9, atol=1e-14)
        md = p["models"]
        self.assertEqual(md["population"], population)
        self.assertEqual((md["pairs"][0]["spaxel"], md["pairs"][0]["component"]), (spaxel, component))
        models = f["/HyperCube/models"]
        done = f["/HyperCube/_done"][:]
        for q, v in zip(md["pairs"], md["values"]):
            tile = done[q["spaxel"] // 2, q["component"], population // 4]
            self.assertEqual(q["done"], bool(tile))
            if tile:
                self.close(self.f64(v), models[q["spaxel"], q["component"], population].astype(np.float64))
            else:
                self.assertEqual(len(v), 0)

    def test_state_panels_selection_and_static_fallback(self):
        d = tempfile.mkdtemp()
        opened, result = self.open_widget(
            'import { prefitSnapshot } from "@stagelab/kernel";\n'
            f"import * as cf from {json.dumps(FIXTURE)};\n"
            f"const c = await cf.writeCubeFit({json.dumps(d)}, {{ fitGroups: [], templateMeta: {json.dumps(HOSTILE)} }});\n"
            "const pf = await prefitSnapshot(c.file, { spaxel: 2, component: 1, population: 3 });\n"
            "pf",
            "PrefitSnapshotModel",
        )
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["_view_name"], "PrefitSnapshotView")
        self.assertEqual(state["cube"]["dims"], {"S": 8, "L": 48, "T": 120, "V": 13, "C": 3, "P": 4})
        self.assertEqual(state["cube"]["attrs"]["template_meta_json"], HOSTILE)
        self.assertEqual((state["tiles_done"], state["tiles_total"]), (12, 12))
        self.assertEqual((state["file_state"], state["following"]), ("complete", False))
        self.assertIn("HyperCube tiles done: 12 / 12", result["text/plain"])
        png = base64.b64decode(result["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", png[16:24]), (2 * 380 + 8, 2 * 230 + 8))

        comm_id = opened["content"]["comm_id"]
        path = os.path.join(d, "cube.h5")
        with h5py.File(path, "r") as f:
            c = self.request(comm_id, "r1", {"type": "panels"})
            self.assertEqual(list(c["panels"]), ["spectra", "templates", "losvd", "models"])
            self.check_panels(c["panels"], f, 2, 1, 3)
            c = self.request(comm_id, "r2", {"type": "select", "spaxel": 7, "component": 0})
            self.assertEqual(list(c["panels"]), ["spectra", "losvd", "models"])
            self.check_panels({**c["panels"], "templates": {"populations": [], "values": []}}, f, 7, 0, 3)
            c = self.request(comm_id, "r3", {"type": "select", "component": 5})
            self.assertEqual(c["type"], "error")
            self.assertIn("component must be an integer in [0, 3)", c["message"])
        self.assertEqual(self.result_text("pf.get('spaxel')"), "7")

    def test_follows_the_builder_in_the_kernel(self):
        d = tempfile.mkdtemp()
        opened, _ = self.open_widget(
            'import { prefitSnapshot } from "@stagelab/kernel";\n'
            f"import * as cf from {json.dumps(FIXTURE)};\n"
            f"const b = await cf.writeCubeFit({json.dumps(d)}, {{ fitGroups: [], tilesDone: 4 }});\n"
            "const lp = await prefitSnapshot(b.file, { pollMs: 100 });\n"
            "lp",
            "PrefitSnapshotModel",
        )
        state = opened["content"]["data"]["state"]
        comm_id = opened["content"]["comm_id"]
        self.assertEqual((state["file_state"], state["following"], state["tiles_done"]), ("writing", True, 4))
        c = self.request(comm_id, "r1", {"type": "panels"})
        self.assertTrue(any(not q["done"] for q in c["panels"]["models"]["pairs"]))
        self.kc.execute("b.writeTiles()")
        m = self.custom_from(comm_id, lambda c: c.get("id") == "live" and c.get("tiles_done") == 12, timeout=20)
        c = self.unpack(m)
        self.assertEqual(list(c["panels"]), ["models"])
        self.assertTrue(all(q["done"] for q in c["panels"]["models"]["pairs"]))
        self.kc.execute("b.close()")
        self.assert_completes(comm_id)
        with h5py.File(os.path.join(d, "cube.h5"), "r") as f:
            p = self.request(comm_id, "r2", {"type": "panels"})["panels"]
            self.check_panels(p, f, 0, 0, 0)

    def test_missing_files_are_typed_errors(self):
        reply, _ = self.run_cell(
            'import { prefitSnapshot } from "@stagelab/kernel";\n'
            f"await prefitSnapshot({json.dumps(os.path.join(tempfile.mkdtemp(), 'missing.h5'))})"
        )
        c = reply["content"]
        self.assertEqual((c["status"], c["ename"]), ("error", "FileNotFoundError"))
        self.assertEqual(self.result_text("40 + 2"), "42")


if __name__ == "__main__":
    unittest.main(verbosity=2)
