"""versions.py: an agent program's version for :checkhealth, from its npm package.json or
a bounded ``--version`` (real files and real processes; no Neovim)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from orchestrator.agents.versions import add_versions, cli_version, npm_version


def script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_an_npm_bin_link_reads_its_package_json(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "@zed-industries" / "codex-acp"
    (package / "bin").mkdir(parents=True)
    (package / "package.json").write_text(
        json.dumps({"name": "@zed-industries/codex-acp", "version": "0.16.0"})
    )
    target = script(package / "bin" / "codex-acp.js", "exit 3")  # never run
    (tmp_path / "node_modules" / ".bin").mkdir()
    link = tmp_path / "node_modules" / ".bin" / "codex-acp"
    os.symlink(os.path.relpath(target, link.parent), link)
    assert npm_version(str(link)) == "@zed-industries/codex-acp 0.16.0"
    assert npm_version(script(tmp_path / "plain", "exit 0")) is None  # not npm's


def test_a_terminal_command_answers_version_and_a_silent_one_is_cut_short(
    tmp_path: Path,
) -> None:
    assert cli_version(script(tmp_path / "tui", "echo '2.1.197 (Claude Code)'")) == (
        "2.1.197 (Claude Code)"
    )
    hung = script(tmp_path / "hung", "sleep 30")
    assert cli_version(hung, timeout_s=0.3) == "unknown (no answer to --version within 0.3 s)"
    assert cli_version(script(tmp_path / "bad", "exit 2")) == "unknown (--version exited 2)"


def test_an_acp_only_program_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    adapter = script(tmp_path / "adapter", f"touch {marker}; echo 1.0")
    tui = script(tmp_path / "tui", "echo tui 3.1")
    agents = [{"name": "x", "transports": {"acp": adapter, "terminal": tui}}]
    add_versions(agents)
    assert agents[0]["versions"] == {"acp": None, "terminal": "tui 3.1"}
    assert not marker.exists()
