"""Frecency: decayed counts, atomic persistence in a real file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orchflow_core.files.frecency import FrecencyIndex

DAY = 86400.0


def test_opens_add_up_and_decay(tmp_path: Path) -> None:
    f = FrecencyIndex(tmp_path / "f.json", half_life_s=DAY)
    f.record_open("a.py", now=0)
    f.record_open("a.py", now=0)
    f.record_open("b.py", now=DAY)
    assert f.score("a.py", now=DAY) == pytest.approx(1.0)  # 2 opens, one half-life ago
    assert f.score("b.py", now=DAY) == pytest.approx(1.0)
    assert f.score("never.py", now=DAY) == 0.0
    f.record_open("c.py", now=2 * DAY)
    assert [p for p, _ in f.top(1, now=2 * DAY)] == ["c.py"]


def test_persisted_atomically_and_reloaded(tmp_path: Path) -> None:
    file = tmp_path / "state" / "f.json"
    f = FrecencyIndex(file)
    f.record_open("x/y.py", now=100.0)
    f.rename("x", "z")
    assert sorted(p.name for p in file.parent.iterdir()) == ["f.json"]  # no temp left
    again = FrecencyIndex(file)
    assert again.score("z/y.py", now=100.0) == pytest.approx(1.0)
    assert again.score("x/y.py", now=100.0) == 0.0


def test_for_project_separates_roots(tmp_path: Path) -> None:
    a = FrecencyIndex.for_project(tmp_path, tmp_path / "a")
    b = FrecencyIndex.for_project(tmp_path, tmp_path / "b")
    a.record_open("f.py")
    assert a.file != b.file and len(FrecencyIndex(b.file)) == 0


def test_damaged_file_starts_empty_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "f.json"
    file.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        f = FrecencyIndex(file)
    assert len(f) == 0 and "unreadable" in caplog.text
    f.record_open("a")
    assert len(FrecencyIndex(file)) == 1


def test_max_entries_keeps_the_best(tmp_path: Path) -> None:
    f = FrecencyIndex(None, max_entries=2)
    for name, n in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(n):
            f.record_open(name, now=0)
    assert {p for p, _ in f.top(5, now=0)} == {"a", "c"}


def test_the_index_dir_and_its_missing_parents_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    index = FrecencyIndex.for_project(state, tmp_path)
    index.record_open("a.py")
    assert index.file is not None and index.file.exists()
    for d in (state, state / "frecency"):
        assert d.stat().st_mode & 0o777 == 0o700, d
