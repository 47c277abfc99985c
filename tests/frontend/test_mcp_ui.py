""":Orchflow mcp and the MCP lines of :checkhealth orchflow, in a real headless Neovim with
the real host, in embedded mode and with a real sidecar orchestrator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator.mcp.tools import TOOLS
from tests.frontend.test_health_and_docs import health_lines
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def mcp_float(ed: Editor) -> list[str]:
    ed.cmd("Orchflow mcp")
    floats = ed.wait_until(
        lambda: [f for f in ed.floats() if f["title"] == " orchflow MCP "], timeout=20
    )
    return list(floats[0]["lines"])


def test_embedded_says_the_server_is_the_orchestrators(editor: Editor) -> None:
    text = "\n".join(mcp_float(editor))
    assert "orchestrator: off (embedded)" in text
    assert "server:       unknown (the orchestrator is not running)" in text
    assert "mode = 'sidecar'" in text
    assert "claude mcp add orchflow -- " in text and " mcp" in text
    assert "[mcp_servers.orchflow]" in text
    assert "Claude Code, for one project (.mcp.json at its root):" in text
    assert '"type": "stdio"' in text
    assert '"mcpServers"' in text


def test_with_a_sidecar_it_lists_the_tools_and_checkhealth_runs_the_stdio_server(
    editor: Editor, private_tmux: TmuxServer
) -> None:
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    editor.cmd("Orchflow orchestrator start")
    editor.wait_notify(r"orchestrator running \(sidecar\)", timeout=15)
    text = "\n".join(mcp_float(editor))
    assert "orchestrator: running (sidecar)" in text
    assert "server:       implemented" in text
    assert "client:       implemented" in text
    assert f"tools ({len(TOOLS)}):" in text and "pane_run" in text and "swarm_submit" in text
    assert "--discovery-file" in text  # a sidecar's own discovery file
    editor.cmd("close")
    health = "\n".join(health_lines(editor))
    assert "orchflow: MCP server" in health
    assert f"` works: {len(TOOLS)} tools, through the orchestrator of" in health, health
    assert "orchflow-orchestrator mcp" in health
    assert "claude mcp add orchflow" in health


NOTES = Path(__file__).resolve().parents[1] / "orchestrator" / "mcp_servers" / "notes_server.py"
STUB_INPUT = """
_G.inputs = {}
vim.ui.input = function(opts, on_confirm) on_confirm(table.remove(_G.inputs, 1)) end
"""


def _cursor_on(ed: Editor, text: str) -> None:
    ed.lua(
        "local pat = ...; for i, l in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do"
        " if l:find(pat, 1, true) then vim.api.nvim_win_set_cursor(0, { i, 0 }) return end end"
        " error('no line with ' .. pat)",
        text,
    )


def test_mcp_lists_a_users_server_its_tools_and_calls_one(
    editor: Editor, isolated: Path, private_tmux: TmuxServer
) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    argv = json.dumps(["-I", str(NOTES)])
    config.write_text(
        config.read_text()
        + f"\n[mcp.servers.notes]\ncommand = {json.dumps(sys.executable)}\nargs = {argv}\n"
    )
    ed = editor
    ed.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    ed.lua(STUB_INPUT)
    ed.capture_notify()
    ed.cmd("Orchflow orchestrator start")
    ed.wait_notify(r"orchestrator running \(sidecar\)", timeout=15)
    text = "\n".join(mcp_float(ed))
    assert "MCP servers (t tools  c call  r restart):" in text
    assert "orchflow       ours  in-process  stopped   breaker closed    tools ?" in text
    assert "notes          user  stdio       stopped   breaker closed    tools ?" in text
    _cursor_on(ed, "notes          user")
    ed.nv.input("t")  # the server starts on demand and lists its tools
    tools = ed.wait_until(
        lambda: [f for f in ed.floats() if f["title"] == " MCP notes tools "], timeout=20
    )[0]["lines"]
    assert "echo(text*: string)" in tools and "  Say the text back." in tools
    assert "add(a*: integer, b*: integer)" in tools
    ed.nv.input("q")
    ed.cmd("close")
    mcp_float(ed)
    screen = ed.screen_text()
    row = "notes          user  stdio       ready     breaker closed    7 tools: echo"
    assert row in screen, screen
    _cursor_on(ed, "notes          user")
    ed.lua("_G.inputs = { 'echo', '{\"text\": \"from nvim\"}' }")
    ed.nv.input("c")
    result = ed.wait_until(
        lambda: [f for f in ed.floats() if f["title"] == " MCP notes.echo "], timeout=20
    )[0]["lines"]
    assert result[:2] == ["isError: false", "notes echo: from nvim"]
    ed.lua(
        "for _, w in ipairs(vim.api.nvim_list_wins()) do"
        " if vim.api.nvim_win_get_config(w).relative ~= '' then vim.api.nvim_win_close(w, true)"
        " end end"
    )
    health = "\n".join(health_lines(ed))
    assert "MCP server notes (stdio): ready" in health, health
