"""unittest runner for the integration tests: verbose per-test lines, then one summary line

    SUMMARY <name> runtime=<runtime> containerd=<series>: <n> tests, <p> passed, <f> failed, ...

and exit status 0 only if every test passed (a skip counts as a failure: an integration test
that cannot run what it needs must fail, not skip). Extra argv entries select tests by name
(unittest syntax, e.g. CtrTests.test_exec).
"""

import sys
import time
import unittest

import harness
import tools


class _Result(unittest.TextTestResult):
    """Tells the harness about failures, so containerd's log tail is printed at teardown."""

    def addFailure(self, test, err):
        super().addFailure(test, err)
        harness.mark_test_failed()

    def addError(self, test, err):
        super().addError(test, err)
        harness.mark_test_failed()


def main(name, runtime):
    module = sys.modules["__main__"]
    loader = unittest.defaultTestLoader
    if len(sys.argv) > 1:
        suite = loader.loadTestsFromNames(sys.argv[1:], module)
    else:
        suite = loader.loadTestsFromModule(module)
    started = time.monotonic()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=_Result).run(suite)
    failed, errors, skipped = len(result.failures), len(result.errors), len(result.skipped)
    passed = result.testsRun - failed - errors - skipped
    print(f"SUMMARY {name} runtime={runtime} containerd={tools.containerd_series()}: "
          f"{result.testsRun} tests, {passed} passed, "
          f"{failed} failed, {errors} errors, {skipped} skipped "
          f"({time.monotonic() - started:.1f}s)", flush=True)
    ok = result.testsRun > 0 and passed == result.testsRun
    sys.exit(0 if ok else 1)
