"""Runs unittest discovery (or the given test names) with unittest's own text output in the
test pane, and writes every test's result as JSON to a report file, since unittest has no
machine-readable output of its own:

    python unittest_runner.py REPORT [unittest names...]

Standalone (no orchflow imports): it runs in the project's interpreter, in the project's root,
which is put first on sys.path as ``python -m unittest`` does. On C-c the tests that ended are
written with ``"interrupted": true``.
"""

import inspect
import json
import os
import sys
import time
import traceback
import unittest
from typing import Any

sys.path[0] = os.getcwd()  # not this file's directory: the project's modules come first


def _where(test: Any) -> tuple[str | None, int | None]:
    method = getattr(test, getattr(test, "_testMethodName", ""), None)
    try:
        file = inspect.getsourcefile(method) if method else None
        line = inspect.getsourcelines(method)[1] if method else None
    except (OSError, TypeError):
        return None, None
    return file, line


class JsonResult(unittest.TextTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[dict[str, Any]] = []

    def _add(self, test: Any, status: str, err: Any = None, reason: str = "") -> None:
        file, line = _where(test)
        message, output = reason, ""
        if err is not None:
            exc_type, exc, tb = err
            message = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            output = "".join(traceback.format_exception(exc_type, exc, tb))
            if file:
                for frame in traceback.extract_tb(tb):
                    if os.path.abspath(frame.filename) == os.path.abspath(file):
                        line = frame.lineno
        self.records.append(
            {
                "id": test.id(),
                "name": getattr(test, "_testMethodName", "") or test.id(),
                "file": file,
                "line": line,
                "status": status,
                "message": message,
                "output": output,
            }
        )

    def addSuccess(self, test: Any) -> None:
        super().addSuccess(test)
        self._add(test, "passed")

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._add(test, "failed", err)

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._add(test, "error", err)

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._add(test, "skipped", reason=reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._add(test, "xfailed", err)

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._add(test, "failed", reason="unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._add(subtest, "failed" if failed else "error", err)


class Runner(unittest.TextTestRunner):
    result: Any = None

    def _makeResult(self) -> Any:
        self.result = super()._makeResult()
        return self.result


def main() -> int:
    report, names = sys.argv[1], sys.argv[2:]
    loader = unittest.TestLoader()
    if names[:1] == ["-k"] and len(names) > 1:  # unittest's -k: a substring or fnmatch pattern
        pattern = names[1]
        loader.testNamePatterns = [pattern if "*" in pattern else f"*{pattern}*"]
        names = names[2:]
    suite = loader.loadTestsFromNames(names) if names else loader.discover(".")
    runner = Runner(resultclass=JsonResult, verbosity=1)
    started = time.perf_counter()
    interrupted = False
    try:
        runner.run(suite)
    except KeyboardInterrupt:
        interrupted = True
    result = runner.result
    records = result.records if result is not None else []
    with open(report, "w", encoding="utf-8") as f:
        json.dump(
            {
                "tests": records,
                "testsRun": result.testsRun if result else None,
                "duration_s": time.perf_counter() - started,
                "interrupted": interrupted,
            },
            f,
        )
    if interrupted:
        return 130
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
