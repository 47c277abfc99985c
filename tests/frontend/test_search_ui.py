""":Orchflow search in a real headless Neovim over real ripgrep and real files.

What is asserted is what the user sees: the picker's rows and titles, the preview, the
buffer and cursor after <CR>, the quickfix list, the files on disk after a replace and
the buffer text after :undo. vim.ui.input is answered by a scripted function because a
headless Neovim has no one to type into its command-line prompt; the rest is real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "b").mkdir(parents=True)
    (root / "a.py").write_text("def foo():\n    return foobar\n")
    (root / "b" / "c.txt").write_text("foo bar\nnothing here\nfoo baz\n")
    (root / "b" / "d.md").write_text("# notes\nno match\n")
    return root


@pytest.fixture
def ed(editor: Editor, project: Path) -> Editor:
    editor.cmd("cd " + str(project))
    editor.capture_notify()
    return editor


def float_by_title(editor: Editor, pattern: str) -> dict[str, Any] | None:
    for f in editor.floats():
        if f["title"] and re.search(pattern, f["title"]):
            return f
    return None


def wait_float(
    editor: Editor, title: str, line: str | None = None, timeout: float = 8.0
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        f = float_by_title(editor, title)
        if f is None:
            return None
        if line is not None and not any(re.search(line, text) for text in f["lines"]):
            return None
        return f

    try:
        return editor.wait_until(ready, timeout=timeout)
    except AssertionError:
        raise AssertionError(
            f"no float {title!r} with {line!r}; floats: {editor.floats()}"
        ) from None


def answer_input(editor: Editor, *answers: str) -> None:
    """Script the user's answers to vim.ui.input prompts (recorded in _G.__prompts)."""
    editor.lua(
        """_G.__answers, _G.__prompts = {...}, {}
        vim.ui.input = function(opts, cb)
          table.insert(_G.__prompts, opts.prompt)
          cb(table.remove(_G.__answers, 1))
        end""",
        *answers,
    )


def results(editor: Editor, title: str) -> list[str]:
    """Rows of the results float (its title is the count, e.g. '3 · 3 matches in 2 files')."""
    f = wait_float(editor, title)
    return [line for line in f["lines"] if line]


def test_results_stream_in_filter_preview_and_open(ed: Editor) -> None:
    ed.cmd("Orchflow search foo")
    assert wait_float(ed, r"search: foo")
    status = wait_float(ed, r"in \d+ files?")
    assert "4 matches in 2 files" in status["title"]
    rows = results(ed, "in .* files?")
    assert sorted(rows) == [
        "a.py:1:5: def foo():",
        "a.py:2:12: return foobar",  # leading blanks dropped, column kept
        "b/c.txt:1:1: foo bar",
        "b/c.txt:3:1: foo baz",
    ]
    # typing narrows the streamed results
    ed.nv.input("baz")
    narrowed = ed.wait_until(
        lambda: (r := results(ed, "in .* files?")) == ["b/c.txt:3:1: foo baz"] and r
    )
    assert narrowed
    assert "1 / 4" in wait_float(ed, "in .* files?")["title"]
    # the preview shows the file around the match
    preview = wait_float(ed, "preview", r"^nothing here$")
    assert preview["lines"][:3] == ["foo bar", "nothing here", "foo baz"]
    ed.nv.input("<CR>")
    ed.wait_until(lambda: ed.lua("return vim.api.nvim_buf_get_name(0)").endswith("b/c.txt"))
    assert ed.lua("return vim.api.nvim_win_get_cursor(0)") == [3, 0]
    assert float_by_title(ed, "search") is None


def test_screen_shows_prompt_results_and_keys(ed: Editor) -> None:
    ed.cmd("Orchflow search nothing")
    wait_float(ed, "1 match", "b/c.txt")
    screen = ed.screen_text()
    assert "search: nothing" in screen
    assert "b/c.txt:2:1: nothing here" in screen
    assert "<CR> open  <Esc> close" in screen
    ed.nv.input("<Esc>")
    ed.cmd("set columns=200")  # a wider editor shows every key
    ed.cmd("Orchflow search nothing")
    wait_float(ed, "1 match", "b/c.txt")
    footer = ed.screen_text()
    for hint in ("<C-j>/<C-k> move", "<C-q> quickfix", "<C-r> replace"):
        assert hint in footer
    ed.nv.input("<Esc>")
    ed.wait_until(lambda: not ed.floats())


