"""ai.complete offering the configured MCP servers' tools to a model: a real orchestrator
process, real MCP servers written with the official SDK (tests/orchestrator/mcp_servers/,
started by the orchestrator over stdio), and the model played by the local stand-in that
speaks the OpenAI and Anthropic wire formats (fake_api.py: paid APIs cannot run here). The
stand-in asks for tools as each API streams them and answers with the tool results it is
sent back, so what reaches the final answer went the whole way round."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.providers.mcp_tools import NAME_MAX, offered_name
from orchflow_core.errors import InvalidArgumentError, NotFoundError, TimeoutError_
from tests.harness.tmux import TmuxServer
from tests.orchestrator.providers.fake_api import MODEL, FakeApi
from tests.orchestrator.providers.test_ai_rpc import Stream
from tests.orchestrator.server_process import OrchestratorProcess, server_env

pytestmark = pytest.mark.timeout(120)

SERVERS = Path(__file__).parents[1] / "mcp_servers"
NOTES = str(SERVERS / "notes_server.py")
FILES = str(SERVERS / "files_server.py")
KEY = "sk-ant-test-0123456789abcdef"


def _stdio(name: str, script: str, extra: str = "") -> str:
    args = json.dumps(["-I", script])
    return f"[mcp.servers.{name}]\ncommand = {json.dumps(sys.executable)}\nargs = {args}\n{extra}\n"


def tools_toml(api: FakeApi, files: Path) -> str:
    cli = json.dumps([sys.executable, "-c", "import sys; print(sys.stdin.read())"])
    return (
        f"""
[ai]
default_provider = "local"

[providers.local]
kind = "openai"
base_url = "{api.url}/v1"
model = "{MODEL}"
tools = true

[providers.claude]
kind = "anthropic"
base_url = "{api.url}"
model = "{MODEL}"
api_key_env = "ORCHFLOW_TEST_KEY"
tools = ["notes"]

[providers.tight]
kind = "openai"
base_url = "{api.url}/v1"
model = "{MODEL}"
max_tool_rounds = 2

[providers.brief]
kind = "openai"
base_url = "{api.url}/v1"
model = "{MODEL}"
total_timeout_s = 5

[providers.script]
kind = "cli"
command = {cli}

[[rules]]
pattern = "rm -rf"
kind = "regex"
action = "block"
message = "no recursive deletes"

