"""ai.complete / ai.cancel / ai.providers through a real orchestrator process, its
providers pointed at the fake API (fake_api.py: a stand-in for paid model APIs that
speaks their wire formats), a real CLI script and the scripted ACP agent."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import NOT_BUILT
from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import SCRIPT as ACP_SCRIPT
from tests.orchestrator.providers.fake_api import MODEL, FakeApi
from tests.orchestrator.server_process import OrchestratorProcess, server_env
from tests.rpc.wire import http_get

WRONG_KEY = "sk-test-WRONG-0123456789abcdefXYZ"
CLI = "import sys; sys.stdout.write('cli: ' + sys.stdin.read())"


def providers_toml(api: FakeApi) -> str:
    acp = json.dumps([sys.executable, "-I", str(ACP_SCRIPT)])
    cli = json.dumps([sys.executable, "-c", CLI])
    return f"""
[log]
level = "debug"

[ai]
default_provider = "local"

[providers.local]
kind = "openai"
base_url = "{api.url}/v1"
model = "{MODEL}"

[providers.claude]
kind = "anthropic"
base_url = "{api.url}"
model = "{MODEL}"
api_key_env = "ORCHFLOW_TEST_KEY"
max_retries = 0

[providers.flaky]
kind = "openai"
base_url = "{api.url}/v1"
model = "{MODEL}"
max_retries = 0
breaker_failures = 2

[providers.script]
kind = "cli"
command = {cli}

[providers.agent]
kind = "acp"
agent = "scripted"

