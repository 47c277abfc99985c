"""Search-and-replace preview against the real ripgrep."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.search import Hunk, SearchOptions, replace_preview
from orchflow_core.search.replace import buffer_lines, line_hunks


class Stale(Exception):
    pass


def apply(lines: list[str], hunks: tuple[Hunk, ...]) -> list[str]:
    """What search.lua's apply does with a file's lines: check every hunk, then write bottom-up."""
    for h in hunks:
        if lines[h.start : h.end] != list(h.old):
            raise Stale(h.start + 1)
    out = list(lines)
    for h in reversed(hunks):
        out[h.start : h.end] = h.lines
    return out


async def test_regex_replacement_with_groups(project: Path) -> None:
    before = (project / "a.py").read_text()
    preview = await replace_preview(
        project, r"hel(l)o (\w+)", "${2}_$1", SearchOptions(case="sensitive")
    )
    assert [f.path for f in preview.files] == ["a.py", "sub/b.txt"]
    a = preview.files[0]
    assert a.replacements == 1
    assert a.hunks == (Hunk(2, 3, ("hello again",), ("again_l",)),)
    assert a.diff.splitlines() == [
        "--- a/a.py",
        "+++ b/a.py",
        "@@ -1,4 +1,4 @@",
        " import os",
        " Hello world",
        "-hello again",
        "+again_l",
        " say helloworld",
    ]
    assert (project / "a.py").read_text() == before  # a preview writes nothing
    assert preview.replacements == 2 and not preview.truncated


async def test_literal_replacement_is_taken_as_is(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("cost a.b\nab\nno newline a.b")
    preview = await replace_preview(tmp_path, "a.b", "$1 $$", SearchOptions(literal=True))
    (f,) = preview.files
    assert f.replacements == 2
    assert f.hunks == (
        Hunk(0, 1, ("cost a.b",), ("cost $1 $$",)),
        Hunk(2, 3, ("no newline a.b",), ("no newline $1 $$",)),
    )
    assert "\\ No newline at end of file" in f.diff


async def test_no_match_means_no_files(project: Path) -> None:
    preview = await replace_preview(project, "zzz_nothing", "y")
    assert preview.files == () and preview.replacements == 0


async def test_hunks_carry_the_old_lines_and_a_changed_file_no_longer_fits(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("keep\nold one\nkeep\nold two\n")
    (f,) = (await replace_preview(tmp_path, "old", "new")).files
    assert [h.to_dict() for h in f.hunks] == [
        {"start": 1, "end": 2, "old": ["old one"], "lines": ["new one"]},
        {"start": 3, "end": 4, "old": ["old two"], "lines": ["new two"]},
    ]
    lines = buffer_lines((tmp_path / "f.txt").read_text())
    assert apply(lines, f.hunks) == ["keep", "new one", "keep", "new two"]
    # an agent adds a line at the top after the preview: every hunk is now one line off
    with_header = ["# header", *lines]
    try:
        apply(with_header, f.hunks)
    except Stale as exc:
        assert exc.args == (2,)
    else:
        raise AssertionError("a shifted file must not take the hunks")
    edited = ["keep", "old one, edited", "keep", "old two"]
    try:
        apply(edited, f.hunks)
    except Stale as exc:
        assert exc.args == (2,)
    else:
        raise AssertionError("an edited line must not be replaced")


async def test_a_replacement_that_adds_lines_is_anchored_on_old_text(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x = 1\nmarker\ny = 2\n")
    (f,) = (await replace_preview(tmp_path, "^marker$", "marker\nextra")).files
    # difflib sees a pure insertion after "marker"; the hunk takes "marker" along
    assert f.hunks == (Hunk(1, 2, ("marker",), ("marker", "extra")),)
    (tmp_path / "g.txt").write_text("marker\ny = 2\n")
    (g,) = (
        await replace_preview(
            tmp_path, "^marker$", "top\nmarker", SearchOptions(include=("g.txt",))
        )
    ).files
    assert g.hunks == (Hunk(0, 1, ("marker",), ("top", "marker")),)


def test_insertions_on_both_sides_of_one_line_become_one_hunk() -> None:
    assert line_hunks("b\n", "a\nb\na\n") == (Hunk(0, 1, ("b",), ("a", "b", "a")),)


def test_crlf_files_are_compared_as_neovim_shows_them() -> None:
    old, new = "a\r\nfoo\r\nb\r\n", "a\r\nbar\r\nb\r\n"
    assert line_hunks(old, new) == (Hunk(1, 2, ("foo",), ("bar",)),)


lines_st = st.lists(st.sampled_from(["a", "b", "c", "", "a b"]), max_size=12)


@given(lines_st, lines_st)
def test_hunks_always_have_old_text_fit_the_old_file_and_make_the_new(
    old: list[str], new: list[str]
) -> None:
    hunks = line_hunks("".join(x + "\n" for x in old), "".join(x + "\n" for x in new))
    if old:
        assert all(h.old for h in hunks)  # nothing is written without something to check
    assert all(h.old == tuple(old[h.start : h.end]) for h in hunks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(hunks))
    assert apply(old, hunks) == new