def test_options_case_word_and_globs(ed: Editor, project: Path) -> None:
    (project / "e.py").write_text("FOO = 1\nfood = 2\n")
    ed.cmd("Orchflow search -s -w -g !*.txt foo")
    wait_float(ed, r"in .* files?")
    assert results(ed, "in .* files?") == ["a.py:1:5: def foo():"]
    ed.nv.input("<Esc>")
    ed.cmd("Orchflow search -i -w -g *.py -- foo")
    wait_float(ed, r"2 matches in 2 files")
    assert sorted(results(ed, "in .* files?")) == ["a.py:1:5: def foo():", "e.py:1:1: FOO = 1"]
    ed.nv.input("<Esc>")
    ed.cmd("Orchflow search -F --max 1 foo(")
    wait_float(ed, r"1 match in 1 file, capped")
    assert results(ed, "in .* files?") == ["a.py:1:5: def foo():"]


def test_context_lines_are_shown_around_a_match(ed: Editor) -> None:
    ed.cmd("Orchflow search -C 1 nothing")
    wait_float(ed, r"in .* files?")
    assert results(ed, "in .* files?") == [
        "    │ foo bar",
        "b/c.txt:2:1: nothing here",
        "    │ foo baz",
    ]


def test_invalid_regex_shows_ripgreps_message(ed: Editor) -> None:
    ed.cmd("Orchflow search foo(")
    msg = ed.wait_notify(r"regex")
    assert "unclosed group" in msg.lower() or "regex parse error" in msg.lower(), msg
    assert wait_float(ed, r"error")


def test_bad_option_is_reported_with_usage(ed: Editor) -> None:
    ed.cmd("Orchflow search --max many foo")
    assert "--max needs a whole number" in ed.wait_notify("--max")
    ed.cmd("Orchflow search -Z foo")
    assert "usage: :Orchflow search" in ed.wait_notify("unknown option -Z")


def test_quickfix_gets_the_filtered_results(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow search foo")
    wait_float(ed, r"4 matches")
    ed.nv.input("c.txt<C-q>")
    qf = ed.wait_until(lambda: ed.lua("return vim.fn.getqflist()"))
    got = [
        (ed.lua("return vim.fn.bufname(...)", e["bufnr"]), e["lnum"], e["col"], e["text"])
        for e in qf
    ]
    assert sorted(got) == [("b/c.txt", 1, 1, "foo bar"), ("b/c.txt", 3, 1, "foo baz")]
    assert ed.lua("return vim.fn.getqflist({title = 1}).title") == "orchflow search: foo"


def test_many_results_stream_and_closing_early_is_quiet(ed: Editor, project: Path) -> None:
    many = project / "many"
    many.mkdir()
    for i in range(200):
        (many / f"f{i:03}.txt").write_text("hit\n" * 15)
    ed.lua(
        """_G.__batches = 0
        vim.api.nvim_create_autocmd('User', { pattern = 'Orchflow:search.results',
          callback = function(a)
            if #a.data.matches > 0 then _G.__batches = _G.__batches + 1 end
          end })"""
    )
    ed.cmd("Orchflow search hit")
    wait_float(ed, r"3000 matches in 200 files", timeout=20)
    assert ed.lua("return _G.__batches") >= 2  # the first match is sent alone, at once
    f = wait_float(ed, r"3000 matches")
    assert len(f["lines"]) == 1000  # drawn rows are capped; the count is not
    assert f["title"].strip().startswith("3000 ·")
    ed.nv.input("f199.txt")  # narrows 3000 streamed results to one file's 15
    narrowed = ed.wait_until(lambda: (r := results(ed, "in .* files?")) and len(r) == 15 and r)
    assert all(row.startswith("many/f199.txt:") for row in narrowed)
    ed.nv.input("<Esc>")
    # a search closed while it streams: later answers must not touch anything
    ed.cmd("Orchflow search hit")
    ed.nv.input("<Esc>")
    ed.wait_until(lambda: not ed.floats())
    ed.cmd("Orchflow search -F nothing")
    wait_float(ed, r"1 match in")
    assert not [m for m, level in ed.notifications() if level >= 3]


CHECKTIME_RELOADS = """local buf = vim.fn.bufnr(...)
return vim.api.nvim_buf_call(buf, function()
  local seq = vim.fn.undotree().seq_last
  vim.cmd.checktime(buf)
  return vim.fn.undotree().seq_last ~= seq
end)"""


def test_replace_shows_a_diff_applies_through_buffers_and_undo_reverts(
    ed: Editor, project: Path
) -> None:
    ed.cmd("edit b/c.txt")  # one file already open in a buffer, one not loaded
    ed.cmd("Orchflow search foo --replace qux")
    diff = wait_float(ed, r"replace foo → qux: 4 in 2 files", r"^\+qux bar$")
    assert "-foo bar" in diff["lines"] and "+def qux():" in diff["lines"]
    assert "y apply  n cancel" in diff["footer"]
    ed.nv.input("y")
    ed.wait_notify(r"replaced 4 in 2 files")
    assert (project / "b" / "c.txt").read_text() == "qux bar\nnothing here\nqux baz\n"
    assert (project / "a.py").read_text() == "def qux():\n    return quxbar\n"
    assert sorted(p.name for p in project.iterdir()) == ["a.py", "b"]  # no temp file left
    for name in ("a.py", "b/c.txt"):
        assert ed.lua("return vim.bo[vim.fn.bufnr(...)].modified", name) is False
        # the buffer knows the new file's time: a later :checktime does not reload it
        # (a reload would add an undo step of its own before the replacement's)
        assert ed.lua(CHECKTIME_RELOADS, name) is False
    # undo, in each buffer, reverts the whole replacement
    ed.cmd("buffer a.py | undo")
    assert ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == [
        "def foo():",
        "    return foobar",
    ]
    ed.cmd("buffer b/c.txt | undo")
    assert ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == [
        "foo bar",
        "nothing here",
        "foo baz",
    ]


def test_replace_from_the_picker_and_cancel(ed: Editor, project: Path) -> None:
    answer_input(ed, "$0!")
    ed.cmd("Orchflow search -w nothing")
    wait_float(ed, r"1 match in")
    ed.nv.input("<C-r>")
    diff = wait_float(ed, r"replace nothing", r"^\+nothing! here$")
    assert ed.lua("return _G.__prompts") == ["replace nothing with: "]
    assert diff
    ed.nv.input("n")
    ed.wait_until(lambda: not ed.floats())
    assert (project / "b" / "c.txt").read_text() == "foo bar\nnothing here\nfoo baz\n"


def preview_then(ed: Editor, change: Any) -> str:
    """Show the foo -> qux preview, run ``change`` (what an agent does meanwhile), press y."""
    ed.cmd("Orchflow search foo --replace qux")
    wait_float(ed, r"replace foo → qux: 4 in 2 files")
    change()
    ed.nv.input("y")
    return ed.wait_notify(r"^orchflow: replaced")


def buf_lines(ed: Editor, name: str) -> list[str]:
    return ed.lua("return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false)", name)


def test_replace_refuses_a_buffer_with_unsaved_changes(ed: Editor, project: Path) -> None:
    ed.cmd("edit b/c.txt")
    ed.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, {'edited'})")
    msg = preview_then(ed, lambda: None)
    assert msg.splitlines() == [
        "orchflow: replaced 2 in 1 file; :undo in a buffer reverts it",
        "refused 1 file, nothing written to it:",
        "  b/c.txt: its buffer has unsaved changes",
    ]
    assert (project / "b" / "c.txt").read_text() == "foo bar\nnothing here\nfoo baz\n"
    assert buf_lines(ed, "b/c.txt") == ["foo bar", "edited", "foo baz"]  # untouched
    assert ed.lua("return vim.bo[vim.fn.bufnr('b/c.txt')].modified") is True
    assert (project / "a.py").read_text().startswith("def qux")


