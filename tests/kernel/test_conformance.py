"""The official Jupyter kernel conformance suite (jupyter_kernel_test) against stagelab.

Run by tests/kernel/conformance.test.ts with Debian's python3 and JUPYTER_PATH pointing at
a temporary kernelspec. Every test that applies to a TypeScript kernel has samples here;
test_pager does not apply (it needs an IPython-style `?` pager payload).
"""
import unittest

import jupyter_kernel_test


class StagelabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "stagelab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("some error")'

    completion_samples = [
        {"text": "Math.fl", "matches": {"floor"}},
        {"text": "const abcdefg = 1; abcde", "matches": {"abcdefg"}},
    ]

    complete_code_samples = ["1 + 1", "const a = 1;", "function f() {\n  return 1;\n}"]
    incomplete_code_samples = ["function f() {", "const a = [1,", "if (true) {\n  console.log(1);"]
    invalid_code_samples = ["const = 5;", "1 +* 2", "let 5x = 1;"]

    code_generate_error = 'throw new Error("deliberate")'

    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "const s: string = 'x'.repeat(3); s.length", "result": "3"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
    ]

    code_display_data = [
        {"code": 'import { display } from "@stagelab/kernel"; display.html("<b>bold</b>")', "mime": "text/html"},
        {"code": 'import { display } from "@stagelab/kernel"; display.svg("<svg></svg>")', "mime": "image/svg+xml"},
        {"code": 'import { display } from "@stagelab/kernel"; display.markdown("*md*")', "mime": "text/markdown"},
        {
            "code": 'import { display } from "@stagelab/kernel"; display.vegalite({ mark: "bar", data: { values: [] } })',
            "mime": "application/vnd.vegalite.v5+json",
        },
    ]

    code_history_pattern = "1 + ?"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_clear_output = 'import { clearOutput } from "@stagelab/kernel"; clearOutput()'


if __name__ == "__main__":
    unittest.main(verbosity=2)
