"""OrchestratorLink against a real orchestrator process: sidecar and service modes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.errors import UnavailableError
from orchflow_core.remote.link import OrchestratorLink
from tests.harness.tmux import TmuxServer


@pytest.fixture
async def sidecar(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[OrchestratorLink]:
    link = OrchestratorLink("sidecar", ready_timeout_s=5.0, health_interval_s=0.2)
    yield link
    await link.stop()


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


async def test_a_slow_sidecar_is_left_starting_and_the_next_call_uses_it(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    link = OrchestratorLink("sidecar", ready_timeout_s=0.0)  # 50 ms: no start is that fast
    try:
        with pytest.raises(UnavailableError, match="still starting"):
            await link.call("system.health")
        first = (await link.status())["pid"]
        t0 = time.monotonic()
        while True:
            try:
                health = await link.call("system.health")
                break
            except UnavailableError as exc:
                assert "still starting" in exc.message
                assert time.monotonic() - t0 < 10.0, "sidecar never became ready"
        assert health["pid"] == first == (await link.status())["pid"]  # one process, not two
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
