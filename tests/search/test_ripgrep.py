"""Project search against the real ripgrep on real files."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchflow_core.errors import InvalidArgumentError, TimeoutError_, UnavailableError
from orchflow_core.search import Match, SearchOptions, search
from tests.search.conftest import git_init, rg_children
from tests.search.treegen import NEEDLE, make_tree


async def lines_of(root: Path, pattern: str, **opts: object) -> set[tuple[str, int]]:
    summary = await search(root, pattern, SearchOptions(**opts))  # type: ignore[arg-type]
    return {(m.path, m.line) for m in summary.matches}


async def test_match_fields_and_summary(project: Path) -> None:
    summary = await search(project, "hello", SearchOptions(case="sensitive"))
    by_path = {(m.path, m.line): m for m in summary.matches}
    assert set(by_path) == {("a.py", 3), ("a.py", 4), ("sub/b.txt", 3)}
    m = by_path[("a.py", 4)]
    assert m.text == "say helloworld"
    assert m.column == 5
    assert m.submatches == ((4, 9),)
    assert summary.match_count == 3
    assert summary.files_with_matches == 2
    assert not summary.truncated and not summary.cancelled and summary.errors == ()


async def test_case_modes(project: Path) -> None:
    smart_lower = await lines_of(project, "hello")
    assert ("a.py", 2) in smart_lower  # "Hello world": lower-case pattern ignores case
    assert await lines_of(project, "Hello") == {("a.py", 2)}  # upper case: sensitive
    assert ("a.py", 2) not in await lines_of(project, "hello", case="sensitive")
    assert ("a.py", 3) in await lines_of(project, "HELLO", case="insensitive")


async def test_whole_word(project: Path) -> None:
    found = await lines_of(project, "hello", whole_word=True)
    assert ("a.py", 4) not in found  # "helloworld"
    assert ("a.py", 3) in found


async def test_literal_versus_regex(project: Path) -> None:
    assert await lines_of(project, "a.c", literal=True) == {("sub/c.md", 1)}
    regex = await search(project, "a.c")
    assert [m.submatches for m in regex.matches] == [((0, 3), (8, 11))]  # "a.c" and "abc"
    literal = await search(project, "a.c", SearchOptions(literal=True))
    assert [m.submatches for m in literal.matches] == [((0, 3),)]


async def test_include_exclude_globs(project: Path) -> None:
    assert {p for p, _ in await lines_of(project, "hello", include=("*.py",))} == {"a.py"}
    assert {p for p, _ in await lines_of(project, "hello", exclude=("*.py",))} == {"sub/b.txt"}
    # excludes win over includes
    assert await lines_of(project, "hello", include=("*.py",), exclude=("a.py",)) == set()


async def test_hidden_and_gitignore(project: Path) -> None:
    plain = {p for p, _ in await lines_of(project, "hello")}
    assert ".hidden.txt" not in plain and "ignored/x.txt" not in plain
    hidden = {p for p, _ in await lines_of(project, "hello", hidden=True)}
    assert ".hidden.txt" in hidden and "ignored/x.txt" not in hidden


async def test_binary_files_are_skipped(project: Path) -> None:
    summary = await search(project, "binary")
    assert summary.matches == () and summary.match_count == 0


async def test_context_lines(project: Path) -> None:
    summary = await search(project, "hello from b", SearchOptions(context=2))
    (m,) = summary.matches
    assert m.context_before == ("one", "two")
    assert m.context_after == ("three", "four")
    both = await search(project, "hello", SearchOptions(context=1, include=("a.py",)))
    by_line = {m.line: m for m in both.matches}
    assert by_line[2].context_before == ("import os",)
    assert by_line[2].context_after == ("hello again",)  # a matching line is context too
    assert by_line[4].context_before == ("hello again",)


async def test_invalid_regex_carries_ripgreps_message(project: Path) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        await search(project, "foo(bar")
    assert "invalid pattern 'foo(bar'" in err.value.message
    assert "regex parse error" in err.value.message and "unclosed group" in err.value.message


async def test_invalid_glob_and_options(project: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="glob"):
        await search(project, "x", SearchOptions(include=("{a",)))
    with pytest.raises(InvalidArgumentError, match="pattern must be a non-empty string"):
        await search(project, "")


async def test_missing_rg_is_unavailable(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match=r"ripgrep \(rg\) not found: .*nope"):
        await search(project, "x", rg_path=tmp_path / "nope")


async def test_dangling_link_is_reported_and_search_goes_on(project: Path) -> None:
    (project / "broken").symlink_to(project / "missing-target")
    summary = await search(project, "hello", SearchOptions(follow=True))
    assert any(e.startswith("broken: ") for e in summary.errors), summary.errors
    assert summary.match_count >= 3


@pytest.fixture
def locked_tree() -> Iterator[tuple[Path, Path]]:
    """A world-readable tree with a chmod-000 dir, and an ``rg`` wrapper that runs as nobody.

    Root reads everything, so only a non-root ripgrep (via setpriv) meets the locked dir.
    """
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run ripgrep as nobody")
    base = Path(tempfile.mkdtemp(prefix="orchflow-perm-"))
    base.chmod(0o755)
    git_init(base)
    (base / "open.txt").write_text("hello open\n")
    (base / "locked").mkdir()
    (base / "locked" / "secret.txt").write_text("hello secret\n")
    (base / "locked").chmod(0)
    wrapper = base / "rg-as-nobody"
    rg = Path(sys.executable).parent / "rg"
    wrapper.write_text(
        f'#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups {rg} "$@"\n'
    )
    wrapper.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    yield base, wrapper
    (base / "locked").chmod(0o755)
    shutil.rmtree(base)


async def test_unreadable_directory_is_reported_and_search_goes_on(
    locked_tree: tuple[Path, Path],
) -> None:
    base, wrapper = locked_tree
    summary = await search(base, "hello", rg_path=wrapper)
    assert [m.path for m in summary.matches] == ["open.txt"]
    assert any("locked" in e and "Permission denied" in e for e in summary.errors)


async def test_max_results_stops_ripgrep(tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_text("hit\n" * 5000)
    summary = await search(tmp_path, "hit", SearchOptions(max_results=7))
    assert summary.match_count == 7 and len(summary.matches) == 7
    assert summary.truncated
    assert rg_children() == []


async def test_streams_in_batches_first_one_alone(tmp_path: Path) -> None:
    stats = make_tree(tmp_path, files=300, lines_per_file=40, needle_every=7)
    batches: list[list[Match]] = []
    summary = await search(tmp_path, NEEDLE, on_batch=batches.append, batch_interval_ms=1)
    assert len(batches) > 1
    assert len(batches[0]) == 1
    assert sum(map(len, batches)) == summary.match_count == stats.needle_lines
    assert summary.matches == ()  # delivered through on_batch instead
    assert summary.first_batch_ms is not None and summary.first_batch_ms <= summary.elapsed_ms
    paths = {m.path for b in batches for m in b}
    assert not any(p.startswith("build/") or p.endswith(".bin") for p in paths)


async def test_cancelling_the_task_kills_ripgrep(tmp_path: Path) -> None:
    # More output than a pipe holds: ripgrep blocks writing until we read, so it is alive.
    (tmp_path / "big.txt").write_text("needle here\n" * 200_000)
    first = asyncio.Event()
    task = asyncio.create_task(
        search(tmp_path, "needle", SearchOptions(max_results=None), on_batch=lambda b: first.set())
    )
    await asyncio.wait_for(first.wait(), 10)
    assert len(rg_children()) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rg_children() == []


async def test_stop_event_ends_search_with_cancelled_summary(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("needle here\n" * 200_000)
    stop = asyncio.Event()
    summary = await search(
        tmp_path,
        "needle",
        SearchOptions(max_results=None),
        on_batch=lambda b: stop.set(),
        stop=stop,
    )
    assert summary.cancelled and not summary.truncated
    assert 0 < summary.match_count < 200_000
    assert rg_children() == []


async def test_timeout_kills_ripgrep(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("needle here\n" * 200_000)
    with pytest.raises(TimeoutError_, match="took longer than"):
        await search(tmp_path, "needle", SearchOptions(max_results=None), timeout=0.001)
    assert rg_children() == []