def test_replace_refuses_a_file_edited_on_disk_after_the_preview(ed: Editor, project: Path) -> None:
    c = project / "b" / "c.txt"
    agent = "# added by an agent\nfoo bar\nnothing here\nfoo baz\n"
    msg = preview_then(ed, lambda: c.write_text(agent))
    # every hunk is now a line off: the file is refused, by name and line, and left alone
    assert msg.splitlines() == [
        "orchflow: replaced 2 in 1 file; :undo in a buffer reverts it",
        "refused 1 file, nothing written to it:",
        "  b/c.txt: line 1 changed since the preview",
    ]
    assert c.read_text() == agent
    assert (project / "a.py").read_text() == "def qux():\n    return quxbar\n"  # still applied
    assert ed.lua("return vim.fn.bufexists(...)", str(c)) == 0  # loaded only to check it
    assert sorted(p.name for p in c.parent.iterdir()) == ["c.txt", "d.md"]  # no temp file


def test_replace_reloads_an_unmodified_buffer_changed_on_disk_then_checks_it(
    ed: Editor, project: Path
) -> None:
    c = project / "b" / "c.txt"
    ed.cmd("edit b/c.txt")
    ed.cmd("edit a.py")  # both loaded, one of them hidden
    msg = preview_then(ed, lambda: c.write_text(c.read_text() + "appended by an agent\n"))
    assert msg == "orchflow: replaced 4 in 2 files; :undo in a buffer reverts it"
    # the agent's line survives: the buffer was reloaded before the hunks went in
    assert c.read_text() == "qux bar\nnothing here\nqux baz\nappended by an agent\n"
    assert buf_lines(ed, "b/c.txt") == [
        "qux bar",
        "nothing here",
        "qux baz",
        "appended by an agent",
    ]
    assert ed.lua("return vim.bo[vim.fn.bufnr('b/c.txt')].modified") is False
    ed.cmd("buffer b/c.txt | undo")  # one undo: back to the reloaded text, not the stale one
    assert buf_lines(ed, "b/c.txt") == [
        "foo bar",
        "nothing here",
        "foo baz",
        "appended by an agent",
    ]


