// VoxelView's kernel side with a real jupyter_client: state, planes (stored and expanded through
// the Laue operators), the static PNG, live pushes while a writer in the kernel rewrites the map.
import { test } from "node:test";
import { runPythonSuite } from "./python-suite.js";

test("VoxelView kernel side", { timeout: 300_000 }, (t) => runPythonSuite(t, "test_voxelview"));
