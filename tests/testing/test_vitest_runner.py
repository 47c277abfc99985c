"""test.* with vitest: a real project in a tmp dir, run in a real tmux pane; the counts are
checked against vitest's own "Tests" summary line for the same project."""

from __future__ import annotations

import asyncio
import os
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
pytestmark = pytest.mark.skipif(
    shutil.which("vitest") is None,
    reason="vitest is not installed (.ci/run: npm install -g vitest@3)",
)

PROJECT = {
    # globals: the suite needs no `import { test } from "vitest"` (vitest is global here)
    "package.json": '{"name": "calc", "private": true, "type": "module",'
    ' "scripts": {"test": "vitest run"}}\n',
    "vitest.config.mjs": "export default { test: { globals: true } };\n",
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


def vitest_summary(root: Path) -> dict[str, int]:
    """vitest's own " Tests  1 failed | 3 passed | 1 skipped (5)" and " Test Files" lines."""
    argv = ["vitest", "run", "--reporter=default"]
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run(
        argv, cwd=root, capture_output=True, text=True, check=False, env=env
    ).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    tests = re.search(r"^\s*Tests\s+(.*)$", out, re.M)
    files = re.search(r"^\s*Test Files\s+(.*)$", out, re.M)
    assert tests and files, out
    got = {f"tests {w}": int(n) for n, w in re.findall(r"(\d+) (passed|failed|skipped)",
                                                       tests.group(1))}  # fmt: skip
    got.update({f"files {w}": int(n) for n, w in re.findall(r"(\d+) (passed|failed)",
                                                            files.group(1))})  # fmt: skip
    return got


async def test_counts_equal_vitests_own_summary(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", PROJECT)
    found = (await dispatch(core, "test.detect", {"cwd": str(root)}))[1]
    assert [(d["framework"], d["source"]) for d in found] == [("vitest", "vitest.config.mjs")]
    res = await run_to_end(core, {"cwd": str(root)})
    want = await asyncio.to_thread(vitest_summary, root)
    assert (res["framework"], res["passed"], res["failed"], res["skipped"]) == (
        "vitest", want["tests passed"], want["tests failed"], want["tests skipped"],
    ) == ("vitest", 3, 1, 1)  # fmt: skip
    assert res["errors"] == 1 == want["files failed"] - 1  # the file that does not parse
    assert res["state"] == "error"
    by_name = {t["name"]: t for t in res["tests"]}
    fails = by_name["add fails"]
    assert (fails["file"], fails["line"], fails["status"]) == ("calc.test.js", 9, "failed")
    assert "expected 4 to be 5" in fails["message"]
    assert by_name["add unicode größe"]["status"] == "passed"
    assert by_name["add unicode 日本"]["line"] == 14
    broken = next(t for t in res["tests"] if t["status"] == "error")
    assert broken["file"] == "broken.test.js"
    # nearest, and only the failed ones
    res = await run_to_end(core, {"file": str(root / "calc.test.js"), "line": 9})
    assert res["selection"] == "calc.test.js::fails"
    assert (res["framework"], res["passed"], res["failed"]) == ("vitest", 0, 1)
    res = await run_to_end(core, {"cwd": str(root), "ids": [fails["id"]]})
    assert [t["id"] for t in res["tests"] if t["status"] != "skipped"] == [fails["id"]]


async def test_vitest_not_installed_is_a_clear_error(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", PROJECT)
    await core.terminals()  # tmux runs; then a PATH without vitest, for this call alone
    path = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path / "empty-bin")
    try:
        ok, err = await dispatch(core, "test.run", {"cwd": str(root), "framework": "vitest"})
    finally:
        os.environ["PATH"] = path
    assert not ok
    assert err["message"] == (
        "unavailable: vitest is not installed (not on PATH); install it to run vitest"
    )
