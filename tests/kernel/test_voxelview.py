"""VoxelView's kernel side over the real protocol: the model's state (map layout and
attributes as text, positions, extents), the planes it sends (stored and expanded through the
Laue operators), the static PNG of the three planes, live pushes while a writer in the kernel
rewrites the map, and errors."""
import json
import os
import struct
import tempfile
import time
import unittest
import zlib

import numpy as np

from widget_case import FIXTURES, HOSTILE, WidgetCase

FIXTURE = os.path.join(FIXTURES, "voxelmap.mjs")

SHAPE = (9, 7, 5)
HOLE = (8, 6, 4)


def intensity(n, scale=1.0):
    if tuple(n) == HOLE:
        return float("nan")
    return scale * (1 + n[0] + 10 * n[1] + 100 * n[2])


def sigma(n):
    return 0.5 * (1 + n[0] % 3)


def n_obs(n):
    return 0 if tuple(n) == HOLE else 1 + (n[0] + n[1] + n[2]) % 4


def stored(n):
    return all(0 <= n[a] < SHAPE[a] for a in range(3))


def png_pixels(b64):
    """(width, height, RGBA rows) of stagelab's own PNGs (8-bit RGBA, filter 0, one IDAT)."""
    import base64

    data = base64.b64decode(b64)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = b""
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    rows = [raw[y * (width * 4 + 1) + 1 : (y + 1) * (width * 4 + 1)] for y in range(height)]
    return width, height, rows


