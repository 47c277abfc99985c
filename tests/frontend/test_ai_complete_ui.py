""":Orchflow ai complete / ai providers and :checkhealth in a real headless Neovim, its
host and the sidecar orchestrator it starts; the provider is the fake API
(tests/orchestrator/providers/fake_api.py: a stand-in for paid model APIs that speaks
their wire formats)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer
from tests.orchestrator.providers.fake_api import MODEL, FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    try:
        yield server
    finally:
        server.close()


def ai_editor(editor: Editor, isolated: Path, api: FakeApi) -> Editor:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    old = config.read_text() if config.exists() else ""
    config.write_text(
        old
        + f'\n[providers.local]\nkind = "openai"\nbase_url = "{api.url}/v1"\nmodel = "{MODEL}"\n'
        + '\n[providers.cloud]\nkind = "anthropic"\nmodel = "m"\n'
        + 'api_key_env = "ORCHFLOW_UNSET_TEST_KEY"\n'
        + '\n[ai]\ndefault_provider = "local"\n'
    )
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    return editor


def ai_float(ed: Editor, pred: Any) -> dict[str, Any]:
    return ed.wait_until(  # type: ignore[no-any-return]
        lambda: next(
            (f for f in ed.floats() if (f["title"] or "").startswith(" ai:") and pred(f)), None
        ),
        timeout=30,
    )


def test_the_answer_streams_into_a_float(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, api: FakeApi
) -> None:
    ed = ai_editor(editor, isolated, api)
    api.script(("ok", ["Hello", ", ", "world", "\nsecond line"]))
    ed.cmd("Orchflow ai complete say hello")
    f = ai_float(ed, lambda f: "done:" in (f["footer"] or ""))
    assert f["lines"] == ["Hello, world", "second line"]
    assert f["footer"] == f" done: local ({MODEL}), 11 tokens · q close "
    assert f["title"] == " ai: default provider "
    assert api.requests[0]["body"]["messages"] == [{"role": "user", "content": "say hello"}]
    ed.wait_until(lambda: "done: local" in ed.screen_text())
    screen = ed.screen_text()
    assert "Hello, world" in screen and "second line" in screen


def test_ctrl_c_cancels_mid_stream(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, api: FakeApi
) -> None:
    ed = ai_editor(editor, isolated, api)
    api.script(("hold", ["partial answer"]))
    ed.cmd("Orchflow ai complete @local tell me a long story")
    ai_float(ed, lambda f: f["lines"][0] == "partial answer" and "<C-c> cancel" in f["footer"])
    # on screen while the answer is still streaming, and the editor is not blocked
    ed.wait_until(
        lambda: "partial answer" in ed.screen_text() and "<C-c> cancel" in ed.screen_text()
    )
    ed.assert_not_blocked()
    ed.nv.input("<C-c>")
    f = ai_float(ed, lambda f: "cancelled" in (f["footer"] or ""))
    assert f["lines"][0] == "partial answer" and f["lines"][-1] == "[cancelled]"


def test_providers_float_and_checkhealth(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, api: FakeApi
) -> None:
    ed = ai_editor(editor, isolated, api)
    ed.cmd("Orchflow ai providers")
    f = ed.wait_until(
        lambda: next((f for f in ed.floats() if "ai providers" in (f["title"] or "")), None),
        timeout=30,
    )
    text = "\n".join(f["lines"])
    assert "* local" in text and "breaker closed" in text
    assert (
        "cloud" in text and "unavailable: the environment variable ORCHFLOW_UNSET_TEST_KEY" in text
    )
    ed.cmd("close")
    ed.cmd("checkhealth orchflow")
    health = "\n".join(ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert f"local [default] (openai, {MODEL})" in health
    assert "cloud (anthropic, m): key variable $ORCHFLOW_UNSET_TEST_KEY is NOT set" in health


def test_orchflow_config_never_shows_a_key(editor: Editor, isolated: Path) -> None:
    config = isolated / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[providers.oops]\nkind = "openai"\nmodel = "m"\napi_key = "sk-live-DO-NOT-SHOW-123"\n'
    )
    editor.cmd("Orchflow config")
    f = editor.wait_until(
        lambda: next((f for f in editor.floats() if "config" in (f["title"] or "")), None),
        timeout=30,
    )
    text = "\n".join(f["lines"])
    assert "providers = " in text and 'api_key = "[redacted]"' in text
    assert "sk-live-DO-NOT-SHOW-123" not in text


def test_a_tool_call_shows_as_a_line_in_the_float(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, api: FakeApi
) -> None:
    """The provider offers a real MCP server's tools (notes_server.py, written with the SDK,
    started by the orchestrator); the stand-in model asks for ``add`` and answers with its
    result: the float shows the call between the two rounds' text."""
    import json
    import sys

    notes = Path(__file__).parents[1] / "orchestrator" / "mcp_servers" / "notes_server.py"
    config = isolated / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    old = config.read_text() if config.exists() else ""
    config.write_text(
        old
        + f'\n[providers.local]\nkind = "openai"\nbase_url = "{api.url}/v1"\nmodel = "{MODEL}"\n'
        + "tools = true\n"
        + f'\n[providers.other]\nkind = "openai"\nbase_url = "{api.url}/v1"\nmodel = "m"\n'
        + 'tools = ["nope"]\n\n[ai]\ndefault_provider = "local"\n'
        + f"\n[mcp.servers.notes]\ncommand = {json.dumps(sys.executable)}\n"
        + f"args = {json.dumps(['-I', str(notes)])}\n"
    )
    editor.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    editor.capture_notify()
    api.script(
        ("tools", [("notes__add", {"a": 2, "b": 40})], ["Adding."]),
        ("tools", [("notes__fail", {"why": "disk full"})]),
        ("answer", "Done."),
    )
    editor.cmd("Orchflow ai complete what is 2 + 40")
    f = ai_float(editor, lambda f: "done:" in (f["footer"] or ""))
    assert f["lines"][:2] == ["Adding.", "▸ notes.add … ✓"]
    assert "▸ notes.fail … ✗ Error executing tool fail: failed on purpose: disk full" in f["lines"]
    assert f["lines"][-1] == "Done."
    assert f["footer"].endswith(", 2 tool calls · q close ")
    editor.wait_until(lambda: "▸ notes.add … ✓" in editor.screen_text())
    editor.cmd("close")
    editor.cmd("checkhealth orchflow")
    health = "\n".join(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert f"local [default] (openai, {MODEL}); offers the MCP servers' tools" in health
    assert "other: tools names nope, not in [mcp.servers.*]" in health
    # per call: -tools offers none, +<server> names the servers
    editor.cmd("Orchflow ai complete -tools plain please")
    ai_float(editor, lambda f: f["lines"] == ["Hello, world"] and "done:" in (f["footer"] or ""))
    body = api.requests[-1]["body"]
    assert "tools" not in body and body["messages"] == [{"role": "user", "content": "plain please"}]
    editor.cmd("Orchflow ai complete @other +notes with notes")
    ai_float(editor, lambda f: f["title"] == " ai: other " and "done:" in (f["footer"] or ""))
    body = api.requests[-1]["body"]
    assert body["messages"][-1]["content"] == "with notes"
    assert "notes__add" in [t["function"]["name"] for t in body["tools"]]
