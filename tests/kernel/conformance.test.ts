// The official jupyter_kernel_test conformance suite against the stagelab kernel.
import { test } from "node:test";
import { runPythonSuite } from "./python-suite.js";

test("jupyter_kernel_test conformance", { timeout: 300_000 }, (t) =>
  runPythonSuite(t, "test_conformance"),
);