class VoxelViewTests(WidgetCase):
    def open_view(self, code):
        return self.open_widget(code, "VoxelViewModel", timeout=60)

    @staticmethod
    def decode(m):
        c = m["content"]["data"]["content"]
        b = m["buffers"]
        return (
            c,
            np.frombuffer(bytes(b[0]), dtype="<f4"),
            np.frombuffer(bytes(b[1]), dtype="<f4"),
            np.frombuffer(bytes(b[2]), dtype="<u4"),
        )

    def planes(self, comm_id, rid, position, expand, fixed=(0, 1, 2)):
        self.send_custom(
            comm_id,
            {"type": "planes", "id": rid, "position": list(position), "expand": expand, "fixed": list(fixed)},
        )
        got = {}
        while len(got) < len(fixed):
            m = self.custom_from(comm_id, lambda c: c.get("id") == rid)
            self.assertEqual(m["content"]["data"]["content"]["type"], "plane", m["content"])
            c, I, S, N = self.decode(m)
            got[c["fixed"]] = (c, I, S, N)
        return got

    def check_plane(self, c, I, S, N, scale=1.0):
        """Every pixel shows the stored voxel of its index (mapped to the mmm ASU when expanded)."""
        x, y = c["x"], c["y"]
        self.assertEqual(I.size, x["count"] * y["count"])
        for r in range(y["count"]):
            for col in range(x["count"]):
                n = [0, 0, 0]
                n[c["fixed"]] = c["index"]
                n[x["axis"]] = x["start"] + col * x["step"]
                n[y["axis"]] = y["start"] + r * y["step"]
                m = [abs(v) for v in n] if c["expand"] else n
                p = r * x["count"] + col
                if not stored(m):
                    self.assertTrue(np.isnan(I[p]), (n, I[p]))
                    self.assertEqual(N[p], 0)
                    continue
                want = intensity(m, scale)
                if np.isnan(want):
                    self.assertTrue(np.isnan(I[p]), (n, I[p]))
                else:
                    self.assertEqual(float(I[p]), want, n)
                self.assertEqual(float(S[p]), sigma(m), n)
                self.assertEqual(int(N[p]), n_obs(m), n)

    def test_state_planes_and_static_fallback(self):
        path = os.path.join(tempfile.mkdtemp(), "map.h5")
        opened, result = self.open_view(
            f'import {{ voxelView }} from "@stagelab/kernel";\n'
            f"import * as fx from {json.dumps(FIXTURE)};\n"
            f"const vm = await fx.writeVoxelMap({json.dumps(path)}, {{ units: {json.dumps(HOSTILE)} }});\n"
            f"vm.close();\n"
            f"await voxelView({json.dumps(path)}, {{ planes: {{ h: 1, k: 0.5, l: 1 }}, symmetry: fx.symmetry }})"
        )
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["_model_module"], "@stagelab/widgets")
        self.assertEqual(state["_view_name"], "VoxelViewView")
        m = state["map"]
        self.assertEqual((m["shape"], m["ndiv"], m["origin"]), ([9, 7, 5], [2, 2, 2], [0, 0, 0]))
        self.assertEqual((m["space_group"], m["laue_class"], m["asu_only"]), ("P 21 21 21", "mmm", True))
        self.assertEqual(m["units"], HOSTILE)  # carried as plain data; the view shows it as text
        self.assertEqual(m["unit_cell"], [10, 20, 30, 90, 90, 90])
        np.testing.assert_allclose(m["b_matrix"], [0.1, 0, 0, 0, 0.05, 0, 0, 0, 1 / 30])
        self.assertEqual(state["position"], [2, 1, 2])
        self.assertEqual(state["extent"], [[0, 8], [0, 6], [0, 4]])
        self.assertEqual(state["expanded_extent"], [[-8, 8], [-6, 6], [-4, 4]])
        self.assertTrue(state["expand_available"], state["expand_note"])
        self.assertIn("mmm", state["expand_note"])
        self.assertFalse(state["expand_asu"])
        self.assertEqual((state["file_state"], state["following"]), ("complete", False))

        # Static fallback: the three planes side by side, and a text summary.
        self.assertIn("application/vnd.jupyter.widget-view+json", result)
        self.assertIn("[9 x 7 x 5]", result["text/plain"])
        self.assertIn("P 21 21 21", result["text/plain"])
        self.assertIn("h-k at l = 1", result["text/plain"])
        width, height, rows = png_pixels(result["image/png"])
        s = 240 // 9  # one scale for all planes: the largest side (9 voxels) fits 240 px
        self.assertEqual((width, height), ((9 + 9 + 7) * s + 16, 7 * s))
        alpha = lambda x, y: rows[y][4 * x + 3]
        self.assertEqual(alpha(0, 0), 255)  # h-k plane, top-left voxel (h 0, k 3)
        self.assertEqual(alpha(9 * s + 3, 10), 0)  # the gap between planes
        self.assertEqual(alpha(9 * s + 8 + 5, 5 * s + 10), 0)  # below the shorter h-l plane
        self.assertEqual(alpha(9 * s + 8 + 5, 5 * s - 10), 255)
        # Brighter voxels get brighter viridis colours: I grows with h along the top row.
        lum = lambda x, y: sum(rows[y][4 * x : 4 * x + 3])
        self.assertLess(lum(s // 2, 5 * s // 2), lum(9 * s - s // 2, 5 * s // 2))

        comm_id = opened["content"]["comm_id"]
        got = self.planes(comm_id, "r1", [2, 1, 2], False)
        for fixed, (c, I, S, N) in got.items():
            self.assertEqual((c["index"], c["expand"]), ([2, 1, 2][fixed], False))
            self.check_plane(c, I, S, N)
        c = got[2][0]
        self.assertEqual((c["x"], c["y"]), (
            {"axis": 0, "start": 0, "step": 1, "count": 9},
            {"axis": 1, "start": 6, "step": -1, "count": 7},
        ))

        # Expanded: every octant shows its ASU mate.
        got = self.planes(comm_id, "r2", [-3, -2, -1], True)
        for fixed, (c, I, S, N) in got.items():
            self.assertTrue(c["expand"])
            self.assertEqual(c["index"], [-3, -2, -1][fixed])
            self.check_plane(c, I, S, N)
            self.assertFalse(np.isnan(I).any())  # full space is covered
        self.assertEqual(got[2][0]["x"]["count"], 17)

        # The voxel without data: NaN and no observations.
        got = self.planes(comm_id, "r3", [8, 6, 4], False, fixed=[2])
        c, I, S, N = got[2]
        p = (c["y"]["start"] - 6) * c["x"]["count"] + 8
        self.assertTrue(np.isnan(I[p]))
        self.assertEqual(N[p], 0)
        self.check_plane(c, I, S, N)

        # Positions outside the extent are clamped into it.
        got = self.planes(comm_id, "r4", [99, -99, 2], False, fixed=[0, 1])
        self.assertEqual((got[0][0]["index"], got[1][0]["index"]), (8, 0))

    def test_follows_the_writer_in_the_kernel(self):
        path = os.path.join(tempfile.mkdtemp(), "live.h5")
        opened, _ = self.open_view(
            f'import {{ voxelView }} from "@stagelab/kernel";\n'
            f"import * as fx from {json.dumps(FIXTURE)};\n"
            f"const live = await fx.writeVoxelMap({json.dumps(path)});\n"
            f"const lv = await voxelView({json.dumps(path)}, {{ pollMs: 100, symmetry: fx.symmetry }});\n"
            f"lv"
        )
        state = opened["content"]["data"]["state"]
        comm_id = opened["content"]["comm_id"]
        self.assertEqual((state["file_state"], state["following"]), ("writing", True))
        # A view asks for the planes; from then on the kernel pushes them after each commit.
        for fixed, (c, I, S, N) in self.planes(comm_id, "r1", [2, 1, 2], False).items():
            self.check_plane(c, I, S, N)
        self.kc.execute("live.update(3)")
        m = self.custom_from(
            comm_id, lambda c: c.get("id") == "live" and c.get("fixed") == 2, timeout=20
        )
        c, I, S, N = self.decode(m)
        self.assertEqual((c["index"], c["expand"]), (2, False))
        self.assertGreaterEqual(c["sequence"], 2)
        self.check_plane(c, I, S, N, scale=3.0)
        # The position the view publishes is where pushes go, expanded if it says so.
        upd = {
            "method": "update",
            "state": {"position": [-4, 3, 1], "expand_asu": True},
            "buffer_paths": [],
        }
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": upd}))
        time.sleep(0.3)
        self.kc.execute("live.update(5)")
        m = self.custom_from(
            comm_id,
            lambda c: c.get("id") == "live" and c.get("fixed") == 0 and c.get("expand"),
            timeout=20,
        )
        c, I, S, N = self.decode(m)
        self.assertEqual(c["index"], -4)
        self.check_plane(c, I, S, N, scale=5.0)
        # The writer closes: the view says the file is complete and stops following.
        self.kc.execute("live.close()")
        self.assert_completes(comm_id)

    def test_symmetry_fallbacks_and_errors(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "odd.h5")
        # An unknown space group: the Laue class attribute still names the group.
        opened, _ = self.open_view(
            f'import {{ voxelView }} from "@stagelab/kernel";\n'
            f"import * as fx from {json.dumps(FIXTURE)};\n"
            f"(await fx.writeVoxelMap({json.dumps(path)}, {{ spaceGroup: 'Q 9 9 9' }})).close();\n"
            f"await voxelView({json.dumps(path)}, {{ symmetry: fx.symmetry, expandAsu: true }})"
        )
        state = opened["content"]["data"]["state"]
        self.assertTrue(state["expand_available"], state["expand_note"])
        self.assertTrue(state["expand_asu"])
        self.assertIn("Laue class", state["expand_note"])
        self.assertEqual(state["position"], [0, 0, 0])

        # Without the option, @stagelab/core's own symmetry functions are used when it has them.
        has = self.result_text(
            'import * as core from "@stagelab/core";\n'
            "const cs = core as unknown as Record<string, any>;\n"
            'typeof cs.laueGroup === "function" || typeof cs.symmetry?.laueGroup === "function"'
        )
        opened, _ = self.open_view(f"await voxelView({json.dumps(path)})")
        state = opened["content"]["data"]["state"]
        self.assertEqual(state["expand_available"], has == "true", state["expand_note"])
        if has != "true":
            self.assertIn("no symmetry module", state["expand_note"])

        # A file without a map: a clear error naming what is missing.
        other = os.path.join(d, "other.h5")
        reply, outs = self.run_cell(
            'import { StoreWriter } from "@stagelab/core";\n'
            f"const w = await StoreWriter.create({json.dumps(other)});\n"
            'w.createDataset("/x", { dtype: "float32", shape: [3] }); w.close();\n'
            f"await voxelView({json.dumps(other)})"
        )
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("/map/intensity", reply["content"]["evalue"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
