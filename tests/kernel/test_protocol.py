"""Protocol tests of the stagelab kernel with a real Jupyter client (jupyter_client).

Run by tests/kernel/protocol.test.ts with Debian's python3, JUPYTER_PATH pointing at a
temporary kernelspec and JUPYTER_DATA_DIR at a temporary directory.
"""
import json
import os
import queue
import subprocess
import tempfile
import time
import unittest

from jupyter_client.manager import start_new_kernel

TIMEOUT = 30


class KernelCase(unittest.TestCase):
    cwd = None

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="stagelab", cwd=cls.cwd or os.getcwd())

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def drain(self):
        for get in (self.kc.get_iopub_msg, self.kc.get_shell_msg):
            while True:
                try:
                    get(timeout=0.05)
                except queue.Empty:
                    break

    def reply_for(self, msg_id, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            m = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") == msg_id:
                return m

    def outputs_for(self, msg_id, timeout=TIMEOUT):
        """iopub messages of one request, up to its idle status."""
        out = []
        deadline = time.time() + timeout
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status":
                if m["content"]["execution_state"] == "idle":
                    return out
                continue
            out.append(m)

    def run_cell(self, code, **kw):
        msg_id = self.kc.execute(code, **kw)
        reply = self.reply_for(msg_id)
        outs = self.outputs_for(msg_id)
        return reply, outs

    def result_text(self, code):
        reply, outs = self.run_cell(code)
        self.assertEqual(reply["content"]["status"], "ok", msg=str(outs))
        results = [o for o in outs if o["msg_type"] == "execute_result"]
        self.assertEqual(len(results), 1, msg=str(outs))
        return results[0]["content"]["data"]["text/plain"]

    def iopub_until(self, pred, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if pred(m):
                return m


class ExecuteTests(KernelCase):
    def test_execute_result_and_input(self):
        reply, outs = self.run_cell("const a: number = 20; a + 22")
        self.assertEqual(reply["content"]["status"], "ok")
        kinds = [o["msg_type"] for o in outs]
        self.assertEqual(kinds, ["execute_input", "execute_result"])
        self.assertEqual(outs[0]["content"]["code"], "const a: number = 20; a + 22")
        self.assertEqual(outs[1]["content"]["data"]["text/plain"], "42")
        self.assertEqual(outs[1]["content"]["execution_count"], reply["content"]["execution_count"])

    def test_shorthand_properties_read_earlier_cells(self):
        reply, outs = self.run_cell("const shortA = 4; let shortB = 0;")
        self.assertEqual(reply["content"]["status"], "ok", msg=str(outs))
        self.assertEqual(self.result_text("const o = { shortA, n: 1 }; o.shortA + o.n"), "5")
        # A destructuring assignment assigns the earlier cell's variable.
        self.assertEqual(self.result_text("({ shortB } = { shortB: 9 }); shortB"), "9")
        self.assertEqual(self.result_text("({ shortB = 3 } = {}); shortB"), "3")

    def test_runtime_error_content(self):
        reply, outs = self.run_cell("function inner() { throw new RangeError('out of range: 7'); }\ninner()")
        c = reply["content"]
        self.assertEqual((c["status"], c["ename"], c["evalue"]), ("error", "RangeError", "out of range: 7"))
        err = [o for o in outs if o["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["ename"], "RangeError")
        tb = "\n".join(err["traceback"])
        self.assertIn("inner", tb)
        for internal in ("tslab", "node:", "kernel/dist", "runInThisContext"):
            self.assertNotIn(internal, tb)

    def test_compile_error_is_an_error_message(self):
        reply, outs = self.run_cell("const n: number = 'text';")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "CompileError")
        self.assertIn("not assignable to type 'number'", reply["content"]["evalue"])

    def test_strict_by_default(self):
        reply, _ = self.run_cell("function f(a) { return a; }")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("implicitly has an 'any' type", reply["content"]["evalue"])

    def test_rich_display_hook_and_array_summary(self):
        reply, outs = self.run_cell(
            "const o = { [Symbol.for('Jupyter.display')]() { return { 'text/html': '<i>hi</i>', 'text/plain': 'hi' }; } }; o"
        )
        res = [x for x in outs if x["msg_type"] == "execute_result"][0]["content"]["data"]
        self.assertEqual(res["text/html"], "<i>hi</i>")
        text = self.result_text("new Float32Array([1, 2, 3, 6])")
        self.assertIn("shape [4]", text)
        self.assertIn("mean 3", text)

    def test_is_complete(self):
        for code, status in [("1 + 1", "complete"), ("function f() {", "incomplete"), ("let 5x = 1", "invalid")]:
            msg_id = self.kc.is_complete(code)
            self.assertEqual(self.reply_for(msg_id)["content"]["status"], status, code)

    def test_kernel_info_versions(self):
        msg_id = self.kc.kernel_info()
        c = self.reply_for(msg_id)["content"]
        self.assertEqual(c["status"], "ok")
        self.assertEqual(c["protocol_version"], "5.3")
        ts_version = os.environ.get("STAGELAB_EXPECT_TS_VERSION")
        if ts_version:
            self.assertEqual(c["language_info"]["version"], ts_version)
        node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
        self.assertIn(node_version, c["banner"])

    def test_esm_imports_static_and_dynamic(self):
        path = os.path.join(tempfile.mkdtemp(), "cell.h5")
        code = (
            'import { StoreWriter, StoreReader } from "@stagelab/core";\n'
            f"const w = await StoreWriter.create({json.dumps(path)});\n"
            'w.createDataset("/x", { dtype: "float64", shape: [0, 3] }).append(new Float64Array([1, 2, 3, 4, 5, 6]));\n'
            "w.close();\n"
            f"const r = await StoreReader.open({json.dumps(path)});\n"
            'const sum = Array.from(r.read<"float64">("/x").data).reduce((a, b) => a + b, 0); r.close(); sum'
        )
        self.assertEqual(self.result_text(code), "21")
        self.assertEqual(self.result_text('const h5 = await import("h5wasm/node"); typeof h5.File'), '"function"')
        self.assertEqual(self.result_text('import * as nodeFs from "node:fs"; typeof nodeFs.readFileSync'), '"function"')

    def test_stop_on_error_aborts_only_queued(self):
        self.drain()
        first = self.kc.execute("await new Promise((r) => setTimeout(r, 300)); throw new Error('stop')")
        queued = self.kc.execute("'queued'")
        self.assertEqual(self.reply_for(first)["content"]["status"], "error")
        self.assertEqual(self.reply_for(queued)["content"]["status"], "aborted")
        # Sent right after the error: tslab aborted anything within 200 ms; we must run it.
        self.assertEqual(self.result_text("'after'"), '"after"')
        # stop_on_error=False: nothing is aborted.
        e2 = self.kc.execute("await new Promise((r) => setTimeout(r, 300)); throw new Error('x')", stop_on_error=False)
        q2 = self.kc.execute("'runs'")
        self.assertEqual(self.reply_for(e2)["content"]["status"], "error")
        self.assertEqual(self.reply_for(q2)["content"]["status"], "ok")
        self.drain()

    def test_stdin_input_request(self):
        self.drain()
        msg_id = self.kc.execute(
            'import { input } from "@stagelab/kernel"; const answer = await input("Name? "); answer.toUpperCase()',
            allow_stdin=True,
        )
        req = self.kc.get_stdin_msg(timeout=TIMEOUT)
        self.assertEqual(req["msg_type"], "input_request")
        self.assertEqual(req["content"]["prompt"], "Name? ")
        self.kc.input("ada")
        self.assertEqual(self.reply_for(msg_id)["content"]["status"], "ok")
        res = [o for o in self.outputs_for(msg_id) if o["msg_type"] == "execute_result"]
        self.assertEqual(res[0]["content"]["data"]["text/plain"], '"ADA"')

    def test_interrupt_keeps_state(self):
        self.result_text("let kept = 41; kept")
        self.drain()
        for code in ("while (true) {}", "await new Promise(() => {})"):
            msg_id = self.kc.execute(code)
            time.sleep(1.0)
            self.km.interrupt_kernel()
            reply = self.reply_for(msg_id)
            self.assertEqual(reply["content"]["status"], "error", code)
            self.assertEqual(reply["content"]["ename"], "InterruptError", (code, reply["content"]))
            self.drain()
            self.assertEqual(self.result_text("kept + 1"), "42")

    def test_interrupt_signal_stops_background_work(self):
        # The interrupted cell's declarations are not kept: it reports on globalThis.
        msg_id = self.kc.execute(
            'import { interruptSignal } from "@stagelab/kernel";\n'
            "const sig = interruptSignal();\n"
            'const probe = { stoppedBy: "", ticksAfter: 0 };\n'
            "(globalThis as Record<string, unknown>).probe = probe;\n"
            "const timer = setInterval(() => { if (sig.aborted) probe.ticksAfter++; }, 5);\n"
            'sig.addEventListener("abort", () => { probe.stoppedBy = (sig.reason as Error).name; clearInterval(timer); });\n'
            "await new Promise(() => {});"
        )
        time.sleep(1.0)
        self.km.interrupt_kernel()
        self.assertEqual(self.reply_for(msg_id)["content"]["ename"], "InterruptError")
        self.drain()
        time.sleep(0.1)
        self.assertEqual(
            self.result_text(
                'import { interruptSignal } from "@stagelab/kernel";\n'
                "const { stoppedBy, ticksAfter } = (globalThis as Record<string, any>).probe;\n"
                "[stoppedBy, ticksAfter, interruptSignal().aborted].join()"
            ),
            '"InterruptError,0,false"',
        )

class CommTests(KernelCase):
    def send_shell(self, msg_type, content, buffers=()):
        msg = self.kc.session.msg(msg_type, content)
        self.kc.session.send(self.kc.shell_channel.socket, msg, buffers=list(buffers))
        return msg["header"]["msg_id"]

    def test_comm_round_trip_with_buffers_both_ways(self):
        self.result_text(
            'import { comms } from "@stagelab/kernel";\n'
            "let closedWith: unknown = null;\n"
            'comms.registerTarget("echo", (comm, open) => {\n'
            "  comm.onMsg((m) => comm.send({ got: m.data, sizes: m.buffers.map((b) => b.byteLength), sums: m.buffers.map((b) => b.reduce((a, x) => a + x, 0)) }, m.buffers.map((b) => b.slice().reverse())));\n"
            "  comm.onClose((m) => { closedWith = m.data; });\n"
            "  comm.send({ opened: open.data, nbuf: open.buffers.length });\n"
            "}); 'ok'"
        )
        self.drain()
        self.send_shell("comm_open", {"comm_id": "c1", "target_name": "echo", "data": {"hello": 1}}, [b"abc"])
        m = self.iopub_until(lambda m: m["msg_type"] == "comm_msg")
        self.assertEqual(m["content"]["data"], {"opened": {"hello": 1}, "nbuf": 1})
        payload = bytes(range(256)) * 40
        self.send_shell("comm_msg", {"comm_id": "c1", "data": {"x": [1, 2]}}, [b"\x01\x02\x03", payload])
        m = self.iopub_until(lambda m: m["msg_type"] == "comm_msg")
        self.assertEqual(m["content"]["data"]["got"], {"x": [1, 2]})
        self.assertEqual(m["content"]["data"]["sizes"], [3, len(payload)])
        self.assertEqual(m["content"]["data"]["sums"], [6, sum(payload)])
        self.assertEqual([bytes(b) for b in m["buffers"]], [b"\x03\x02\x01", payload[::-1]])
        info_id = self.send_shell("comm_info_request", {"target_name": "echo"})
        info = self.reply_for(info_id)
        self.assertEqual(info["msg_type"], "comm_info_reply")
        self.assertEqual(info["content"]["comms"], {"c1": {"target_name": "echo"}})
        self.send_shell("comm_close", {"comm_id": "c1", "data": {"bye": True}})
        time.sleep(0.3)
        self.assertEqual(self.result_text("JSON.stringify(closedWith)"), '"{\\"bye\\":true}"')

    def test_unknown_target_is_closed(self):
        self.drain()
        self.send_shell("comm_open", {"comm_id": "c2", "target_name": "nobody", "data": {}})
        m = self.iopub_until(lambda m: m["msg_type"] == "comm_close")
        self.assertEqual(m["content"]["comm_id"], "c2")

    def test_kernel_opened_comm_with_buffers(self):
        self.drain()
        msg_id = self.kc.execute(
            'import { comms } from "@stagelab/kernel"; const kc = comms.open("frontend.target", { a: 1 }, [new Float64Array([1.5, -2])]); kc.commId'
        )
        opened = self.iopub_until(lambda m: m["msg_type"] == "comm_open")
        self.assertEqual(opened["parent_header"]["msg_id"], msg_id)
        self.assertEqual(opened["content"]["target_name"], "frontend.target")
        self.assertEqual(opened["content"]["data"], {"a": 1})
        import struct
        self.assertEqual(struct.unpack("<2d", bytes(opened["buffers"][0])), (1.5, -2.0))

    def test_widget_protocol(self):
        self.drain()
        msg_id = self.kc.execute(
            'import { widgets } from "@stagelab/kernel";\n'
            "const s = new widgets.IntSlider({ value: 3, min: 0, max: 10, description: 'n' });\n"
            "let seen: number[] = []; s.observe((c) => seen.push(c.new as number), ['value']);\n"
            "s"
        )
        opens = []
        result = None
        for m in self.outputs_for(msg_id):
            if m["msg_type"] == "comm_open":
                opens.append(m)
            if m["msg_type"] == "execute_result":
                result = m
        models = {o["content"]["data"]["state"]["_model_name"]: o for o in opens}
        self.assertEqual(set(models), {"LayoutModel", "SliderStyleModel", "IntSliderModel"})
        slider = models["IntSliderModel"]
        self.assertEqual(slider["content"]["target_name"], "jupyter.widget")
        self.assertEqual(slider["metadata"]["version"], "2.1.0")
        state = slider["content"]["data"]["state"]
        self.assertEqual((state["value"], state["min"], state["max"]), (3, 0, 10))
        self.assertEqual(state["_model_module"], "@jupyter-widgets/controls")
        self.assertEqual(state["layout"], "IPY_MODEL_" + models["LayoutModel"]["content"]["comm_id"])
        view = result["content"]["data"]["application/vnd.jupyter.widget-view+json"]
        comm_id = slider["content"]["comm_id"]
        self.assertEqual(view, {"model_id": comm_id, "version_major": 2, "version_minor": 0})

        # Browser-side change: update -> echo_update, and the kernel sees it.
        self.send_shell("comm_msg", {"comm_id": comm_id, "data": {"method": "update", "state": {"value": 5}, "buffer_paths": []}})
        echo = self.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "echo_update")
        self.assertEqual(echo["content"]["data"]["state"], {"value": 5})
        self.assertEqual(self.result_text("`${s.value} ${JSON.stringify(seen)}`"), '"5 [5]"')

        # Kernel-side change: update message to the frontend.
        msg_id = self.kc.execute("s.value = 8;")
        upd = [m for m in self.outputs_for(msg_id) if m["msg_type"] == "comm_msg"]
        self.assertEqual(upd[0]["content"]["data"], {"method": "update", "state": {"value": 8}, "buffer_paths": []})

        # request_state answers the full state.
        self.send_shell("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        full = self.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update")
        self.assertEqual(full["content"]["data"]["state"]["value"], 8)
        self.assertEqual(full["content"]["data"]["state"]["_view_name"], "IntSliderView")

    def test_widget_binary_state_and_control_target(self):
        self.drain()
        msg_id = self.kc.execute(
            'import { widgets } from "@stagelab/kernel";\n'
            "class Blob extends widgets.Widget { constructor() { super({ modelName: 'BlobModel', modelModule: 'test', viewName: null, viewModule: 'test' }, { data: new Float32Array([1, 2]), meta: { inner: new Uint8Array([7]) } }); } }\n"
            "const blob = new Blob(); let got = ''; blob.observe((c) => { got = Array.from(c.new as Uint8Array).join(','); }, ['data']); blob.modelId"
        )
        opened = self.iopub_until(lambda m: m["msg_type"] == "comm_open")
        data = opened["content"]["data"]
        self.assertEqual(sorted(map(tuple, data["buffer_paths"])), [("data",), ("meta", "inner")])
        self.assertIsNone(data["state"]["data"])
        comm_id = opened["content"]["comm_id"]
        self.outputs_for(msg_id)
        self.send_shell(
            "comm_msg",
            {"comm_id": comm_id, "data": {"method": "update", "state": {"data": None}, "buffer_paths": [["data"]]}},
            [b"\x09\x08\x07"],
        )
        echo = self.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "echo_update")
        self.assertEqual([bytes(b) for b in echo["buffers"]], [b"\x09\x08\x07"])
        self.assertEqual(self.result_text("got"), '"9,8,7"')

        # jupyter.widget.control: every model's state in one message.
        self.send_shell("comm_open", {"comm_id": "ctl", "target_name": "jupyter.widget.control", "data": {}})
        time.sleep(0.2)
        self.send_shell("comm_msg", {"comm_id": "ctl", "data": {"method": "request_states"}})
        states = self.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update_states")
        self.assertIn(comm_id, states["content"]["data"]["states"])
        self.assertIn([comm_id, "data"], states["content"]["data"]["buffer_paths"])


class TsconfigTests(KernelCase):
    cwd = tempfile.mkdtemp()

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(cls.cwd, "tsconfig.json"), "w") as f:
            json.dump({"compilerOptions": {"strict": False}}, f)
        super().setUpClass()

    def test_project_tsconfig_is_honoured(self):
        self.assertEqual(self.result_text("function f(a) { return a; } f(2)"), "2")

    def test_stagelab_core_outside_the_repo(self):
        # No node_modules here: @stagelab/core resolves (types and runtime) beside the kernel.
        code = 'import { DTYPES, StoreReader } from "@stagelab/core"; const n: number = DTYPES.length; `${n} ${typeof StoreReader.open}`'
        self.assertEqual(self.result_text(code), '"13 function"')


