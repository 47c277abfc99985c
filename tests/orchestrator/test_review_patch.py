"""orchestrator/review/patch.py and landing.outside on real bytes and real directories: a
hunk's two sides (CRLF, "\\ No newline at end of file"), found at its line or the nearest
offset, never with a line missing; a path behind a symlink that leads out."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.review import landing, patch
from orchflow_core.git.parse import parse_diff
from tests.git.test_methods import git, make_repo


def one_hunk(repo: Path, name: str, before: bytes, after: bytes) -> patch.Sides:
    (repo / name).write_bytes(before)
    git(repo, "add", name)
    (repo / name).write_bytes(after)
    [f] = parse_diff(git(repo, "diff", "--src-prefix=a/", "--dst-prefix=b/"), staged=False)
    git(repo, "checkout", "--", name)
    return patch.sides(f.hunks[0])


def test_sides_keep_crlf_and_a_missing_final_newline(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    s = one_hunk(repo, "a.txt", b"one\r\ntwo\r\nend", b"one\r\nTWO\r\nend!")
    assert s.old == [b"one\r\n", b"two\r\n", b"end"]
    assert s.new == [b"one\r\n", b"TWO\r\n", b"end!"]
    lines = patch.split_lines(b"one\r\ntwo\r\nend")
    pos = patch.locate(lines, s.old, 0)
    assert pos == 0
    assert patch.splice(lines, pos, len(s.old), s.new) == b"one\r\nTWO\r\nend!"


def test_locate_prefers_the_nearest_offset_and_never_fuzzes() -> None:
    lines = [b"x\n", b"a\n", b"b\n", b"x\n", b"x\n", b"a\n", b"b\n"]
    assert patch.locate(lines, [b"a\n", b"b\n"], 4) == 5  # nearer than 1
    assert patch.locate(lines, [b"a\n", b"b\n"], 2) == 1
    assert patch.locate(lines, [b"a\n", b"c\n"], 1) is None
    assert patch.locate([], [], 0) == 0 and patch.locate([b"x\n"], [], 0) is None


def test_a_path_behind_a_symlink_that_leads_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "out")
    os.symlink(root / "src", root / "inside")
    assert landing.outside(root, "out/secret.txt")
    assert not landing.outside(root, "inside/a.py")
    assert not landing.outside(root, "src/a.py") and not landing.outside(root, "top.txt")
