"""test.* with unittest: a real suite in a tmp dir, run in a real tmux pane; the counts are
checked against ``python -m unittest``'s own summary ("Ran N tests", "FAILED (failures=...)")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.registry import load_methods
from tests.testing.helpers import run_to_end, write

load_methods()
CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")

SUITE = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0"\n',
    "test_calc.py": """import unittest


class TestCalc(unittest.TestCase):
    def test_adds(self):
        self.assertEqual(1 + 1, 2)

    def test_fails(self):
        self.assertEqual(1 + 1, 3)

    def test_errors(self):
        raise RuntimeError("boom")

    @unittest.skip("later")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_known(self):
        self.assertEqual(1, 2)

    def test_größe(self):
        self.assertTrue(True)
""",
    "test_broken.py": "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(:\n",
}


def unittest_summary(root: Path, *names: str) -> dict[str, int]:
    err = subprocess.run(
        [sys.executable, "-m", "unittest", *names], cwd=root, capture_output=True, text=True,
        check=False,
    ).stderr  # fmt: skip
    counts = {"ran": int(re.search(r"^Ran (\d+) tests?", err, re.M).group(1))}  # type: ignore[union-attr]
    m = re.search(r"^(?:FAILED|OK) \((.*)\)$", err, re.M)
    for key, n in re.findall(r"([a-z ]+)=(\d+)", m.group(1) if m else ""):
        counts[key.strip()] = int(n)
    return counts


def ours(res: dict[str, Any]) -> dict[str, int]:
    out = {
        "ran": res["passed"] + res["failed"] + res["errors"] + res["skipped"],
        "failures": res["failed"],
        "errors": res["errors"],
        "skipped": res["skipped"] - res["xfailed"],
        "expected failures": res["xfailed"],
    }
    return {k: v for k, v in out.items() if v or k == "ran"}


async def test_counts_equal_unittests_own_summary(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", SUITE)
    found = (await dispatch(core, "test.detect", {"cwd": str(root)}))[1]
    assert [d["framework"] for d in found] == ["unittest"]
    res = await run_to_end(core, {"cwd": str(root)})
    assert ours(res) == unittest_summary(root)
    assert res["state"] == "error"  # the module that does not import
    by_id = {t["id"]: t for t in res["tests"]}
    fails = by_id["test_calc.TestCalc.test_fails"]
    assert (fails["file"], fails["line"], fails["status"]) == ("test_calc.py", 9, "failed")
    assert "AssertionError: 2 != 3" in fails["message"]
    assert by_id["test_calc.TestCalc.test_größe"]["status"] == "passed"
    broken = next(t for t in res["tests"] if t["name"] == "test_broken")
    assert (broken["status"], broken["file"]) == ("error", "test_broken.py")
    # nearest: the method at the cursor; and a name filter
    res = await run_to_end(core, {"file": str(root / "test_calc.py"), "line": 9})
    assert res["selection"] == "test_calc.py::TestCalc::test_fails"
    assert ours(res) == unittest_summary(root, "test_calc.TestCalc.test_fails")
    res = await run_to_end(core, {"cwd": str(root), "filter": "adds"})
    assert ours(res) == unittest_summary(root, "-k", "adds")  # the broken module is still an error
    assert (res["passed"], res["failed"], res["errors"]) == (1, 0, 1)
    (root / "test_broken.py").unlink()
    res = await run_to_end(core, {"cwd": str(root), "filter": "adds"})
    assert (res["passed"], res["state"]) == (1, "passed")
