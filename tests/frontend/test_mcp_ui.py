""":Orchflow mcp and the MCP lines of :checkhealth orchflow, in a real headless Neovim with
the real host, in embedded mode and with a real sidecar orchestrator."""

from __future__ import annotations

from tests.frontend.test_health_and_docs import health_lines
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer


def mcp_float(ed: Editor) -> list[str]:
    ed.cmd("Orchflow mcp")
    floats = ed.wait_until(lambda: [f for f in ed.floats() if f["title"] == " orchflow MCP "])
    return list(floats[0]["lines"])


def test_embedded_says_the_server_is_the_orchestrators(editor: Editor) -> None:
    text = "\n".join(mcp_float(editor))
    assert "orchestrator: off (embedded)" in text
    assert "server:       unknown (the orchestrator is not running)" in text
    assert "mode = 'sidecar'" in text
    assert "claude mcp add orchflow -- " in text and " mcp" in text
    assert "[mcp_servers.orchflow]" in text
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
    assert "client:       unavailable: not implemented yet" in text
    assert "tools (16):" in text and "pane_run" in text and "memory_search" in text
    assert "--discovery-file" in text  # a sidecar's own discovery file
    editor.cmd("close")
    health = "\n".join(health_lines(editor))
    assert "orchflow: MCP server" in health
    assert "` works: 16 tools, through the orchestrator of" in health, health
    assert "orchflow-orchestrator mcp" in health
    assert "claude mcp add orchflow" in health
