"""test.* with jest: a real project in a tmp dir, run in a real tmux pane; the counts are
checked against jest's own "Tests:" summary line for the same project."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.registry import load_methods
from tests.testing.helpers import run_to_end, write

load_methods()
CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")
pytestmark = pytest.mark.skipif(
    shutil.which("jest") is None, reason="jest is not installed (.ci/run: npm install -g jest@29)"
)

PROJECT = {
    "package.json": '{"name": "calc", "version": "0.0.0", "scripts": {"test": "jest"}}\n',
    "calc.test.js": """const add = (a, b) => a + b;

describe("add", () => {
  test("adds", () => {
    expect(add(1, 2)).toBe(3);
  });

  test("fails", () => {
    expect(add(2, 2)).toBe(5);
  });

  test.skip("later", () => {});

  test.each(["größe", "日本"])("unicode %s", (w) => {
    expect(w.length).toBeGreaterThan(0);
  });
});
""",
    "broken.test.js": "test('x', () => {\n",
}


def jest_summary(root: Path, *args: str) -> dict[str, int]:
    err = subprocess.run(["jest", "--ci", *args], cwd=root, capture_output=True, text=True,
                         check=False).stderr  # fmt: skip
    tests = re.search(r"^Tests:\s+(.*)$", err, re.M)
    suites = re.search(r"^Test Suites:\s+(.*)$", err, re.M)
    out = {
        f"tests {w}": int(n) for n, w in re.findall(r"(\d+) (\w+)", tests.group(1) if tests else "")
    }
    out.update({f"suites {w}": int(n) for n, w in re.findall(r"(\d+) (\w+)", suites.group(1))})  # type: ignore[union-attr]
    return out


async def test_counts_equal_jests_own_summary(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", PROJECT)
    found = (await dispatch(core, "test.detect", {"cwd": str(root)}))[1]
    assert [d["framework"] for d in found] == ["jest"]
    res = await run_to_end(core, {"cwd": str(root)})
    want = jest_summary(root)
    assert (res["passed"], res["failed"], res["skipped"]) == (
        want["tests passed"], want["tests failed"], want["tests skipped"],
    ) == (3, 1, 1)  # fmt: skip
    assert res["errors"] == 1 == want["suites failed"] - 1  # the file that does not parse
    assert res["state"] == "error"
    by_name = {t["name"]: t for t in res["tests"]}
    fails = by_name["add fails"]
    assert (fails["file"], fails["line"], fails["status"]) == ("calc.test.js", 9, "failed")
    assert by_name["add unicode größe"]["status"] == "passed"
    broken = next(t for t in res["tests"] if t["status"] == "error")
    assert broken["file"] == "broken.test.js"
    # nearest, and only the failed ones
    res = await run_to_end(core, {"file": str(root / "calc.test.js"), "line": 9})
    assert res["selection"] == "calc.test.js::fails"
    assert (res["passed"], res["failed"]) == (0, 1)
    res = await run_to_end(core, {"cwd": str(root), "ids": [fails["id"]]})
    assert [t["id"] for t in res["tests"] if t["status"] != "skipped"] == [fails["id"]]