[agents.scripted]
command = {acp}
transport = "acp"
"""


@pytest.fixture
async def ai_orch(
    tmp_path: Path, private_tmux: TmuxServer, api: FakeApi
) -> AsyncIterator[OrchestratorProcess]:
    base = tmp_path / "home"
    env = server_env(base, private_tmux.socket, ORCHFLOW_TEST_KEY=WRONG_KEY)
    config = Path(env["ORCHFLOW_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(providers_toml(api))
    root = tmp_path / "project"
    root.mkdir()
    server = await OrchestratorProcess.start(base, private_tmux.socket, env=env, project_root=root)
    try:
        yield server
    finally:
        await server.stop()


class Stream:
    """ai.delta / ai.done / ai.error notifications of one connection."""

    def __init__(self, client: RpcClient) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        for name in ("ai.delta", "ai.done", "ai.error"):
            client.on_notification(name, self._keep(name))

    def _keep(self, name: str) -> Any:
        def keep(params: Any) -> None:
            self.seen.append((name, params))
            self.changed.set()

        return keep

    async def end(self, request_id: str, *, within: float = 30.0) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(within):
            while True:
                for name, params in self.seen:
                    if name != "ai.delta" and params["request_id"] == request_id:
                        return name, params
                self.changed.clear()
                await self.changed.wait()

    async def first_delta(self, request_id: str) -> None:
        async with asyncio.timeout(30):
            while not self.deltas(request_id):
                self.changed.clear()
                await self.changed.wait()

    def deltas(self, request_id: str) -> str:
        return "".join(
            p["text"] for n, p in self.seen if n == "ai.delta" and p["request_id"] == request_id
        )


async def test_complete_plain_and_streamed(ai_orch: OrchestratorProcess) -> None:
    async with await ai_orch.client() as client:
        done = await client.call("ai.complete", {"prompt": "hi"})
        assert done["text"] == "Hello, world"
        assert (done["provider"], done["model"]) == ("local", MODEL)
        assert done["usage"] == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
        stream = Stream(client)
        started = await client.call("ai.complete", {"prompt": "hi", "stream": True})
        assert started["provider"] == "local" and len(started["request_id"]) == 32
        name, end = await stream.end(started["request_id"])
        assert name == "ai.done" and end["cancelled"] is False
        assert end["text"] == "Hello, world" == stream.deltas(started["request_id"])
        assert end["usage"]["total_tokens"] == 10


async def test_cancel_mid_stream(ai_orch: OrchestratorProcess, api: FakeApi) -> None:
    api.script(("hold", ["first"]))
    async with await ai_orch.client() as client:
        stream = Stream(client)
        rid = (await client.call("ai.complete", {"prompt": "hi", "stream": True}))["request_id"]
        await stream.first_delta(rid)
        assert await client.call("ai.cancel", {"request_id": rid}) == {
            "request_id": rid,
            "cancelled": True,
        }
        name, end = await stream.end(rid)
        assert name == "ai.done" and end["cancelled"] is True and end["text"] == "first"
        again = await client.call("ai.cancel", {"request_id": rid})
        assert again["cancelled"] is False


async def test_wrong_key_never_reaches_errors_notifications_or_the_log(
    ai_orch: OrchestratorProcess, api: FakeApi
) -> None:
    api.script(("check_key", "right-key"), ("check_key", "right-key"))
    async with await ai_orch.client() as client:
        with pytest.raises(PermissionDeniedError) as err:
            await client.call("ai.complete", {"prompt": "hi", "provider": "claude"})
        assert "refused the key in $ORCHFLOW_TEST_KEY (HTTP 401" in err.value.message
        assert WRONG_KEY not in str(err.value.to_dict())
        stream = Stream(client)
        rid = (
            await client.call("ai.complete", {"prompt": "hi", "provider": "claude", "stream": True})
        )["request_id"]
        name, end = await stream.end(rid)
        assert name == "ai.error" and end["error"]["code"] == PermissionDeniedError.code
        assert WRONG_KEY not in json.dumps(end)
        listed = await client.call("ai.providers")
        assert WRONG_KEY not in json.dumps(listed)
    assert api.requests[0]["headers"]["x-api-key"] == WRONG_KEY  # it was sent, to the API only
    log = ai_orch.log_file.read_text()
    assert "refused the key" in log  # the failure is logged ...
    assert WRONG_KEY not in log and WRONG_KEY[:12] not in log  # ... the key is not


async def test_500s_open_the_breaker_in_health_and_metrics(
    ai_orch: OrchestratorProcess, api: FakeApi
) -> None:
    api.script(("status", 500, {}), ("status", 500, {}))
    async with await ai_orch.client() as client:
        for _ in range(2):
            with pytest.raises(BackendError, match=r"HTTP 500"):
                await client.call("ai.complete", {"prompt": "x", "provider": "flaky"})
        with pytest.raises(UnavailableError, match=r"circuit breaker 'provider\.flaky' is open"):
            await client.call("ai.complete", {"prompt": "x", "provider": "flaky"})
        with pytest.raises(UnavailableError, match=r"circuit breaker 'provider\.flaky' is open"):
            await client.call("ai.complete", {"prompt": "x", "provider": "flaky", "stream": True})
        health = await client.call("system.health")
        assert health["breakers"]["provider.flaky"]["state"] == "open"
        assert any(p.startswith("breaker provider.flaky: open") for p in health["problems"])
        flaky = next(
            p for p in (await client.call("ai.providers"))["providers"] if p["name"] == "flaky"
        )
        assert flaky["breaker"]["state"] == "open"
    status, body = await http_get(
        ai_orch.port,
        [f"Host: 127.0.0.1:{ai_orch.port}", f"Authorization: Bearer {ai_orch.token}"],
        path="/metrics",
        upgrade=False,
    )
    text = body.decode()
    assert status == 200
    assert 'orchflow_orchestrator_breaker_state{breaker="provider.flaky",state="open"} 1.0' in text
    assert (
        'orchflow_orchestrator_breaker_state{breaker="provider.local",state="closed"} 1.0' in text
    )


async def test_providers_list_and_features(ai_orch: OrchestratorProcess) -> None:
    async with await ai_orch.client() as client:
        listed = await client.call("ai.providers")
        features = (await client.call("system.features"))["features"]
    assert listed["default"] == "local" and listed["error"] is None
    by_name = {p["name"]: p for p in listed["providers"]}
    assert sorted(by_name) == ["agent", "claude", "flaky", "local", "script"]
    assert by_name["claude"]["api_key_env"] == "ORCHFLOW_TEST_KEY"
    assert by_name["claude"]["api_key_set"] is True
    assert by_name["local"]["breaker"]["state"] == "closed"
    assert by_name["script"]["status"] == "configured" and by_name["agent"]["unavailable"] is None
    row = features["providers"]
    assert row["status"] == "implemented"
    assert row["kinds"] == ["openai", "anthropic", "cli", "acp"]
    assert row["configured"] == ["agent", "claude", "flaky", "local", "script"]
    assert "providers" not in NOT_BUILT


async def test_cli_and_acp_providers_over_rpc(ai_orch: OrchestratorProcess) -> None:
    async with await ai_orch.client() as client:
        cli = await client.call("ai.complete", {"prompt": "hi", "provider": "script"})
        assert cli["text"] == "cli: hi"
        stream = Stream(client)
        rid = (
            await client.call(
                "ai.complete", {"prompt": "hello", "provider": "agent", "stream": True}
            )
        )["request_id"]
        name, end = await stream.end(rid, within=60)
        assert name == "ai.done", end
        assert end["text"] == "Hello there." == stream.deltas(rid)
        assert end["finish_reason"] == "end_turn"
        assert end["usage"]["total_tokens"] == 1500
        agents = await client.call("agent.list")
        assert not [a for a in agents if a.get("name", "").startswith("provider-")]


async def test_bad_parameters_are_named(ai_orch: OrchestratorProcess) -> None:
    async with await ai_orch.client() as client:
        with pytest.raises(InvalidArgumentError, match="prompt is empty"):
            await client.call("ai.complete", {"prompt": " "})
        with pytest.raises(NotFoundError, match=r"no provider 'nope' \(configured: agent, claude"):
            await client.call("ai.complete", {"prompt": "x", "provider": "nope"})
        with pytest.raises(InvalidArgumentError, match="unknown parameter 'temperature'"):
            await client.call("ai.complete", {"prompt": "x", "temperature": 1})
        with pytest.raises(InvalidArgumentError, match="parameter 'stream' must be bool"):
            await client.call("ai.complete", {"prompt": "x", "stream": "yes"})
        with pytest.raises(InvalidArgumentError, match=r"no mode 'nope'; known modes: .*tdd"):
            await client.call("ai.complete", {"prompt": "x", "mode": "nope"})


async def test_a_mode_puts_its_preamble_before_the_prompt(
    ai_orch: OrchestratorProcess, api: FakeApi
) -> None:
    """Named in the call, or the one active in the orchestrator's project: its preamble
    reaches the provider (the request body the stand-in server received)."""

    def sent() -> str:
        return json.dumps(api.requests[-1]["body"])

    async with await ai_orch.client() as client:
        await client.call("ai.complete", {"prompt": "add a parser", "mode": "tdd"})
        assert "test-driven development" in sent() and "add a parser" in sent()
        await client.call("ai.complete", {"prompt": "plain"})
        assert "test-driven development" not in sent()
        await client.call("mode.activate", {"name": "debug"})
        await client.call("ai.complete", {"prompt": "why does it crash"})
        debug = await client.call("mode.current")
        first_line = debug["mode"]["preamble"].strip().splitlines()[0]
        assert json.dumps(first_line)[1:-1] in sent() and "why does it crash" in sent()


def _agent_children(parent: int) -> list[int]:
    """Pids of the scripted ACP agent started by ``parent`` (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) == parent and str(ACP_SCRIPT) in cmdline and stat[0] != "Z":
            out.append(int(entry.name))
    return out


async def test_cancelling_an_acp_completion_stops_its_agent(ai_orch: OrchestratorProcess) -> None:
    async with await ai_orch.client() as client:
        stream = Stream(client)
        rid = (
            await client.call(
                "ai.complete", {"prompt": "wait", "provider": "agent", "stream": True}
            )
        )["request_id"]
        async with asyncio.timeout(30):
            while not _agent_children(ai_orch.proc.pid):  # noqa: ASYNC110 - no event for a pid
                await asyncio.sleep(0.05)
        assert (await client.call("ai.cancel", {"request_id": rid}))["cancelled"] is True
        name, end = await stream.end(rid)
        assert name == "ai.done" and end["cancelled"] is True
        async with asyncio.timeout(30):
            while _agent_children(ai_orch.proc.pid):  # noqa: ASYNC110 - no event for a pid
                await asyncio.sleep(0.05)
