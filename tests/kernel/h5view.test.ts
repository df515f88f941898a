// H5View's kernel side with a real jupyter_client: tree, strided reads, reads in parts
// under the message limit, live increments from a second writing process, static fallback.
import { test } from "node:test";
import { runPythonSuite } from "./python-suite.js";

test("H5View kernel side", { timeout: 300_000 }, (t) => runPythonSuite(t, "test_h5view"));
