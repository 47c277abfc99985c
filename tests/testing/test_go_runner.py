"""test.* with go test: real modules in tmp dirs, run in a real tmux pane; the counts are
checked against ``go test -v``'s own ``--- PASS/FAIL/SKIP`` lines for the same packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.registry import load_methods
from tests.harness.tmux import TmuxServer
from tests.testing.helpers import run_to_end, write

load_methods()
CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")
pytestmark = pytest.mark.skipif(
    shutil.which("go") is None, reason="go is not installed (.ci/run: apt-get install -y golang-go)"
)

GO_SUITE = {
    "go.mod": "module example.com/calc\n\ngo 1.19\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "calc_test.go": """package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 2) != 3 {
		t.Fatal("bad")
	}
}

func TestAddFails(t *testing.T) {
	got := Add(2, 2)
	t.Errorf("got %d, want 5", got)
}

func TestSkipped(t *testing.T) {
	t.Skip("later")
}

func TestTable(t *testing.T) {
	for _, name := range []string{"größe", "日本", "bad case"} {
		t.Run(name, func(t *testing.T) {
			if name == "bad case" {
				t.Error("bad case failed")
			}
		})
	}
}
""",
    "sub/sub_test.go": 'package sub\n\nimport "testing"\n\nfunc TestSub(t *testing.T) {}\n',
}


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    # go needs a writable cache; the panes inherit the test's environment
    os.environ.setdefault("GOCACHE", str(Path.home() / ".cache" / "go-build"))
    os.environ.setdefault("GOFLAGS", "-mod=mod")
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()


def go_v_counts(root: Path, *args: str) -> dict[str, int]:
    out = subprocess.run(
        ["go", "test", "-v", *args], cwd=root, capture_output=True, text=True, check=False
    ).stdout
    found = re.findall(r"^\s*--- (PASS|FAIL|SKIP):", out, re.M)
    return {w: found.count(w) for w in ("PASS", "FAIL", "SKIP")}


async def test_counts_equal_go_test_v(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", GO_SUITE)
    res = await run_to_end(core, {"cwd": str(root), "framework": "go"})
    want = go_v_counts(root, "./...")
    assert (res["passed"], res["failed"], res["skipped"]) == (
        want["PASS"],
        want["FAIL"],
        want["SKIP"],
    )
    assert res["state"] == "failed" and res["errors"] == 0
    by_id = {t["id"]: t for t in res["tests"]}
    fails = by_id["example.com/calc::TestAddFails"]
    assert fails["file"] == "calc_test.go" and fails["line"] == 13
    assert "got 4, want 5" in fails["message"]
    assert by_id["example.com/calc::TestTable/größe"]["status"] == "passed"
    assert by_id["example.com/calc::TestTable/bad_case"]["status"] == "failed"
    assert by_id["example.com/calc/sub::TestSub"]["status"] == "passed"
    # nearest (a line inside TestTable), and only the failed ones
    res = await run_to_end(core, {"file": str(root / "calc_test.go"), "line": 22})
    assert res["selection"] == "calc_test.go::TestTable"
    want = go_v_counts(root, "-run", "^TestTable$", ".")
    # TestTable fails with its failing subtest, as go test -v says
    assert (res["passed"], res["failed"]) == (want["PASS"], want["FAIL"]) == (2, 2)
    failed = [t["id"] for t in res["tests"] if t["status"] == "failed"]
    res = await run_to_end(core, {"cwd": str(root), "ids": ["example.com/calc::TestAddFails"]})
    assert [t["id"] for t in res["tests"]] == ["example.com/calc::TestAddFails"]
    assert failed


async def test_a_compile_error_is_an_error(core: Core, tmp_path: Path) -> None:
    root = write(
        tmp_path / "broken",
        {
            "go.mod": "module example.com/broken\n\ngo 1.19\n",
            "b_test.go": 'package broken\n\nimport "testing"\n\nfunc TestX(t *testing.T) {\n'
            "\tundefined()\n}\n",
        },
    )
    res = await run_to_end(core, {"cwd": str(root)})
    assert res["state"] == "error" and res["errors"] == 1 and res["passed"] == 0
    (err,) = res["tests"]
    assert err["file"] == "b_test.go" and err["line"] == 6
    assert "undefined" in err["output"]


async def test_go_not_installed_is_a_clear_error(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", GO_SUITE)
    ok, _ = await dispatch(core, "pane.list", {})  # tmux is up before PATH loses go
    assert ok
    go_dir = str(Path(shutil.which("go") or "").parent)
    old = os.environ["PATH"]
    bare = tmp_path / "bin"
    bare.mkdir()
    for d in old.split(os.pathsep):  # every tool but go, on a PATH of one directory
        if d and Path(d).is_dir() and d != go_dir:
            for f in Path(d).iterdir():
                if f.name != "go" and not (bare / f.name).exists():
                    (bare / f.name).symlink_to(f)
    os.environ["PATH"] = str(bare)
    try:
        ok, err = await dispatch(core, "test.run", {"cwd": str(root), "framework": "go"})
    finally:
        os.environ["PATH"] = old
    assert not ok and "go is not installed" in err["message"], err
