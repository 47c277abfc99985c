""":checkhealth orchflow and :help orchflow, and the doc kept true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness.editor import ROOT, Editor

DOC = ROOT / "doc" / "orchflow.txt"


def health_lines(editor: Editor) -> list[str]:
    editor.cmd("checkhealth orchflow")
    return list(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))


def test_checkhealth_is_all_ok_here(editor: Editor) -> None:
    text = "\n".join(health_lines(editor))
    assert "ERROR" not in text, text
    assert "WARNING" not in text, text
    for expected in (
        "Python 3.",
        "pynvim 0.",
        "orchflow_core 0.1.0",
        "tmux 3.",
        "ripgrep",
        "git version 2.",
        "Neovim 0.11",
        "state dir writable",
        "log dir writable",
        "runtime dir writable",
        'extra "orchestrator" installed',
        "mode embedded",
        "7 modes (files in ",
        "testing (builtin, 1.0.0): enabled",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_checkhealth_makes_missing_dirs_0700_and_names_looser_ones(
    editor: Editor, isolated: Path
) -> None:
    state = isolated / "data" / "orchflow"
    log_dir = isolated / "state" / "orchflow" / "log"
    assert not state.exists() and not log_dir.exists()
    log_dir.mkdir(parents=True)
    log_dir.chmod(0o755)
    text = "\n".join(health_lines(editor))
    assert state.stat().st_mode & 0o777 == 0o700  # made by checkhealth
    assert f"log dir {log_dir} has mode 755" in text, text
    assert f"chmod 700 '{log_dir}'" in text
    assert "state dir" in text and f"state dir {state} has mode" not in text
    # checkhealth only reports it; the host (asked about the orchestrator) tightens it
    assert log_dir.stat().st_mode & 0o777 == 0o700


def test_the_plugin_refuses_neovim_older_than_0_11(isolated: Path) -> None:
    """The gate itself: has('nvim-0.11') answering 0, as it does on 0.10."""
    from tests.harness.editor import ROOT

    fake = (
        "lua local has = vim.fn.has;"
        " vim.fn.has = function(f) return f == 'nvim-0.11' and 0 or has(f) end"
    )
    ed = Editor(extra=("--cmd", fake))
    try:
        assert ed.lua("return vim.fn.exists(':Orchflow')") == 0
        assert "orchflow needs Neovim >= 0.11" in ed.messages()
    finally:
        ed.close()
    assert "0.10" not in (ROOT / "README.md").read_text().split("## Requirements")[1][:200]


def test_checkhealth_reports_a_bad_interpreter_with_a_fix(editor: Editor) -> None:
    editor.lua("require('orchflow').setup({ python = '/nonexistent/python3' })")
    text = "\n".join(health_lines(editor))
    assert "ERROR" in text and "/nonexistent/python3" in text and "make install" in text


def test_helptags_are_valid_and_help_opens(editor: Editor, tmp_path: Path) -> None:
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "orchflow.txt").write_text(DOC.read_text())
    out = editor.lua(
        "return vim.api.nvim_exec2('helptags ' .. ..., { output = true }).output", str(doc)
    )
    assert out == ""
    editor.lua("vim.opt.runtimepath:append(...)", str(tmp_path))
    editor.cmd("help orchflow")
    assert editor.lua("return vim.fn.expand('%:t')") == "orchflow.txt"
    editor.cmd("help :Orchflow-version")
    assert "*:Orchflow-version*" in editor.lua("return vim.api.nvim_get_current_line()")


def collect(editor: Editor, module: str, items: str, field: str) -> list[str]:
    """``[item.field for item in require(module).items]`` evaluated in the editor."""
    code = (
        f"local o = {{}} for _, x in ipairs(require('{module}'){items}) do "
        f"o[#o + 1] = x.{field} end return o"
    )
    return list(editor.lua(code))


def doc_tags() -> set[str]:
    return set(re.findall(r"\*([^*\s]+)\*", DOC.read_text()))


def test_doc_documents_every_command_and_only_those(editor: Editor) -> None:
    leaves = collect(editor, "orchflow.commands", ".leaves()", "path")
    wanted = {":Orchflow-" + path.replace(" ", "-") for path in leaves}
    documented = {t for t in doc_tags() if t.startswith(":Orchflow-")}
    assert wanted == documented


def test_doc_documents_every_plug_map(editor: Editor) -> None:
    plugs = [p for p in collect(editor, "orchflow.commands", ".leaves()", "node.plug") if p]
    wanted = {f"<Plug>({p})" for p in plugs}
    assert wanted == {t for t in doc_tags() if t.startswith("<Plug>")}


def test_doc_documents_every_option(editor: Editor) -> None:
    keys = collect(editor, "orchflow.config", ".keys()", "key")
    wanted = {f"orchflow-option-{k}" for k in keys}
    assert wanted == {t for t in doc_tags() if t.startswith("orchflow-option-")}


def test_doc_documents_every_highlight_group(editor: Editor) -> None:
    groups = collect(editor, "orchflow.highlights", ".groups", "name")
    assert set(groups) == {t for t in doc_tags() if re.fullmatch(r"Orchflow[A-Z]\w*", t)}


def test_versions_agree() -> None:
    import tomllib

    import orchflow_core

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    lua = re.search(r'M.version = "([^"]+)"', (ROOT / "lua" / "orchflow" / "init.lua").read_text())
    assert lua and lua.group(1) == pyproject == orchflow_core.__version__


def test_checkhealth_names_a_broken_mode_file(editor: Editor, tmp_path: Path) -> None:
    modes = tmp_path / "proj" / ".orchflow" / "modes"
    modes.mkdir(parents=True)
    (modes / "bad.toml").write_text('description = "x"\nsteps = 3\n')
    editor.cmd(f"cd {tmp_path / 'proj'}")
    text = "\n".join(health_lines(editor))
    assert f"WARNING mode file: {modes / 'bad.toml'}:2: steps must be [[steps]] tables" in text
