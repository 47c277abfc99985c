""":Orchflow browse and :Orchflow trash in a real headless Neovim over real files.

vim.ui.input / vim.ui.select are answered by scripted functions (a headless Neovim has
no one to type into a prompt); everything else is real: the host, the files on disk,
the trash under the isolated state dir, and the buffers that follow a rename.
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
    (root / "src" / "a").mkdir(parents=True)
    (root / "src" / "b").mkdir()
    (root / "docs").mkdir()
    (root / "README.md").write_text("readme\n")
    (root / "setup.py").write_text("print(1)\n")
    (root / ".env").write_text("X=1\n")
    (root / "src" / "main.py").write_text("main\n")
    return root


@pytest.fixture
def ed(editor: Editor, project: Path) -> Editor:
    editor.cmd("cd " + str(project))
    editor.capture_notify()
    editor.lua(
        """_G.__answers, _G.__prompts = {}, {}
        vim.ui.input = function(opts, cb)
          local default = opts.default and ('[' .. opts.default .. ']') or ''
          table.insert(_G.__prompts, opts.prompt .. default)
          cb(table.remove(_G.__answers, 1))
        end
        vim.ui.select = function(items, opts, cb)
          table.insert(_G.__prompts, opts.prompt)
          local want = table.remove(_G.__answers, 1)
          for i, item in ipairs(items) do
            local label = opts.format_item and opts.format_item(item) or item
            if label == want then return cb(item, i) end
          end
          cb(nil, nil)
        end"""
    )
    return editor


def answer(editor: Editor, *answers: str) -> None:
    """Queue what the user answers to the next vim.ui.input / vim.ui.select prompts."""
    editor.lua("for _, a in ipairs({...}) do table.insert(_G.__answers, a) end", *answers)


def browser(editor: Editor) -> dict[str, Any] | None:
    for f in editor.floats():
        if f["title"] and "browse" in f["title"]:
            return f
    return None


def wait_listing(editor: Editor, title: str, lines: list[str] | None = None) -> list[str]:
    def ready() -> list[str] | None:
        f = browser(editor)
        if not f or f["title"].strip() != title:
            return None
        if lines is not None and f["lines"] != lines:
            return None
        return list(f["lines"])

    try:
        return editor.wait_until(ready, timeout=8)
    except AssertionError:
        raise AssertionError(f"expected {title!r} {lines!r}, floats: {editor.floats()}") from None


def goto(editor: Editor, name: str) -> None:
    """Put the cursor on the browser row `name` (as the user would with j/k or /)."""
    f = browser(editor)
    assert f, editor.floats()
    row = f["lines"].index(name) + 1
    editor.lua("vim.api.nvim_win_set_cursor(..., { select(2, ...), 0 })", f["win"], row)


def test_tree_dirs_first_enter_and_go_up(ed: Editor) -> None:
    ed.cmd("Orchflow browse")
    top = wait_listing(ed, "browse: ./")
    assert top == ["docs/", "src/", ".env", "README.md", "setup.py"]
    screen = ed.screen_text()
    assert "a add  r rename  m move  c copy  d delete  T trash" in screen
    goto(ed, "src/")
    ed.nv.input("<CR>")
    assert wait_listing(ed, "browse: src/") == ["a/", "b/", "main.py"]
    ed.nv.input("-")
    wait_listing(ed, "browse: ./")
    f = browser(ed)
    assert f
    assert ed.lua("return vim.api.nvim_win_get_cursor(...)[1]", f["win"]) == 2  # back on src/
    ed.nv.input("-")
    assert "already at the project root" in ed.wait_notify("project root")
    # a file opens in the editor
    goto(ed, "setup.py")
    ed.nv.input("<CR>")
    ed.wait_until(lambda: ed.lua("return vim.fn.expand('%:t')") == "setup.py")
    assert browser(ed) is None


def test_browse_a_subdirectory_and_refuse_one_outside(ed: Editor, tmp_path: Path) -> None:
    ed.cmd("Orchflow browse src")
    assert wait_listing(ed, "browse: src/") == ["a/", "b/", "main.py"]
    ed.nv.input("q")
    ed.cmd("Orchflow browse " + str(tmp_path))
    assert "outside the project root" in ed.wait_notify("outside")


def test_create_file_and_directory(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow browse src")
    wait_listing(ed, "browse: src/")
    answer(ed, "new.txt")
    ed.nv.input("a")
    wait_listing(ed, "browse: src/", ["a/", "b/", "main.py", "new.txt"])
    assert (project / "src" / "new.txt").is_file()
    answer(ed, "deep/er/")
    ed.nv.input("a")
    wait_listing(ed, "browse: src/", ["a/", "b/", "deep/", "main.py", "new.txt"])
    assert (project / "src" / "deep" / "er").is_dir()
    assert ed.lua("return _G.__prompts")[0] == "new file (end with / for a directory): "


def test_rename_moves_the_file_and_its_open_buffer(ed: Editor, project: Path) -> None:
    ed.cmd("edit README.md")
    ed.cmd("Orchflow browse")
    wait_listing(ed, "browse: ./")
    goto(ed, "README.md")
    answer(ed, "GUIDE.md")
    ed.nv.input("r")
    wait_listing(ed, "browse: ./", ["docs/", "src/", ".env", "GUIDE.md", "setup.py"])
    assert ed.lua("return _G.__prompts") == ["rename to: [README.md]"]
    assert (project / "GUIDE.md").read_text() == "readme\n" and not (project / "README.md").exists()
    # the watcher's files.changed may redraw the listing before files.rename's answer, which
    # is when the buffer follows
    guide = str(project / "GUIDE.md")
    ed.wait_until(lambda: ed.lua("return vim.fn.bufnr(...)", guide) != -1, timeout=10)
    ed.nv.input("q")
    assert ed.lua("return vim.api.nvim_buf_get_name(0)") == guide
    # the buffer writes to its new path without E13, and no buffer keeps the old name
    ed.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, {'edited'})")
    ed.cmd("write")
    assert (project / "GUIDE.md").read_text() == "edited\n"
    names = ed.lua("return vim.tbl_map(vim.api.nvim_buf_get_name, vim.api.nvim_list_bufs())")
    assert str(project / "README.md") not in names


def test_move_a_directory_and_buffers_inside_follow(ed: Editor, project: Path) -> None:
    ed.cmd("edit src/main.py")
    ed.cmd("Orchflow browse")
    wait_listing(ed, "browse: ./")
    goto(ed, "src/")
    answer(ed, "docs/")  # into docs/, like mv
    ed.nv.input("m")
    wait_listing(ed, "browse: ./", ["docs/", ".env", "README.md", "setup.py"])
    assert (project / "docs" / "src" / "main.py").is_file()
    # the watcher's files.changed may redraw the listing before files.move's answer: the
    # notice comes with that answer, after the buffers followed
    assert "moved src to docs/src" in ed.wait_notify("moved")
    assert ed.lua("return vim.api.nvim_buf_get_name(vim.fn.bufnr('main.py'))") == str(
        project / "docs/src/main.py"
    )


def test_copy_and_conflicts_change_nothing(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow browse")
    wait_listing(ed, "browse: ./")
    goto(ed, "setup.py")
    answer(ed, "docs/")
    ed.nv.input("c")
    ed.wait_notify("copied setup.py to docs/setup.py")
    assert (project / "docs" / "setup.py").read_text() == "print(1)\n"
    # copying again onto the same name is a conflict: reported, nothing overwritten
    (project / "docs" / "setup.py").write_text("mine\n")
    answer(ed, "docs/setup.py")
    ed.nv.input("c")
    msg = ed.wait_notify(r"exists")
    assert "docs/setup.py" in msg
    assert (project / "docs" / "setup.py").read_text() == "mine\n"
    # renaming onto an existing name: same
    goto(ed, "setup.py")
    answer(ed, "README.md")
    ed.nv.input("r")
    ed.wait_until(lambda: len([m for m, _ in ed.notifications() if "exists" in m]) == 2)
    assert (project / "README.md").read_text() == "readme\n" and (project / "setup.py").exists()


def test_a_path_outside_the_root_is_refused(ed: Editor, project: Path, tmp_path: Path) -> None:
    ed.cmd("Orchflow browse")
    wait_listing(ed, "browse: ./")
    goto(ed, "setup.py")
    answer(ed, "../escaped.py")
    ed.nv.input("m")
    assert "outside the project root" in ed.wait_notify("outside")
    assert (project / "setup.py").exists() and not (tmp_path / "escaped.py").exists()
    (project / "link").symlink_to(tmp_path)
    answer(ed, "link/escaped.py")
    ed.nv.input("c")
    ed.wait_until(lambda: len([m for m, _ in ed.notifications() if "outside" in m]) == 2)
    assert not (tmp_path / "escaped.py").exists()


def test_delete_to_trash_and_restore(ed: Editor, project: Path) -> None:
    ed.cmd("Orchflow browse")
    wait_listing(ed, "browse: ./")
    goto(ed, "setup.py")
    answer(ed, "Cancel")
    ed.nv.input("d")
    ed.wait_until(lambda: ed.lua("return #_G.__prompts") == 1)
    assert (project / "setup.py").exists()
    answer(ed, "Move to trash")
    ed.nv.input("d")
    wait_listing(ed, "browse: ./", ["docs/", "src/", ".env", "README.md"])
    assert ed.lua("return _G.__prompts") == ["Delete setup.py?", "Delete setup.py?"]
    assert not (project / "setup.py").exists()
    ed.nv.input("T")
    trash = ed.wait_until(
        lambda: next(
            (
                f
                for f in ed.floats()
                if "trash" in (f["title"] or "") and f["lines"] != ["(loading)"]
            ),
            None,
        )
    )
    assert re.match(r"^setup\.py  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  file$", trash["lines"][0]), trash
    assert "<CR> restore" in trash["footer"]
    ed.nv.input("<CR>")
    ed.wait_notify("restored setup.py")
    assert (project / "setup.py").read_text() == "print(1)\n"
    ed.wait_until(lambda: any(f["lines"] == ["(the trash is empty)"] for f in ed.floats()))


def test_restore_onto_an_existing_path_is_a_conflict(ed: Editor, project: Path) -> None:
    ed.lua("require('orchflow.host').wait('files.delete', { path = 'README.md' }, 5000)")
    (project / "README.md").write_text("new one\n")
    ed.cmd("Orchflow trash")
    ed.wait_until(lambda: any((f["lines"] or [""])[0].startswith("README.md") for f in ed.floats()))
    ed.nv.input("<CR>")
    msg = ed.wait_notify("exists")
    assert "cannot restore README.md" in msg
    assert (project / "README.md").read_text() == "new one\n"


def test_directory_completion(ed: Editor) -> None:
    complete = "return require('orchflow.browser').complete_dirs(..., {})"
    assert ed.lua(complete, "") == ["docs/", "src/"]
    assert ed.lua(complete, "src/") == ["src/a/", "src/b/"]