def test_replace_refuses_a_loaded_buffer_whose_file_changed_under_a_hunk(
    ed: Editor, project: Path
) -> None:
    c = project / "b" / "c.txt"
    ed.cmd("edit b/c.txt")
    msg = preview_then(ed, lambda: c.write_text("foo bar\nnothing here\nbaz (no foo now)\n"))
    assert "  b/c.txt: line 3 changed since the preview" in msg.splitlines()
    assert c.read_text() == "foo bar\nnothing here\nbaz (no foo now)\n"
    # the buffer now shows the file as it is, unmodified: never edited blind
    assert buf_lines(ed, "b/c.txt") == ["foo bar", "nothing here", "baz (no foo now)"]
    assert ed.lua("return vim.bo[vim.fn.bufnr('b/c.txt')].modified") is False
    assert (project / "a.py").read_text() == "def qux():\n    return quxbar\n"


def test_replace_refuses_a_file_deleted_after_the_preview(ed: Editor, project: Path) -> None:
    msg = preview_then(ed, lambda: (project / "a.py").unlink())
    assert "  a.py: no longer exists" in msg.splitlines()
    assert not (project / "a.py").exists()
    assert (project / "b" / "c.txt").read_text() == "qux bar\nnothing here\nqux baz\n"


def test_apply_writes_through_a_symlink_keeping_mode_and_a_missing_newline(
    ed: Editor, project: Path
) -> None:
    target = project / "b" / "c.txt"
    target.write_text("foo bar\nnothing here\nfoo baz")  # no final newline
    target.chmod(0o640)
    (project / "link.txt").symlink_to(target)
    hunk = {"start": 1, "end": 2, "old": ["nothing here"], "lines": ["something here"]}
    changed, refused = ed.lua(
        "return { require('orchflow.search').apply(...) }",
        str(project),
        [{"path": "link.txt", "replacements": 1, "diff": "", "hunks": [hunk]}],
    )
    assert (changed, refused) == (1, [])
    assert (project / "link.txt").is_symlink()
    assert target.read_text() == "foo bar\nsomething here\nfoo baz"  # none added either
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.txt", "d.md"]


def test_split_args_keeps_regex_backslashes(ed: Editor) -> None:
    split = ed.lua(
        "return require('orchflow.search').split_args(...)",
        r"""search -g '!*.md' "a b" \bfoo\b c\ d""",
    )
    assert split == ["search", "-g", "!*.md", "a b", r"\bfoo\b", "c d"]


def test_option_completion(ed: Editor) -> None:
    complete = "return require('orchflow.search').complete_options(..., {})"
    assert "--hidden" in ed.lua(complete, "--h") and "-g" in ed.lua(complete, "-")
    assert ed.lua(complete, "foo") == []


def test_a_file_changed_while_it_is_being_written_is_refused(ed: Editor, project: Path) -> None:
    """The last check, just before the rename: an agent writes between the check and it.

    The write is timed by wrapping vim.uv.fs_chmod (called between the two), because
    nothing else runs in that gap.
    """
    c = project / "b" / "c.txt"
    ed.cmd("edit b/c.txt")
    ed.lua(
        """local path, chmod = ..., vim.uv.fs_chmod
        vim.uv.fs_chmod = function(...)
          vim.uv.fs_chmod = chmod
          local f = assert(io.open(path, "a")); f:write("agent\\n"); f:close()
          return chmod(...)
        end""",
        str(c),
    )
    hunk = {"start": 0, "end": 1, "old": ["foo bar"], "lines": ["qux bar"]}
    changed, refused = ed.lua(
        "return { require('orchflow.search').apply(...) }",
        str(project),
        [{"path": "b/c.txt", "replacements": 1, "diff": "", "hunks": [hunk]}],
    )
    assert (changed, refused) == (0, ["b/c.txt: not written: changed on disk while applying"])
    assert c.read_text() == "foo bar\nnothing here\nfoo baz\nagent\n"
    assert buf_lines(ed, "b/c.txt") == ["foo bar", "nothing here", "foo baz"]  # as before
    assert ed.lua("return vim.bo.modified") is False
    assert sorted(p.name for p in c.parent.iterdir()) == ["c.txt", "d.md"]
