""":Orchflow files in a real headless Neovim over a real git project and the real host.

The picker's rows, the highlighted characters, the buffer opened by <CR>, and the
frecency effect on the next ranking are what the user sees, and what is asserted.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for rel in ("src/a/notes.md", "src/b/notes.md", "README.md", "ignored.txt", "build/out.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"this is {rel}\n")
    (root / ".gitignore").write_text("ignored.txt\nbuild/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=10)
    return root


@pytest.fixture
def ed(editor: Editor, project: Path) -> Editor:
    editor.cmd("cd " + str(project))
    editor.capture_notify()
    return editor


def results_float(editor: Editor) -> dict[str, Any] | None:
    """The results list: the float whose title is the count ('3 · of 3 files')."""
    for f in editor.floats():
        if f["title"] and re.search(r"of \d+ files", f["title"]):
            return f
    return None


def rows(editor: Editor) -> list[str]:
    f = results_float(editor)
    return [line for line in f["lines"] if line] if f else []


def wait_rows(editor: Editor, expected: list[str], *, timeout: float = 8.0) -> list[str]:
    """Wait until the first rows are `expected` (the host also lists weaker matches)."""
    try:
        return editor.wait_until(
            lambda: rows(editor)[: len(expected)] == expected and expected, timeout=timeout
        )
    except AssertionError:
        raise AssertionError(f"rows {rows(editor)!r}, expected {expected!r}") from None


def highlighted(editor: Editor, row: int) -> str:
    """The characters of result row `row` (0-based) that carry OrchflowMatch."""
    f = results_float(editor)
    assert f
    return str(
        editor.lua(
            """local win, row = ...
            local buf = vim.api.nvim_win_get_buf(win)
            local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1]
            local out = {}
            local marks = vim.api.nvim_buf_get_extmarks(buf, -1, {row, 0}, {row, -1},
              {details = true})
            for _, m in ipairs(marks) do
              if m[4].hl_group == 'OrchflowMatch' then
                out[#out + 1] = line:sub(m[3] + 1, m[4].end_col)
              end
            end
            return table.concat(out)""",
            f["win"],
            row,
        )
    )


def test_lists_files_respecting_gitignore(ed: Editor) -> None:
    ed.cmd("Orchflow files")
    listed = ed.wait_until(lambda: len(rows(ed)) == 3 and rows(ed))
    assert sorted(listed) == ["README.md", "src/a/notes.md", "src/b/notes.md"]
    f = results_float(ed)
    assert f and "of 3 files" in f["title"]
    assert "files" in ed.screen_text()


def test_typing_ranks_and_highlights_matched_characters(ed: Editor) -> None:
    ed.cmd("Orchflow files")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    ed.nv.input("notes")
    wait_rows(ed, ["src/a/notes.md", "src/b/notes.md"])
    assert highlighted(ed, 0) == "notes"
    # the preview shows the selected file
    ed.wait_until(
        lambda: any(
            f["title"] == " preview " and f["lines"] == ["this is src/a/notes.md"]
            for f in ed.floats()
        )
    )
    ed.nv.input("<BS><BS><BS><BS><BS>rdme")
    assert wait_rows(ed, ["README.md"])


def test_opening_a_file_makes_it_rank_first_next_time(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow files")
    ed.nv.input("notes")
    wait_rows(ed, ["src/a/notes.md", "src/b/notes.md"])  # equal matches: path order
    ed.nv.input("<C-j><CR>")
    ed.wait_until(
        lambda: ed.lua("return vim.api.nvim_buf_get_name(0)") == str(project / "src/b/notes.md")
    )
    assert not ed.floats()
    ed.cmd("Orchflow files")
    ed.nv.input("notes")
    wait_rows(ed, ["src/b/notes.md", "src/a/notes.md"])  # the opened one now ranks first
    ed.nv.input("<Esc>")
    ed.wait_until(lambda: not ed.floats())
    # with an empty query, recently opened files come first too
    ed.cmd("Orchflow files")
    ed.wait_until(lambda: len(rows(ed)) == 3 and rows(ed)[0] == "src/b/notes.md")


def test_keys_typed_in_one_go_act_on_the_last_query(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow files")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    # <CR> arrives before the answer for "readme": it waits for it, never opens a stale row
    ed.nv.input("readme<CR>")
    ed.wait_until(
        lambda: ed.lua("return vim.api.nvim_buf_get_name(0)") == str(project / "README.md")
    )
    ed.cmd("Orchflow files")
    ed.nv.input("src/a<C-v>")
    ed.wait_until(
        lambda: ed.lua("return vim.api.nvim_buf_get_name(0)") == str(project / "src/a/notes.md")
    )
    assert ed.lua("return #vim.api.nvim_tabpage_list_wins(0)") == 2


def test_closing_while_answers_travel_is_quiet(ed: Editor) -> None:
    ed.cmd("Orchflow files")
    ed.nv.input("n<Esc>")
    ed.wait_until(lambda: not ed.floats())
    ed.cmd("Orchflow files")
    ed.wait_until(lambda: len(rows(ed)) == 3)
    assert not [m for m, level in ed.notifications() if level >= 3]
