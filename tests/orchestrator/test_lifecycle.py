"""The orchestrator process's life: start, discovery, status/stop, signals, kill -9, sidecar."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orchflow_core.errors import NotFoundError, UnavailableError
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import ROOT, OrchestratorProcess, server_env


async def _cli(base: Path, tmux: str, *args: str) -> subprocess.CompletedProcess[str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            cwd=ROOT,
            env=server_env(base, tmux),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    return await asyncio.to_thread(run)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def test_sigterm_shuts_down_gracefully_and_removes_its_files(
    orch: OrchestratorProcess, private_tmux: TmuxServer
) -> None:
    # (In-flight requests finishing during the drain is RpcServer.close's job: tests/rpc.)
    agent = await orch.call("agent.create", {"type": "custom", "command": "cat"})
    client = await orch.client()
    orch.proc.send_signal(signal.SIGTERM)
    assert await orch.wait() == 0
    with pytest.raises(UnavailableError):
        await client.call("system.health")  # the connection was closed, not left hanging
    assert not orch.discovery_file.exists()
    panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id} #{pane_dead}")
    assert f"{agent['pane_id']} 0" in panes  # agents' panes keep running


async def test_status_and_stop_cli(tmp_path: Path, private_tmux: TmuxServer) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket)
    df = str(server.discovery_file)
    status = await _cli(base, private_tmux.socket, "status", "--discovery-file", df)
    assert status.returncode == 0, status.stderr
    assert f"ok (pid {server.proc.pid}, service) at {server.url}" in status.stdout
    assert server.token not in status.stdout + status.stderr
    stop = await _cli(base, private_tmux.socket, "stop", "--discovery-file", df)
    assert stop.returncode == 0, stop.stderr
    assert f"stopped (pid {server.proc.pid}, via system.shutdown)" in stop.stdout
    assert await server.wait() == 0
    after = await _cli(base, private_tmux.socket, "status", "--discovery-file", df)
    assert after.returncode == 1
    assert "not running: no orchestrator discovery file" in after.stderr


async def test_default_discovery_file_and_unix_socket(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    base = tmp_path / "h"  # short: a socket path must fit in 108 bytes
    sock = base / "runtime" / "o.sock"
    server = await OrchestratorProcess.start(base, private_tmux.socket, listen=f"unix:{sock}")
    assert server.url == f"unix:{sock}"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert (await server.call("system.health"))["status"] == "ok"
    status = await _cli(base, private_tmux.socket, "status")  # default discovery path
    assert status.returncode == 0 and f"at unix:{sock}" in status.stdout
    assert await server.stop() == 0
    assert not sock.exists() and not server.discovery_file.exists()
    # After a kill -9 the socket file stays behind; the next start replaces it.
    killed = await OrchestratorProcess.start(base, private_tmux.socket, listen=f"unix:{sock}")
    killed.proc.kill()
    await killed.wait()
    assert sock.exists()
    again = await OrchestratorProcess.start(base, private_tmux.socket, listen=f"unix:{sock}")
    assert (await again.call("system.health"))["status"] == "ok"
    assert await again.stop() == 0


async def test_memory_survives_kill_9_and_restart(
    tmp_path: Path, private_tmux: TmuxServer, project: Path
) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    async with await server.client() as client:
        for i in range(50):
            await client.call(
                "memory.store",
                {"key": f"fact-{i}", "value": {"n": i}, "namespace": "proj", "metadata": {"i": i}},
            )
        await client.call("memory.store", {"key": "note", "value": "postgres runs on port 5433"})
    server.proc.kill()
    assert await server.wait() == -signal.SIGKILL
    assert server.discovery_file.exists()  # stale: pid gone
    again = await OrchestratorProcess.start(base, private_tmux.socket, project_root=project)
    try:
        assert again.token != server.token
        async with await again.client() as client:
            entries = await client.call("memory.list", {"namespace": "proj", "limit": 100})
            assert sorted(e["value"]["n"] for e in entries) == list(range(50))
            assert entries[0]["metadata"] == {"i": entries[0]["value"]["n"]}
            hits = await client.call("memory.search", {"query": "postgress port"})
            assert hits[0]["key"] == "note"
    finally:
        await again.stop()


async def test_memory_methods(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        stored = await client.call(
            "memory.store",
            {
                "key": "db",
                "value": "use sqlite with WAL",
                "namespace": "a",
                "metadata": {"by": "me"},
            },
        )
        assert stored["namespace"] == "a" and stored["expires_at"] is None
        await client.call("memory.store", {"key": "db", "value": "other", "namespace": "b"})
        await client.call("memory.store", {"key": "tmp", "value": "soon gone", "ttl": 0.2})
        got = await client.call("memory.get", {"key": "db", "namespace": "a"})
        assert got["value"] == "use sqlite with WAL" and got["metadata"] == {"by": "me"}
        hits = await client.call("memory.search", {"query": "sqlite", "namespace": "a"})
        assert [(h["key"], h["matcher"]) for h in hits] == [("db", "fts")]
        assert len(await client.call("memory.list", {"prefix": "d"})) == 2
        await asyncio.sleep(0.3)
        with pytest.raises(NotFoundError, match=r"expired|no memory key"):
            await client.call("memory.get", {"key": "tmp"})
        deleted = await client.call("memory.delete", {"key": "db", "namespace": "b"})
        assert deleted == {"key": "db", "namespace": "b", "deleted": True}
        again = await client.call("memory.delete", {"key": "db", "namespace": "b"})
        assert again["deleted"] is False
        health = await client.call("system.health")
        assert health["memory_entries"] == 1


async def test_sidecar_exits_when_its_parent_dies(tmp_path: Path, private_tmux: TmuxServer) -> None:
    parent = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        server = await OrchestratorProcess.start(
            tmp_path / "home", private_tmux.socket, "--parent-pid", str(parent.pid)
        )
        assert server.info is not None and server.info.mode == "sidecar"
    finally:
        parent.kill()
        await parent.wait()
    assert await server.wait() == 0
    assert not server.discovery_file.exists()


async def test_second_server_on_the_same_discovery_file_is_refused(
    orch: OrchestratorProcess, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    second = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, wait_ready=False
    )
    assert await second.wait() == 1
    err = await second.stderr_text()
    assert f"an orchestrator (pid {orch.proc.pid}) already serves" in err
    assert (await orch.call("system.health"))["status"] == "ok"


async def test_without_tmux_agents_say_why_and_memory_still_works(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    base = tmp_path / "home"
    env = server_env(base, private_tmux.socket)
    _write(Path(env["ORCHFLOW_CONFIG"]), '[tmux]\nbinary = "/nonexistent/tmux"\n')
    server = await OrchestratorProcess.start(base, private_tmux.socket, env=env)
    try:
        async with await server.client() as client:
            with pytest.raises(UnavailableError, match="tmux not found"):
                await client.call("agent.create", {"type": "custom", "command": "cat"})
            features = (await client.call("system.features"))["features"]
            assert features["agents"]["status"] == "unavailable"
            assert "tmux not found" in features["agents"]["reason"]
            assert features["memory"]["status"] == "implemented"
            assert features["memory_fts"]["status"] == "implemented"
            assert features["swarm"]["status"] == "unavailable"
            assert "tmux not found" in features["swarm"]["reason"]
            assert features["executors"]["ray"].startswith(
                'unavailable: [executor] kind is "local"'
            )
            assert (await client.call("memory.store", {"key": "k", "value": 1}))["key"] == "k"
            health = await client.call("system.health")
            assert health["status"] == "degraded" and "tmux not found" in health["problems"][0]
    finally:
        await server.stop()


async def test_features_with_tmux(orch: OrchestratorProcess) -> None:
    await orch.call("agent.list")  # tmux has started
    features = (await orch.call("system.features"))["features"]
    for name in ("terminals", "agents", "sessions", "stream", "memory", "memory_fts", "metrics"):
        assert features[name]["status"] == "implemented", name
    for name in ("scheduler", "locks", "breakers"):
        assert features[name]["status"] == "implemented", name
    assert features["breakers"]["names"] == ["agent.spawn"]
    assert features["router"]["status"] == "implemented"
    assert features["swarm"]["status"] == "implemented"
    assert features["executors"]["local"] == "implemented"
    assert features["executors"]["ray"].startswith('unavailable: [executor] kind is "local"')
    assert features["mcp.client"]["status"] == "implemented"
    version = await orch.call("system.version")
    assert "agent.create" in version["methods"] and version["api"] == 1
    assert os.getpid() != (await orch.call("system.health"))["pid"]


async def test_stop_falls_back_to_sigterm_when_the_server_refuses_the_token(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    base = tmp_path / "home"
    server = await OrchestratorProcess.start(base, private_tmux.socket)
    assert server.info is not None
    forged = {**server.info.to_dict(), "token": "x" * 43}
    _write(server.discovery_file, json.dumps(forged))
    stop = await _cli(
        base, private_tmux.socket, "stop", "--discovery-file", str(server.discovery_file)
    )
    assert stop.returncode == 0, stop.stderr
    assert f"stopped (pid {server.proc.pid}, via SIGTERM)" in stop.stdout
    assert await server.wait() == 0
