// Protocol behaviour with a real jupyter_client: comms with buffers both ways, widgets,
// errors, history, interrupt, stdin, stop_on_error, tsconfig, ESM imports, shutdown.
import { test } from "node:test";
import { runPythonSuite } from "./python-suite.js";

test("protocol with jupyter_client", { timeout: 600_000 }, (t) =>
  runPythonSuite(t, "test_protocol"),
);
