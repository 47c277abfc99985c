""":checkhealth orchflow with the real npm-installed ACP adapters on PATH (installed by
.ci/real-agents; skipped without them) and a terminal CLI that answers --version: each
installed agent is listed with its path and version, in a real headless Neovim."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.editor import Editor
from tests.orchestrator.real.test_real_adapters import BIN, pinned


def test_checkhealth_names_each_installed_agent_with_its_version(
    editor: Editor, isolated: Path, tmp_path: Path
) -> None:
    if not (BIN / "codex-acp").exists():
        pytest.skip(f"the real adapters are not installed in {BIN}: run .ci/real-agents")
    tui = tmp_path / "tui-bin"
    tui.mkdir()
    fake = tui / "claude"  # a terminal CLI that is no npm package: asked --version
    fake.write_text("#!/bin/sh\necho '2.1.197 (Claude Code)'\n")
    fake.chmod(0o755)
    editor.lua("vim.env.PATH = ... .. ':' .. vim.env.PATH", f"{tui}:{BIN}")
    editor.cmd("checkhealth orchflow")
    text = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    claude_acp = pinned("@zed-industries/claude-agent-acp")
    assert (
        f"claude installed: acp: claude-agent-acp ({BIN}/claude-agent-acp, "
        f"@zed-industries/claude-agent-acp {claude_acp}); "
        f"terminal: claude ({fake}, 2.1.197 (Claude Code))" in text
    )
    codex_acp = pinned("@zed-industries/codex-acp")
    assert f"acp: codex-acp ({BIN}/codex-acp, @zed-industries/codex-acp {codex_acp})" in text
    gemini = pinned("@google/gemini-cli")
    assert f"acp: gemini --experimental-acp ({BIN}/gemini, @google/gemini-cli {gemini})" in text
    assert "ERROR" not in text
