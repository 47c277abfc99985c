"""OrchestratorLink against a real orchestrator process: sidecar and service modes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchflow_core import paths
from orchflow_core.errors import ConnectionLost, UnavailableError
from orchflow_core.remote import discovery
from orchflow_core.remote.link import SIDECAR_LOG, OrchestratorLink
from tests.harness.tmux import TmuxServer


@pytest.fixture
async def sidecar(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[OrchestratorLink]:
    link = OrchestratorLink("sidecar", health_interval_s=0.2)
    yield link
    await link.stop()


class Recorder:
    """The host's event bus, as the link sees it: (name, payload) in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((name, data))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for n, data in self.events if n == name]

    async def wait(self, fn: Any, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not (found := fn()):
            assert time.monotonic() < deadline, f"not within {timeout}s: {self.events[-5:]}"
            await asyncio.sleep(0.02)
        return found


async def received(link: OrchestratorLink) -> dict[tuple[str, str], float]:
    """What the running sidecar has answered, by (method, code): its own /metrics."""
    info = discovery.read(link._sidecar_discovery())
    reader, writer = await asyncio.open_unix_connection(info.url.removeprefix("unix:"))
    writer.write(
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + f"Authorization: Bearer {info.token}\r\n\r\n".encode()
    )
    raw = await reader.read()
    writer.close()
    body = raw.split(b"\r\n\r\n", 1)[1].decode()
    return {
        (s.labels["method"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(body)
        if family.name == "orchflow_orchestrator_requests"
        for s in family.samples
        if s.name.endswith("_total")
    }


async def test_embedded_mode_is_unavailable_and_says_how_to_turn_it_on() -> None:
    link = OrchestratorLink("embedded")
    with pytest.raises(UnavailableError, match="mode = 'sidecar'"):
        await link.call("system.health")
    assert (await link.status())["state"] == "off"


async def test_sidecar_starts_on_first_need_and_answers(sidecar: OrchestratorLink) -> None:
    assert (await sidecar.status())["state"] == "not started"
    health = await sidecar.call("system.health")
    assert health["status"] in ("ok", "degraded") and health["mode"] == "sidecar"
    status = await sidecar.status()
    assert status["state"] == "running" and status["pid"] == health["pid"]


async def test_a_starting_sidecar_is_awaited_and_said_once(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    """The one "still starting" wait is the link's: the first call waits for the sidecar
    (at most start_timeout_s) and the link says once that it is starting."""
    events = Recorder()
    link = OrchestratorLink("sidecar", notice_after_s=0.0, on_event=events)
    try:
        health = await link.call("system.health")
        assert events.named("orchestrator.starting") == [{"mode": "sidecar"}]
        assert health["pid"] == (await link.status())["pid"]
        await link.call("system.ping")
        assert len(events.named("orchestrator.starting")) == 1
        assert link.spawns == 1
    finally:
        await link.stop()


async def test_a_sidecar_that_cannot_start_says_why_from_its_stderr(
    isolated: Path, private_tmux: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = OrchestratorLink("sidecar", core_config={"tmux": {"nonsense": 1}})
    with pytest.raises(UnavailableError, match=r"failed to start: .*nonsense"):
        await link.call("system.health")
    assert "nonsense" in (paths.log_dir() / SIDECAR_LOG).read_text()


async def test_sidecar_stderr_goes_to_its_log_file(sidecar: OrchestratorLink) -> None:
    pid = (await sidecar.call("system.health"))["pid"]
    assert os.readlink(f"/proc/{pid}/fd/2") == str(paths.log_dir() / SIDECAR_LOG)
    assert os.stat(paths.log_dir() / SIDECAR_LOG).st_mode & 0o777 == 0o600


async def test_a_remote_unavailable_answer_is_passed_on_once_and_streams_stay_up(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    """-32003 from the orchestrator (its memory store cannot open) is the peer saying no:
    reported, never re-sent, and the connection with its stream subscriptions stays."""
    (paths.state_dir() / "memory.db").mkdir(parents=True)  # memory.db cannot open
    events = Recorder()
    link = OrchestratorLink("sidecar", on_event=events)
    try:
        agent = await link.call("agent.create", {"type": "custom", "command": "cat"})
        await link.call("stream.subscribe", {"id": agent["id"]})
        client, pid = await link.client(), (await link.call("system.health"))["pid"]
        with pytest.raises(UnavailableError) as info:
            await link.call("memory.get", {"key": "k"})
        assert not isinstance(info.value, ConnectionLost)
        assert await link.client() is client and (await link.status())["pid"] == pid
        assert (await received(link)).get(("memory.get", "-32003")) == 1.0
        await link.call("agent.send", {"id": agent["id"], "text": "still-streaming"})
        await events.wait(
            lambda: any("still-streaming" in e["data"] for e in events.named("agent.output"))
        )
        assert not events.named("agent.output_end")
    finally:
        await link.stop()


async def test_a_lost_connection_resends_reads_but_never_agent_send(
    sidecar: OrchestratorLink, private_tmux: TmuxServer
) -> None:
    """The socket dies with a request in flight (the sidecar is stopped, then killed):
    memory.list is sent again to the restarted sidecar; agent.send is not."""
    await sidecar.call("memory.store", {"key": "kept", "value": "v"})
    agent = await sidecar.call("agent.create", {"type": "custom", "command": "cat"})

    async def lose_connection_during(method: str, params: dict[str, Any]) -> Any:
        pid = (await sidecar.call("system.health"))["pid"]
        os.kill(pid, signal.SIGSTOP)  # the request reaches the socket, never an answer
        call = asyncio.ensure_future(sidecar.call(method, params))
        await asyncio.sleep(0.3)
        assert not call.done()
        os.kill(pid, signal.SIGKILL)
        try:
            return await call
        finally:
            assert (await sidecar.call("system.health"))["pid"] != pid

    entries = await lose_connection_during("memory.list", {})
    assert [e["key"] for e in entries] == ["kept"]
    assert (await received(sidecar)).get(("memory.list", "ok")) == 1.0  # the resent one

    with pytest.raises(ConnectionLost, match=r"agent\.send; it was not sent again"):
        await lose_connection_during("agent.send", {"id": agent["id"], "text": "only-once"})
    await asyncio.sleep(0.5)
    assert not [k for k in await received(sidecar) if k[0] == "agent.send"]
    assert "only-once" not in private_tmux.run("capture-pane", "-p", "-t", agent["pane_id"])


async def test_stream_ends_are_forwarded_with_their_reason(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    events = Recorder()
    link = OrchestratorLink("sidecar", on_event=events)
    try:
        first = await link.call("agent.create", {"type": "custom", "command": "cat"})
        second = await link.call("agent.create", {"type": "custom", "command": "cat"})
        for agent in (first, second):
            await link.call("stream.subscribe", {"id": agent["id"]})
        await link.call("agent.stop", {"id": first["id"]})  # the orchestrator's stream.closed
        ended = await events.wait(lambda: events.named("agent.output_end"))
        assert ended == [{"id": first["id"], "reason": "the pane is gone"}]
        os.kill((await link.call("system.health"))["pid"], signal.SIGKILL)  # the socket dies
        await events.wait(lambda: len(events.named("agent.output_end")) == 2)
        assert events.named("agent.output_end")[1] == {
            "id": second["id"],
            "reason": "the connection to the orchestrator was lost",
        }
    finally:
        await link.stop()


async def test_sidecar_killed_comes_back_within_2s_with_its_memory(
    sidecar: OrchestratorLink,
) -> None:
    for i in range(20):
        await sidecar.call("memory.store", {"key": f"k{i}", "value": f"value {i}"})
    pid = (await sidecar.call("system.health"))["pid"]
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    while True:
        try:
            health = await sidecar.call("system.health")
            if health["pid"] != pid:
                break
        except UnavailableError:
            pass
        assert time.monotonic() - t0 < 2.0, "sidecar not back within 2 s"
        await asyncio.sleep(0.05)
    assert sidecar.restarts >= 1
    entries = await sidecar.call("memory.list", {"limit": 100})
    assert sorted(e["key"] for e in entries) == sorted(f"k{i}" for i in range(20))


async def test_stop_ends_the_sidecar_process(sidecar: OrchestratorLink) -> None:
    pid = (await sidecar.call("system.health"))["pid"]
    await sidecar.stop()
    await asyncio.sleep(0.1)
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


async def test_service_mode_shares_one_orchestrator(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    discovery = isolated / "svc.json"
    proc = await asyncio.create_subprocess_exec(
        os.sys.executable,
        "-m",
        "orchestrator",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--discovery-file",
        str(discovery),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), timeout=10)  # the ready line
        a = OrchestratorLink("service", discovery_file=str(discovery))
        b = OrchestratorLink("service", discovery_file=str(discovery))
        await a.call("memory.store", {"key": "shared", "value": "from a"})
        assert (await b.call("memory.get", {"key": "shared"}))["value"] == "from a"
        assert (await b.call("system.health"))["connections"] >= 2
        await a.stop()
        await b.stop()
    finally:
        proc.terminate()
        await proc.wait()


async def test_service_mode_without_a_server_says_so(isolated: Path) -> None:
    link = OrchestratorLink("service", discovery_file=str(isolated / "none.json"))
    with pytest.raises(UnavailableError, match="is `orchflow-orchestrator serve` running"):
        await link.call("system.health")
