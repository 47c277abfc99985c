"""test.* with pytest: real suites in tmp dirs, run in a real tmux pane; the counts are
checked against pytest's own summary line of the same suite."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.events import Event
from orchflow_core.registry import load_methods
from tests.harness.tmux import TmuxServer
from tests.testing.helpers import BROKEN_SUITE, PYTEST_SUITE, ours, plural, pytest_summary, write

load_methods()
CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()


async def call(core: Core, method: str, params: dict[str, Any]) -> Any:
    ok, result = await dispatch(core, method, params)
    assert ok, result
    return result


async def run_to_end(core: Core, params: dict[str, Any]) -> dict[str, Any]:
    started = await call(core, "test.run", params)
    res = await call(core, "test.results", {"run_id": started["run_id"], "wait_s": 120})
    assert res["state"] != "running", res
    return res


async def test_detect_finds_each_framework_by_root(core: Core, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(
        repo,
        {
            "pyproject.toml": "[tool.pytest.ini_options]\n",
            "tests/conftest.py": "",
            "svc/go.mod": "module example.com/svc\n\ngo 1.19\n",
            "Makefile": "all:\n\ttrue\ncheck:\n\ttrue\n",
            "node_modules/x/pytest.ini": "[pytest]\n",
        },
    )
    found = await call(core, "test.detect", {"cwd": str(repo)})
    got = {(d["framework"], Path(d["root"]).name) for d in found}
    assert got == {("pytest", "repo"), ("go", "svc"), ("make", "repo")}
    make = next(d for d in found if d["framework"] == "make")
    assert make["command"] == "make check"
    ok, err = await dispatch(core, "test.detect", {"cwd": str(tmp_path / "nope")})
    assert not ok and "nope" in err["message"]


async def test_counts_equal_pytests_own_summary(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "suite", PYTEST_SUITE)
    finished: list[Event] = []
    core.events.subscribe(finished.append, kinds={"test.finished"})
    res = await run_to_end(core, {"cwd": str(root)})
    assert ours(res) == plural(pytest_summary(root))
    assert (res["state"], res["framework"], res["passed"], res["failed"]) == (
        "failed",
        "pytest",
        6,
        3,
    )
    by_id = {t["id"]: t for t in res["tests"]}
    fails = by_id["test_mixed.py::test_fails"]
    assert fails["status"] == "failed" and "the answer" in fails["message"]
    assert fails["file"] == "test_mixed.py" and fails["line"] == 11  # the assert line
    # ids are pytest's node ids: it escapes non-ASCII parameter ids (not function names)
    assert by_id["test_mixed.py::test_größe[fail-\\xdf]"]["status"] == "failed"
    assert by_id["test_mixed.py::test_größe[\\u65e5\\u672c]"]["status"] == "passed"
    assert by_id["test_mixed.py::TestThings::test_in_class_fails"]["line"] == 34
    assert by_id["test_mixed.py::test_skipped"]["status"] == "skipped"
    assert by_id["test_mixed.py::test_xfails"]["status"] == "xfailed"
    assert "hello from test_fails" in fails["output"]  # captured output of failures
    assert by_id["sub/test_more.py::test_sub"]["status"] == "passed"
    assert finished and finished[-1].data["run_id"] == res["run_id"]
    assert finished[-1].data["failed"] == 3
    # the run happened in a visible test pane
    panes = await call(core, "pane.list", {})
    pane = next(p for p in panes if p["id"] == res["pane"])
    assert pane["type"] == "test"


async def test_nearest_file_filter_and_ids(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "suite", PYTEST_SUITE)
    f = str(root / "test_mixed.py")
    # line 33 is the def of TestThings.test_in_class_fails
    res = await run_to_end(core, {"file": f, "line": 33})
    assert res["selection"] == "test_mixed.py::TestThings::test_in_class_fails"
    assert (res["passed"], res["failed"]) == (0, 1)
    # a parametrised test, from its decorator line: every case
    res = await run_to_end(core, {"file": f, "line": 24})
    assert ours(res) == plural(pytest_summary(root, "test_mixed.py::test_größe"))
    assert (res["passed"], res["failed"]) == (3, 1)
    # a line in no test: the file, and it says so
    res = await run_to_end(core, {"file": f, "line": 2})
    assert res["selection"] == "test_mixed.py (line 2 is in no test)"
    assert ours(res) == plural(pytest_summary(root, "test_mixed.py"))
    res = await run_to_end(core, {"cwd": str(root), "filter": "größe and not fail"})
    assert (res["passed"], res["failed"]) == (3, 0) and res["state"] == "passed"
    # only the failed ones of an earlier run
    full = await run_to_end(core, {"cwd": str(root)})
    failed = [t["id"] for t in full["tests"] if t["status"] == "failed"]
    again = await run_to_end(core, {"cwd": str(root), "ids": failed})
    assert sorted(t["id"] for t in again["tests"]) == sorted(failed)
    assert again["failed"] == 3 and again["passed"] == 0
    last = await call(core, "test.last", {})
    assert last["run_id"] == again["run_id"] and last["params"]["ids"] == failed
    # the same pane every time
    panes = [p for p in await call(core, "pane.list", {}) if p["type"] == "test"]
    assert len(panes) == 1


async def test_a_collection_error_is_an_error_with_pytests_count(
    core: Core, tmp_path: Path
) -> None:
    root = write(tmp_path / "broken", BROKEN_SUITE)
    res = await run_to_end(core, {"cwd": str(root)})
    assert ours(res) == plural(pytest_summary(root)) == {"error": 1}
    assert res["state"] == "error"
    (err,) = res["tests"]
    assert err["status"] == "error" and err["file"] == "test_broken.py"
    assert "SyntaxError" in err["output"] or "invalid syntax" in err["output"]


async def test_a_suite_cancelled_mid_run_is_cancelled_with_what_ran(
    core: Core, tmp_path: Path
) -> None:
    root = write(
        tmp_path / "slow",
        {
            "pytest.ini": "[pytest]\n",
            "test_slow.py": "import time\n\ndef test_a():\n    pass\n\ndef test_b():\n"
            "    time.sleep(60)\n\ndef test_c():\n    pass\n",
        },
    )
    started = await call(core, "test.run", {"cwd": str(root)})
    tm = await core.terminals()
    # wait until pytest is inside test_b (its output shows the first dot)
    for _ in range(200):
        if "test_slow.py ." in await tm.capture(started["pane"]):
            break
        await asyncio.sleep(0.05)
    summary = await call(core, "test.cancel", {"run_id": started["run_id"]})
    assert summary["state"] == "cancelled", summary
    res = await call(core, "test.results", {"run_id": started["run_id"]})
    assert res["passed"] == 1 and res["failed"] == 0, res["tests"]  # test_a ran; test_c never did


async def test_a_killed_pytest_is_killed_and_says_so(core: Core, tmp_path: Path) -> None:
    root = write(
        tmp_path / "killed",
        {
            "pytest.ini": "[pytest]\n",
            "test_kill.py": "import os, signal\n\ndef test_dies():\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n",
        },
    )
    res = await run_to_end(core, {"cwd": str(root)})
    assert res["state"] == "killed", res
    assert res["message"] == (
        "pytest was killed (exit code 137) before it finished; the counts are the 0 results"
        " it reported before"
    )
    assert res["exit_code"] == 137


async def test_pytest_not_installed_is_a_clear_error(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "novenv", {"pytest.ini": "[pytest]\n", "test_a.py": ""})
    venv = [sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")]
    await asyncio.to_thread(subprocess.run, venv, check=True)
    ok, err = await dispatch(core, "test.run", {"cwd": str(root)})
    assert not ok and "pytest is not installed" in err["message"]
    assert str(root / ".venv" / "bin" / "python") in err["message"]


async def test_bad_input_names_the_value(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "suite", PYTEST_SUITE)
    cases = [
        ({"cwd": str(root), "framework": "nose"}, "unknown framework 'nose'"),
        ({"cwd": str(root), "line": 3}, "line 3 needs a file"),
        ({"file": str(root / "missing.py")}, "missing.py"),
        ({"file": str(root / "pytest.ini")}, "no test framework runs .ini files"),
        ({"cwd": str(tmp_path / "empty-not-there")}, "empty-not-there"),
        ({"cwd": str(root), "framework": "go"}, "no go suite found"),
    ]
    for params, needle in cases:
        ok, err = await dispatch(core, "test.run", params)
        assert not ok and needle in err["message"], (params, err)
    ok, err = await dispatch(core, "test.results", {"run_id": "r-nope"})
    assert not ok and "r-nope" in err["message"]


async def test_a_makefile_target_reports_its_exit_code_and_no_counts(
    core: Core, tmp_path: Path
) -> None:
    root = write(tmp_path / "mk", {"Makefile": "check:\n\t@echo checking\n\t@exit 3\n"})
    res = await run_to_end(core, {"cwd": str(root)})
    assert (res["framework"], res["state"], res["exit_code"]) == ("make", "failed", 2)
    assert res["passed"] is None and res["tests"] == []
    assert "make reports no counts" in res["message"]
    write(root, {"Makefile": "test:\n\t@true\ncheck:\n\t@false\n"})
    res = await run_to_end(core, {"cwd": str(root)})
    assert (res["command"], res["state"]) == ("make test", "passed")
    ok, err = await dispatch(core, "test.run", {"cwd": str(root), "filter": "x"})
    assert not ok and "cannot run a filter" in err["message"]


async def test_a_file_below_the_root_runs_from_the_root(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "suite", PYTEST_SUITE)
    res = await run_to_end(core, {"file": str(root / "sub" / "test_more.py"), "line": 2})
    assert res["root"] == str(root) and res["selection"] == "sub/test_more.py::test_sub"
    assert (res["state"], res["passed"]) == ("passed", 1)


async def test_teardown_errors_and_xpasses_count_as_pytest_counts_them(
    core: Core, tmp_path: Path
) -> None:
    root = write(tmp_path / "edge", {
        "pytest.ini": "[pytest]\n",
        "test_edge.py": "import pytest\n\n\n@pytest.fixture\ndef bad():\n    yield\n"
                        "    raise RuntimeError('teardown broke')\n\n\ndef test_ok_then_bad(bad):\n"
                        "    pass\n\n\n@pytest.mark.xfail(reason='maybe')\ndef test_xpass():\n"
                        "    pass\n",
    })  # fmt: skip
    res = await run_to_end(core, {"cwd": str(root)})
    assert ours(res) == plural(pytest_summary(root)) == {"passed": 1, "xpassed": 1, "error": 1}
    err = next(t for t in res["tests"] if t["status"] == "error")
    assert "teardown broke" in err["message"] and err["line"] == 7


async def test_a_suite_killed_mid_run_keeps_what_ran_and_is_not_a_success(
    core: Core, tmp_path: Path
) -> None:
    root = write(
        tmp_path / "midkill",
        {
            "pytest.ini": "[pytest]\n",
            "test_mid.py": "import os, signal\n\ndef test_a():\n    pass\n\n"
            "def test_b():\n    assert False, 'b fails'\n\ndef test_c():\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n\ndef test_d():\n    pass\n",
        },
    )
    res = await run_to_end(core, {"cwd": str(root)})
    assert (res["state"], res["passed"], res["failed"]) == ("killed", 1, 1), res
    assert [t["name"] for t in res["tests"]] == ["test_a", "test_b"]
    assert "the 2 results it reported before" in res["message"]


async def test_xdist_runs_count_as_pytests_summary(core: Core, tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is in the test extra (pyproject.toml)")
    files = dict(PYTEST_SUITE)
    files["pytest.ini"] = "[pytest]\naddopts = -n 2 -p no:randomly\n"
    root = write(tmp_path / "xdist", files)
    res = await run_to_end(core, {"cwd": str(root)})
    want = await asyncio.to_thread(pytest_summary, root)
    assert ours(res) == plural(want)
    assert (res["passed"], res["failed"]) == (6, 3)
    tm = await core.terminals()
    shown = await tm.capture(res["pane"], lines=2000)
    assert "2 workers [11 items]" in shown, shown  # xdist ran it in parallel
    by_id = {t["id"]: t for t in res["tests"]}
    assert by_id["test_mixed.py::test_fails"]["line"] == 11
    assert by_id["test_mixed.py::test_größe[fail-\\xdf]"]["status"] == "failed"


async def test_ten_thousand_tests_count_as_pytests_summary(core: Core, tmp_path: Path) -> None:
    body = (
        "import pytest\n\n@pytest.mark.parametrize('n', range(9990))\ndef test_many(n):\n"
        "    assert n % 2500 != 7\n\n"
        "@pytest.mark.parametrize('w', list('ßäöüéñçøåæ'))\n"
        "def test_greek(w):\n    assert w\n"
    )
    root = write(tmp_path / "big", {"pytest.ini": "[pytest]\n", "test_big.py": body})
    res = await run_to_end(core, {"cwd": str(root)})
    want = await asyncio.to_thread(pytest_summary, root)
    assert ours(res) == plural(want) == {"passed": 9996, "failed": 4}
    assert len(res["tests"]) == 10_000
    assert res["state"] == "failed"
