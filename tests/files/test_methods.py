"""files.* and search.* methods through api.dispatch on a real Core."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import orchflow_core.files.methods  # registers files.*
import orchflow_core.search.methods  # noqa: F401 - registers search.*
from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.events import Event


@pytest.fixture
def core(isolated: Path, tmp_path: Path) -> Iterator[Core]:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "src" / "main.py").write_text("def main():\n    return 'hello'\n")
    (root / "README.md").write_text("hello readme\n")
    c = Core()
    c.project_root = root  # type: ignore[attr-defined]
    c.state_dir = tmp_path / "state"  # type: ignore[attr-defined]
    yield c


async def call(core: Core, method: str, **params: Any) -> Any:
    ok, result = await dispatch(core, method, params)
    assert ok, result
    return result


async def test_file_ops_list_and_trash(core: Core) -> None:
    changed: list[Event] = []
    core.events.subscribe(changed.append, ["files.changed"])
    listed = await call(core, "files.list")
    assert listed["files"] == ["README.md", "src/main.py"] and listed["total"] == 2
    assert (await call(core, "files.create", path="src/util.py", content="x = 1\n"))["path"] == (
        "src/util.py"
    )
    assert "src/util.py" in (await call(core, "files.list"))["files"]  # cache was dropped
    assert (await call(core, "files.rename", path="src/util.py", name="tools.py"))["path"] == (
        "src/tools.py"
    )
    await call(core, "files.copy", path="src/tools.py", to="lib/tools.py")
    await call(core, "files.move", path="lib/tools.py", to="lib/moved.py")
    deleted = await call(core, "files.delete", path="lib")
    assert deleted["path"] == "lib" and deleted["kind"] == "dir"
    trash = await call(core, "files.trash")
    assert [e["id"] for e in trash["entries"]] == [deleted["id"]]
    assert (await call(core, "files.restore", id=deleted["id"]))["path"] == "lib"
    assert (Path(core.project_root) / "lib" / "moved.py").read_text() == "x = 1\n"  # type: ignore[attr-defined]
    assert [e.data["op"] for e in changed] == [
        "create", "rename", "copy", "move", "delete", "restore",
    ]  # fmt: skip


async def test_errors_come_back_as_error_dicts(core: Core) -> None:
    ok, err = await dispatch(core, "files.create", {"path": "../escape.txt"})
    assert not ok and err["code"] == -32007 and "../escape.txt" in err["message"]
    ok, err = await dispatch(core, "files.create", {"path": "README.md"})
    assert not ok and err["code"] == -32006 and "README.md already exists" in err["message"]


async def test_ranked_list_with_frecency(core: Core) -> None:
    ranked = await call(core, "files.list", query="main")
    assert ranked["files"][0]["path"] == "src/main.py"
    assert ranked["files"][0]["positions"] == [4, 5, 6, 7]
    await call(core, "files.record_open", path="README.md")
    await call(core, "files.record_open", path="README.md")
    empty = await call(core, "files.list", query="")
    assert empty["files"][0]["path"] == "README.md"


async def test_search_streams_events_and_returns_summary(core: Core) -> None:
    events: list[Event] = []
    core.events.subscribe(events.append, ["search.results"])
    summary = await call(core, "search.project", pattern="hello", search_id="s1")
    assert summary["search_id"] == "s1" and summary["match_count"] == 2
    assert all(e.data["search_id"] == "s1" for e in events)
    assert events[-1].data["done"] is True and events[-1].data["summary"] == summary
    streamed = [m for e in events for m in e.data["matches"]]
    assert sorted((m["path"], m["line"]) for m in streamed) == [
        ("README.md", 1),
        ("src/main.py", 2),
    ]
    assert events[0].data["done"] is False and len(events[0].data["matches"]) == 1


async def test_search_errors_and_replace_preview(core: Core) -> None:
    events: list[Event] = []
    core.events.subscribe(events.append, ["search.results"])
    ok, err = await dispatch(core, "search.project", {"pattern": "(", "search_id": "bad"})
    assert not ok and err["code"] == -32602 and "regex parse error" in err["message"]
    assert events[-1].data["done"] is True and "regex parse error" in events[-1].data["error"]
    preview = await call(core, "search.replace_preview", pattern="hello", replacement="bye")
    assert [f["path"] for f in preview["files"]] == ["README.md", "src/main.py"]
    assert preview["files"][0]["hunks"] == [
        {"start": 0, "end": 1, "old": ["hello readme"], "lines": ["bye readme"]}
    ]
    assert (await call(core, "search.cancel", search_id="none"))["cancelled"] is False
