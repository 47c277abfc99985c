"""File listing through the real ripgrep, and its cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.files.finder import FileIndex, list_files


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for rel in ("a.py", "src/b.py", "src/c.lua", "build/out.o", "notes.log", ".env", "x y.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / ".gitignore").write_text("build/\n*.log\n")
    return root


async def test_gitignore_hidden_and_globs(tree: Path) -> None:
    listed = await list_files(tree)
    assert listed.paths == ["a.py", "src/b.py", "src/c.lua", "x y.txt"]
    assert listed.errors == ()
    hidden = await list_files(tree, hidden=True)
    assert ".env" in hidden.paths and ".gitignore" in hidden.paths
    assert "build/out.o" not in hidden.paths
    assert (await list_files(tree, include=["*.py"])).paths == ["a.py", "src/b.py"]
    assert (await list_files(tree, exclude=["src/**"])).paths == ["a.py", "x y.txt"]
    with pytest.raises(InvalidArgumentError):
        await list_files(tree, include="*.py")  # a bare string is a likely mistake


async def test_cache_until_invalidated(tree: Path) -> None:
    index = FileIndex(max_age_s=60)
    first = await index.files(tree)
    (tree / "new.py").write_text("x")
    assert await index.files(tree) is first  # cached
    index.invalidate(tree)
    assert "new.py" in (await index.files(tree)).paths
    (tree / "newer.py").write_text("x")
    assert "newer.py" in (await index.files(tree, refresh=True)).paths


async def test_concurrent_askers_share_one_run(tree: Path) -> None:
    import asyncio

    index = FileIndex()
    a, b = await asyncio.gather(index.files(tree), index.files(tree))
    assert a is b