class DisplayTests(KernelCase):
    def test_progress_bar_updates_one_display(self):
        msg_id = self.kc.execute(
            'import { progress } from "@stagelab/kernel";\n'
            'const bar = progress(50, "frames");\n'
            "for (let i = 0; i < 50; i++) { bar.tick(); await new Promise((r) => setTimeout(r, 10)); }\n"
            "bar.done();"
        )
        outs = self.outputs_for(msg_id)
        first = [o for o in outs if o["msg_type"] == "display_data"]
        updates = [o for o in outs if o["msg_type"] == "update_display_data"]
        self.assertEqual(len(first), 1)
        display_id = first[0]["content"]["transient"]["display_id"]
        self.assertGreaterEqual(len(updates), 2)
        # Throttled: far fewer updates than ticks.
        self.assertLess(len(updates), 20)
        self.assertTrue(all(u["content"]["transient"]["display_id"] == display_id for u in updates))
        last = updates[-1]["content"]["data"]["text/plain"]
        self.assertIn("50/50", last)
        self.assertIn("100%", last)
        self.assertIn("it/s", last)

    def test_updatable_display_and_png(self):
        msg_id = self.kc.execute(
            'import { newDisplay, display } from "@stagelab/kernel";\n'
            "const h = newDisplay(); h.update('one'); h.update('two');\n"
            "display.png(new Uint8Array([137, 80, 78, 71]));"
        )
        outs = self.outputs_for(msg_id)
        kinds = [o["msg_type"] for o in outs if o["msg_type"] != "execute_input"]
        self.assertEqual(kinds, ["display_data", "update_display_data", "display_data"])
        self.assertEqual(outs[-1]["content"]["data"]["image/png"], "iVBORw==")


