"""Search-and-replace preview against the real ripgrep."""

from __future__ import annotations

from pathlib import Path

from orchflow_core.search import Hunk, SearchOptions, replace_preview


async def test_regex_replacement_with_groups(project: Path) -> None:
    before = (project / "a.py").read_text()
    preview = await replace_preview(
        project, r"hel(l)o (\w+)", "${2}_$1", SearchOptions(case="sensitive")
    )
    assert [f.path for f in preview.files] == ["a.py", "sub/b.txt"]
    a = preview.files[0]
    assert a.replacements == 1
    assert a.hunks == (Hunk(2, 3, ("again_l",)),)
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
    assert f.hunks == (Hunk(0, 1, ("cost $1 $$",)), Hunk(2, 3, ("no newline $1 $$",)))
    assert "\\ No newline at end of file" in f.diff


async def test_no_match_means_no_files(project: Path) -> None:
    preview = await replace_preview(project, "zzz_nothing", "y")
    assert preview.files == () and preview.replacements == 0
