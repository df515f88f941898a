"""FitDashboard's kernel side over the real protocol (jupyter_client, ZeroMQ), against numpy on
what h5py reads: every /Fit/metrics series of two overlaid runs, the smoothed series against the
bias-corrected EWMA written as a normalised weighted mean (sum beta^(t-i) x_i / sum beta^(t-i)
over finite values, the closed form of Adam's m_t / (1 - beta^t)), the best row (nanargmin of
val_rmse), the solution reshaped (C, P) with its masses; live rows pushed as a writer in the
kernel appends (only the new ones); typed errors that leave the kernel alive."""
import json
import os
import tempfile
import unittest

import h5py
import numpy as np

from test_prefit import FIXTURE, HOSTILE, CubeFitCase

METRICS = ["epoch", "time_sec", "train_rmse_ewma", "val_rmse", "delta_x_rel", "nnz", "l1_norm",
           "l2_norm", "mass_err_L1", "mass_err_Linf"]
PLOTTED = METRICS[2:]


def ewma_reference(x, beta):
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x)
    vals = x[ok]
    idx = np.flatnonzero(ok)
    for t in range(len(vals)):
        w = beta ** np.arange(t, -1, -1)
        out[idx[t]] = (w * vals[: t + 1]).sum() / w.sum()
    return out


class FitDashboardTests(CubeFitCase):
    def test_series_smoothing_best_and_solution(self):
        d = tempfile.mkdtemp()
        opened, result = self.open_widget(
            'import { fitDashboard } from "@stagelab/kernel";\n'
            f"import * as cf from {json.dumps(FIXTURE)};\n"
            f"const c = await cf.writeCubeFit({json.dumps(d)}, {{ fitRows: 10, fitGroups: ['/Fit', '/Fit_b'], fitLabels: [{json.dumps(HOSTILE)}] }});\n"
            "const fd = await fitDashboard(c.file, { groups: ['/Fit', '/Fit_b'], smoothing: 0.7 });\n"
            "fd",
            "FitDashboardModel",
        )
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["_view_name"], "FitDashboardView")
        self.assertEqual(state["metrics"], PLOTTED)
        self.assertEqual([(r["group"], r["label"], r["rows"]) for r in state["runs"]],
                         [("/Fit", HOSTILE, 10), ("/Fit_b", "cube.h5:/Fit_b", 10)])
        self.assertIn("FitDashboard: 2 run(s)", result["text/plain"])
        self.assertIn("image/png", result)
        comm_id = opened["content"]["comm_id"]
        c = self.request(comm_id, "r1", {"type": "series"})
        self.assertEqual((c["type"], c["reset"]), ("rows", True))
        with h5py.File(os.path.join(d, "cube.h5"), "r") as f:
            for entry, group in zip(c["runs"], ["/Fit", "/Fit_b"]):
                self.assertEqual((entry["start"], entry["count"]), (0, 10))
                for m in METRICS:
                    np.testing.assert_array_equal(self.f64(entry["columns"][m]), f[f"{group}/metrics/{m}"][:])
                for m in PLOTTED:
                    self.close(self.f64(entry["smooth"][m]), ewma_reference(f[f"{group}/metrics/{m}"][:], 0.7),
                               rtol=1e-10, atol=1e-15)
                val = f[f"{group}/metrics/val_rmse"][:]
                i = int(np.nanargmin(val))
                self.assertEqual(entry["best"]["row"], i)
                self.assertEqual(entry["best"]["val_rmse"], val[i])
                self.assertEqual(entry["best"]["epoch"], f[f"{group}/metrics/epoch"][i])
            s = self.request(comm_id, "r2", {"type": "solution"})
            self.assertEqual((s["which"], s["C"], s["P"], s["run"]), ("x_latest", 3, 4, 0))
            x = f["/Fit/x_latest"][:].reshape(3, 4)
            np.testing.assert_array_equal(self.f64(s["x"]), x.ravel())
            self.close(self.f64(s["masses"]), x.sum(axis=1))

    def test_live_rows_and_errors(self):
        d = tempfile.mkdtemp()
        opened, _ = self.open_widget(
            'import { fitDashboard } from "@stagelab/kernel";\n'
            f"import * as cf from {json.dumps(FIXTURE)};\n"
            f"const w = await cf.writeCubeFit({json.dumps(d)}, {{ name: 'live.h5', fitRows: 2, keepOpen: true }});\n"
            "const ld = await fitDashboard(w.file, { pollMs: 100 });\n"
            "ld",
            "FitDashboardModel",
        )
        comm_id = opened["content"]["comm_id"]
        self.assertEqual(opened["content"]["data"]["state"]["following"], True)
        c = self.request(comm_id, "r1", {"type": "series"})
        self.assertEqual(c["runs"][0]["count"], 2)
        self.kc.execute("w.appendMetrics(5)")
        m = self.custom_from(comm_id, lambda c: c.get("id") == "live" and c.get("type") == "rows", timeout=20)
        live = self.unpack(m)
        self.assertEqual(live["reset"], False)
        entry = live["runs"][0]
        self.assertEqual((entry["start"], entry["count"]), (2, 5))
        self.kc.execute("w.close()")
        self.assertEqual(self.result_text("await new Promise((r) => setTimeout(r, 300)); ld.get('runs')[0]!.rows"), "7")
        with h5py.File(os.path.join(d, "live.h5"), "r") as f:
            np.testing.assert_array_equal(self.f64(entry["columns"]["l1_norm"]), f["/Fit/metrics/l1_norm"][2:7])

        reply, _ = self.run_cell(
            f"await fitDashboard({json.dumps(os.path.join(tempfile.mkdtemp(), 'missing.h5'))})"
        )
        self.assertEqual((reply["content"]["status"], reply["content"]["ename"]), ("error", "FileNotFoundError"))
        reply, _ = self.run_cell("await fitDashboard(w.file, { groups: ['/Fit_nope'] })")
        self.assertEqual(reply["content"]["ename"], "DatasetNotFoundError")
        self.assertIn("no fit group /Fit_nope", reply["content"]["evalue"])
        self.assertEqual(self.result_text("40 + 2"), "42")


if __name__ == "__main__":
    unittest.main(verbosity=2)
