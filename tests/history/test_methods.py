"""history.* methods through api.dispatch, the choke point the host and JSON-RPC use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import orchflow_core.history.methods  # noqa: F401  (registers history.*)
from orchflow_core.api import METHODS, dispatch
from orchflow_core.core import Core
from orchflow_core.history import HistoryStore
from orchflow_core.store import Database


@pytest.fixture
async def core(isolated: Path, tmp_path: Path) -> AsyncIterator[Core]:
    core = Core()
    async with await Database.open(tmp_path / "orchflow.db") as db:
        core.history = await HistoryStore.open(db)  # type: ignore[attr-defined]
        yield core
    await core.close()


def test_methods_are_registered() -> None:
    names = set(METHODS.names())
    assert {
        f"history.{m}" for m in ("add", "search", "top", "suggest", "import", "export", "prune")
    } <= names


async def test_add_top_suggest_search(core: Core) -> None:
    params = {"command": "git status", "cwd": "/r", "pane_type": "shell", "exit_code": 0}
    ok, added = await dispatch(core, "history.add", {**params, "duration_s": 0.2})
    assert ok and isinstance(added["id"], int)
    await dispatch(core, "history.add", {"command": "git push", "exit_code": 1})
    ok, top = await dispatch(core, "history.top", {})
    assert ok and [r["command"] for r in top] == ["git status", "git push"]
    assert set(top[0]) == {
        "command",
        "frecency",
        "score",
        "runs",
        "failures",
        "last_ts",
        "last_exit_code",
    }
    ok, top_here = await dispatch(core, "history.top", {"n": 5, "cwd": "/r"})
    assert ok and [r["command"] for r in top_here] == ["git status"]
    ok, suggested = await dispatch(core, "history.suggest", {"prefix": "git p"})
    assert ok and [r["command"] for r in suggested] == ["git push"]
    ok, found = await dispatch(core, "history.search", {"query": "gsts", "limit": 3})
    assert ok and [r["command"] for r in found] == ["git status"]


async def test_import_export_prune(core: Core, tmp_path: Path) -> None:
    zsh = tmp_path / ".zsh_history"
    zsh.write_bytes(b": 1700000000:0;ls\n: 12x:0;bad\n")
    ok, report = await dispatch(core, "history.import", {"path": str(zsh)})
    assert ok and report == {"format": "zsh", "imported": 1, "skipped": 1, "duplicates": 0}
    out = tmp_path / "out.json"
    ok, exported = await dispatch(core, "history.export", {"path": str(out)})
    assert ok and exported == {"exported": 1, "path": str(out)}
    ok, back = await dispatch(core, "history.import", {"path": str(out), "format": "json"})
    assert ok and back == {"format": "json", "imported": 0, "skipped": 0, "duplicates": 1}
    ok, pruned = await dispatch(core, "history.prune", {"older_than_days": 1})
    assert ok and pruned == {"removed": 1}


async def test_errors_are_structured(core: Core, tmp_path: Path) -> None:
    ok, error = await dispatch(core, "history.add", {"command": 3})
    assert not ok and error["code"] == -32602
    assert error["message"] == "parameter 'command' must be str, got int"
    ok, error = await dispatch(core, "history.top", {"n": 0})
    assert not ok and error["message"] == "n must be an int in 1..1000, got 0"
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    ok, error = await dispatch(core, "history.import", {"path": str(bad)})
    assert (
        not ok
        and error["code"] == -32602
        and "bad.json: not valid JSON at line 1" in error["message"]
    )


async def test_history_opens_on_first_need(isolated: Path) -> None:
    core = Core()  # not started: the first history call opens the state DB itself
    ok, rows = await dispatch(core, "history.top", {})
    assert ok and rows == []
    await core.close()


async def test_an_unusable_state_dir_is_named(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = isolated / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("ORCHFLOW_STATE_DIR", str(blocker))
    core = Core()
    ok, error = await dispatch(core, "history.top", {})
    assert not ok and str(blocker) in error["message"]
    await core.close()
