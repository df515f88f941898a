"""Run a unittest module and print one machine-readable line per test (for node:test).

Usage: run_suite.py MODULE  ->  lines `STAGELAB_RESULT {"name": ..., "status": ..., "detail": ...}`
"""
import json
import sys
import unittest


class Recorder(unittest.TextTestResult):
    def _emit(self, test, status, detail=""):
        print("\nSTAGELAB_RESULT " + json.dumps({"name": test.id(), "status": status, "detail": detail}), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._emit(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._emit(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._emit(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._emit(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._emit(subtest, "fail", self._exc_info_to_string(err, test))


suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1])
result = unittest.TextTestRunner(verbosity=2, resultclass=Recorder).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
