"""Shared by the test-runner tests: real suites in tmp dirs and the frameworks' own summary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchflow_core.core import Core

PYTEST_SUITE = {
    "pytest.ini": "[pytest]\n",
    "test_mixed.py": """import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    print("hello from test_fails")
    x = 41
    assert x == 42, "the answer"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False


@pytest.mark.parametrize("word", ["ä", "日本", "plain", "fail-ß"])
def test_größe(word):
    assert not word.startswith("fail")


class TestThings:
    def test_in_class(self):
        assert True

    def test_in_class_fails(self):
        assert [1] == [2]
""",
    "sub/test_more.py": "def test_sub():\n    print('hello from sub')\n",
}

BROKEN_SUITE = {
    "pytest.ini": "[pytest]\n",
    "test_ok.py": "def test_ok():\n    pass\n",
    "test_broken.py": "def test_x(:\n    pass\n",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    return root


def pytest_summary(root: Path, *args: str) -> dict[str, int]:
    """pytest's own last summary line ("2 failed, 5 passed, 1 skipped in 0.1s") as counts."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    last = [x for x in proc.stdout.splitlines() if re.search(r" in [\d.]+s", x)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last.split(" in ")[0])}


def ours(results: dict) -> dict[str, int]:
    """Our counts in the words of pytest's summary (skipped there excludes xfailed)."""
    out = {
        "passed": results["passed"],
        "failed": results["failed"],
        "skipped": results["skipped"] - results["xfailed"],
        "xfailed": results["xfailed"],
        "xpassed": results["xpassed"],
        "error": results["errors"],
    }
    return {k: v for k, v in out.items() if v}


def plural(d: dict[str, int]) -> dict[str, int]:
    return {("error" if k == "errors" else k): v for k, v in d.items()}


async def run_to_end(core: Core, params: dict[str, Any]) -> dict[str, Any]:
    """test.run, then its results once the run is over (at most 300 s)."""
    from orchflow_core.api import dispatch

    ok, started = await dispatch(core, "test.run", params)
    assert ok, started
    ok, res = await dispatch(core, "test.results", {"run_id": started["run_id"], "wait_s": 300})
    assert ok and res["state"] != "running", res
    return res