"""
        + _stdio("notes", NOTES)
        + _stdio("files", FILES, f"env = {{ FILES_DIR = {json.dumps(str(files))} }}")
        + _stdio("slow", NOTES, "timeout_s = 1")
    )


@pytest.fixture
async def orch(
    tmp_path: Path, private_tmux: TmuxServer, api: FakeApi
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    files = tmp_path / "notes"
    files.mkdir()
    env = server_env(base, private_tmux.socket, ORCHFLOW_TEST_KEY=KEY)
    config = Path(env["ORCHFLOW_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(tools_toml(api, files))
    root = tmp_path / "project"
    root.mkdir()
    server = await OrchestratorProcess.start(base, private_tmux.socket, env=env, project_root=root)
    try:
        yield server
    finally:
        await server.stop()


def offered(request: dict[str, Any]) -> list[str]:
    """The tool names a request offered the model (either API's format)."""
    tools = request["body"].get("tools") or []
    return [t["function"]["name"] if "function" in t else t["name"] for t in tools]


async def test_openai_model_writes_a_file_through_a_tool_and_answers_with_its_result(
    orch: OrchestratorProcess, api: FakeApi, tmp_path: Path
) -> None:
    api.script(
        ("tools", [("files__write_note", {"name": "plan.txt", "text": "ship it"})], ["On it."]),
        ("tools", [("files__read_note", {"name": "plan.txt"})]),
        ("answer", "The note: {result}"),
    )
    done = await orch.call("ai.complete", {"prompt": "write the plan", "tools": ["files"]})
    assert (tmp_path / "notes" / "plan.txt").read_text() == "ship it"  # the tool's real effect
    assert done["text"] == "On it.\nThe note: plan.txt says: ship it"
    assert done["finish_reason"] == "stop" and done["rounds"] == 3
    assert done["tools"] == ["files.write_note", "files.read.note"]
    calls = [(c["server"], c["tool"], c["is_error"], c["text"]) for c in done["tool_calls"]]
    assert calls == [
        ("files", "write_note", False, "wrote 7 bytes to plan.txt"),
        ("files", "read.note", False, "plan.txt says: ship it"),  # mapped back exactly
    ]
    first, second = api.requests[0], api.requests[1]
    assert offered(first) == ["files__write_note", "files__read_note"]
    function = first["body"]["tools"][0]["function"]
    assert function["parameters"]["required"] == ["name", "text"]
    assert function["description"] == "[MCP server files] Write a note file."
    assistant, tool = second["body"]["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["content"] == "On it."
    assert assistant["tool_calls"][0]["function"] == {
        "name": "files__write_note",
        "arguments": json.dumps({"name": "plan.txt", "text": "ship it"}),
    }
    assert tool == {
        "role": "tool",
        "tool_call_id": assistant["tool_calls"][0]["id"],
        "content": "wrote 7 bytes to plan.txt",
    }
    assert done["usage"]["input_tokens"] == 21  # three rounds of 7


async def test_anthropic_tool_use_streams_progress_and_the_computed_value(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    """The claude provider's config offers ``notes`` only; the stream carries ai.tool
    events between the text of the two rounds."""
    api.script(
        ("tools", [("notes__add", {"a": 2, "b": 40})], ["Adding."]),
        ("answer", "The sum is {result}."),
    )
    async with await orch.client() as client:
        stream = Stream(client)
        tools: list[dict[str, Any]] = []
        client.on_notification("ai.tool", tools.append)
        started = await client.call(
            "ai.complete", {"prompt": "2 + 40?", "provider": "claude", "stream": True}
        )
        assert started["tools"] == ["notes"]
        name, end = await stream.end(started["request_id"])
    assert name == "ai.done", end
    summed = json.dumps({"sum": 42}, indent=2)  # the SDK's text for a dict result
    assert end["text"] == f"Adding.\nThe sum is {summed}." == stream.deltas(started["request_id"])
    assert [(t["phase"], t["server"], t["tool"], t["name"]) for t in tools] == [
        ("started", "notes", "add", "notes__add"),
        ("finished", "notes", "add", "notes__add"),
    ]
    assert tools[1]["is_error"] is False and tools[1]["text"] == summed
    assert set(offered(api.requests[0])) >= {"notes__add", "notes__echo", "notes__hang"}
    assert not [n for n in offered(api.requests[0]) if n.startswith("files")]
    body = api.requests[1]["body"]
    assert body["tools"][0]["input_schema"]["type"] == "object"
    assistant, user = body["messages"][-2:]
    assert assistant["content"][0] == {"type": "text", "text": "Adding."}
    use = assistant["content"][1]
    assert (use["type"], use["name"], use["input"]) == ("tool_use", "notes__add", {"a": 2, "b": 40})
    assert user["content"] == [
        {"type": "tool_result", "tool_use_id": use["id"], "content": summed, "is_error": False}
    ]


async def test_a_blocked_command_and_an_unknown_tool_are_errors_the_model_reads(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    api.script(
        (
            "tools",
            [
                ("notes__run", {"command": "rm -rf build"}),
                ("notes__shred", {}),
                ("notes__run", {"command": "ls"}),
            ],
        ),
        ("answer", "{errors} failed: {results}"),
    )
    done = await orch.call(
        "ai.complete", {"prompt": "clean up", "provider": "claude", "tools": ["notes"]}
    )
    assert done["text"].startswith("2 failed: notes.run failed: ")
    assert "no recursive deletes" in done["text"]  # the rule's message
    assert "no tool named 'notes__shred' was offered (the tools: notes__echo" in done["text"]
    assert done["text"].endswith(" | would run: ls")
    assert [c["is_error"] for c in done["tool_calls"]] == [True, True, False]
    assert done["tool_calls"][1]["server"] is None


async def test_a_hanging_server_times_out_into_a_tool_error_and_the_model_goes_on(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    api.script(
        ("tools", [("slow__hang", {"seconds": 30})]),
        ("answer", "Gave up on it: {result}"),
    )
    done = await orch.call("ai.complete", {"prompt": "wait", "tools": ["slow"]})
    # OpenAI's tool message has no error flag: the text says it
    assert done["text"].startswith("Gave up on it: error: slow.hang failed: ")
    assert "'slow' did not answer tools/call hang within 1 s" in done["text"]
    assert done["finish_reason"] == "stop"
    servers = {s["name"]: s for s in await orch.call("mcp.list_servers", {})}
    assert servers["slow"]["breaker"]["failures"] == 1  # counted on its breaker


async def test_the_loop_stops_at_max_tool_rounds(orch: OrchestratorProcess, api: FakeApi) -> None:
    again = ("tools", [("notes__echo", {"text": "again"})])
    api.script(again, again, again)
    done = await orch.call(
        "ai.complete", {"prompt": "loop", "provider": "tight", "tools": ["notes"]}
    )
    assert done["finish_reason"] == "max_tool_rounds" and done["rounds"] == 3
    assert [c["text"] for c in done["tool_calls"]] == [
        "notes echo: again",
        "notes echo: again",
        "not run: max_tool_rounds (2) reached",
    ]
    assert len(api.requests) == 3


async def test_total_timeout_in_a_tool_call_names_it_and_spares_the_providers_breaker(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    await orch.call("mcp.list_tools", {"server": "notes"})  # started: its start takes no time
    api.script(("tools", [("notes__hang", {"seconds": 30})]))
    with pytest.raises(
        TimeoutError_, match=r"within 5 s \(total_timeout_s\), in the tool call notes\.hang"
    ):
        await orch.call("ai.complete", {"prompt": "wait", "provider": "brief", "tools": ["notes"]})
    listed = {p["name"]: p for p in (await orch.call("ai.providers", {}))["providers"]}
    assert listed["brief"]["breaker"]["failures"] == 0  # the tool's time, not the model's


async def test_cancel_mid_tool_ends_the_stream_and_the_server_keeps_working(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    api.script(("tools", [("notes__hang", {"seconds": 60})]))
    async with await orch.client() as client:
        stream = Stream(client)
        tool_started = asyncio.Event()
        client.on_notification("ai.tool", lambda p: tool_started.set())
        rid = (await client.call("ai.complete", {"prompt": "wait", "stream": True}))["request_id"]
        async with asyncio.timeout(30):
            await tool_started.wait()
        assert (await client.call("ai.cancel", {"request_id": rid}))["cancelled"] is True
        name, end = await stream.end(rid)
        assert name == "ai.done" and end["cancelled"] is True
        echoed = await client.call(
            "mcp.call", {"server": "notes", "tool": "echo", "arguments": {"text": "still here"}}
        )
    assert echoed["content"][0]["text"] == "notes echo: still here"
    assert len(api.requests) == 1  # the model was not asked again


async def test_providers_without_tools_say_so_and_bad_values_are_named(
    orch: OrchestratorProcess, api: FakeApi
) -> None:
    cli = await orch.call("ai.complete", {"prompt": "hi", "provider": "script", "tools": True})
    assert cli["tools"].startswith("unavailable: script takes no tools (a cli provider")
    assert cli["text"].strip() == "hi"
    plain = await orch.call("ai.complete", {"prompt": "hi", "provider": "tight"})
    assert plain["tools"] == "off" and "tools" not in api.requests[-1]["body"]
    off = await orch.call("ai.complete", {"prompt": "hi", "tools": False})
    assert off["tools"] == "off" and "tools" not in api.requests[-1]["body"]
    listed = {p["name"]: p for p in (await orch.call("ai.providers", {}))["providers"]}
    assert listed["local"]["supports_tools"] is True and listed["local"]["tools"] is True
    assert listed["claude"]["tools"] == ["notes"]
    assert listed["script"]["supports_tools"] is False and "tools" not in listed["script"]
    with pytest.raises(NotFoundError, match=r"no MCP server 'nope' \(configured: "):
        await orch.call("ai.complete", {"prompt": "hi", "tools": ["nope"]})
    with pytest.raises(InvalidArgumentError, match=r"tools must be true, false or a list .* 3"):
        await orch.call("ai.complete", {"prompt": "hi", "tools": 3})
    features = (await orch.call("system.features", {}))["features"]
    assert "ai.complete's openai and anthropic providers" in features["mcp.client"]["reason"]
    assert features["providers"]["tool_kinds"] == ["openai", "anthropic"]


def test_offered_names_fit_the_vendors_and_stay_distinct() -> None:
    taken: set[str] = set()
    first = offered_name("files", "read.note", taken)
    taken.add(first)
    assert first == "files__read_note"
    clash = offered_name("files", "read_note", taken)  # the same once sanitised
    assert clash != first and clash.startswith("files__read_note_") and len(clash) == 25
    long = offered_name("s" * 64, "t" * 128, set())
    assert len(long) == NAME_MAX
    assert long != offered_name("s" * 64, "t" * 127 + "u", set())
    assert all(c.isalnum() or c in "_-" for c in offered_name("a", "x/y z:é", set()))