class HistoryAndShutdownTests(unittest.TestCase):
    def test_history_persists_across_sessions_and_shutdown_with_timers(self):
        km, kc = start_new_kernel(kernel_name="stagelab")
        kc.execute_interactive("const marker = 'first-session-' + 7;")
        kc.execute_interactive("setInterval(() => {}, 1000); setTimeout(() => {}, 600000);")
        kc.stop_channels()
        t0 = time.time()
        km.shutdown_kernel(now=False)
        self.assertFalse(km.is_alive())
        self.assertLess(time.time() - t0, 10)

        km2, kc2 = start_new_kernel(kernel_name="stagelab")
        try:
            msg_id = kc2.history(hist_access_type="search", pattern="*first-session-*", output=False, raw=True)
            while True:
                reply = kc2.get_shell_msg(timeout=TIMEOUT)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            hist = reply["content"]["history"]
            self.assertTrue(any("first-session-" in h[2] for h in hist), hist)
            msg_id = kc2.history(hist_access_type="tail", n=1, output=False, raw=True)
            while True:
                tail = kc2.get_shell_msg(timeout=TIMEOUT)
                if tail["parent_header"].get("msg_id") == msg_id:
                    break
            # Earlier session numbers for earlier kernels.
            self.assertLess(hist[0][0], 10**9)
        finally:
            kc2.stop_channels()
            km2.shutdown_kernel(now=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
