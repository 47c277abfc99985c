"""Runs pytest with a small recorder plugin and writes every test's result as JSON lines to a
report file: ``python pytest_runner.py REPORT [pytest args...]``.

The report is streamed: a ``start`` line, one ``test`` line per report as pytest makes it
(flushed, so a pytest killed mid-run leaves every result before the kill), and an ``end`` line
from ``pytest_sessionfinish`` (its absence means pytest did not finish). With pytest-xdist
(``-n 2``) the controller receives every worker's reports and records them the same way.

The recorder counts each report under the category pytest's own terminal summary uses (the
``pytest_report_teststatus`` hook: passed, failed, error, skipped, xfailed, xpassed), so the
counts are the summary line's. It is cheaper than ``--junitxml`` (no XML tree per test), and
it writes on KeyboardInterrupt too. Standalone (no orchflow imports): it runs in the project's
interpreter, in the suite's root, which is put first on sys.path as ``python -m pytest`` does.
"""

import json
import os
import sys
import time
from typing import Any

sys.path[0] = os.getcwd()  # not this file's directory: the project's modules come first

import pytest  # noqa: E402

COUNTED = {"passed", "failed", "error", "skipped", "xfailed", "xpassed"}


class Recorder:
    def __init__(self, report: str) -> None:
        self.started = time.time()
        self.config: Any = None
        self.root = os.getcwd()
        self.out = open(report, "w", encoding="utf-8")  # noqa: SIM115 - open for the session
        self._write({"kind": "start", "pid": os.getpid(), "started": self.started})

    def _write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def pytest_configure(self, config: Any) -> None:
        self.config = config
        self.root = str(config.rootpath)

    def _failure(self, report: Any) -> tuple[str, str, int | None]:
        text = getattr(report, "longreprtext", "") or ""
        crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
        message = crash.message if crash is not None else (text.strip().splitlines() or [""])[-1]
        line = None
        if (
            crash is not None
            and report.location
            and os.path.abspath(crash.path) == os.path.join(self.root, report.location[0])
        ):
            line = crash.lineno
        sections = "".join(f"\n{title}\n{body}" for title, body in report.sections)
        return str(message), text + sections, line

    def pytest_runtest_logreport(self, report: Any) -> None:
        category = self.config.hook.pytest_report_teststatus(report=report, config=self.config)[0]
        if category not in COUNTED:
            return
        file, lineno, _ = report.location
        message, output, line = "", "", None
        if category in ("failed", "error"):
            message, output, line = self._failure(report)
        elif category in ("skipped", "xfailed") and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        self._write(
            {
                "kind": "test",
                "id": report.nodeid,
                "name": report.nodeid.split("::")[-1],
                "file": os.path.join(self.root, file),
                "line": line or (lineno + 1 if lineno is not None else None),
                "status": category,
                "when": report.when,
                "message": message,
                "output": output,
            }
        )

    def pytest_collectreport(self, report: Any) -> None:
        if not report.failed:
            return
        text = getattr(report, "longreprtext", "") or ""
        path = report.nodeid.split("::")[0]
        self._write(
            {
                "kind": "test",
                "id": report.nodeid,
                "name": report.nodeid,
                "file": os.path.join(self.root, path) if path else None,
                "line": None,
                "status": "error",
                "when": "collect",
                "message": (text.strip().splitlines() or ["collection error"])[-1],
                "output": text,
            }
        )

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        self.finish(int(exitstatus))

    def finish(self, exitstatus: int) -> None:
        """The end line, once (also when pytest stopped before a session: a usage error)."""
        if self.out.closed:
            return
        self._write(
            {"kind": "end", "duration_s": time.time() - self.started, "exitstatus": exitstatus}
        )
        self.out.close()


if __name__ == "__main__":
    recorder = Recorder(sys.argv[1])
    code = int(pytest.main(sys.argv[2:], plugins=[recorder]))
    recorder.finish(code)
    sys.exit(code)
