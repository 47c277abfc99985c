"""``orchflow-orchestrator hook``: whatever goes wrong it exits 0, prints nothing and logs
one line in hook.log (malformed JSON, an unknown agent, no orchestrator, a hung one)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from orchflow_core.rpc.client import RpcClient
from tests.orchestrator.server_process import ROOT, OrchestratorProcess
from tests.orchestrator.tui.conftest import States


async def hook(
    *args: str, stdin: bytes = b"", log_dir: Path, runtime: Path | None = None
) -> tuple[int, bytes, bytes]:
    """Run the CLI as a vendor would (console-script path: python -m orchestrator hook)."""
    env = {**os.environ, "ORCHFLOW_LOG_DIR": str(log_dir)}
    env.pop("ORCHFLOW_AGENT", None)
    if runtime is not None:
        env["ORCHFLOW_RUNTIME_DIR"] = str(runtime)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "hook",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 20)
    assert proc.returncode is not None
    return proc.returncode, out, err


def log_lines(log_dir: Path) -> list[str]:
    path = log_dir / "hook.log"
    return path.read_text().splitlines() if path.exists() else []


async def test_no_orchestrator_running_exits_0_and_logs(tmp_path: Path) -> None:
    code, out, err = await hook(
        "Stop", "--agent", "abc", stdin=b"{}", log_dir=tmp_path / "log", runtime=tmp_path / "rt"
    )
    assert (code, out, err) == (0, b"", b"")
    [line] = log_lines(tmp_path / "log")
    assert "hook Stop --agent" in line and "no orchestrator running: no discovery file" in line


async def test_unknown_agent_and_malformed_json_exit_0_and_log(
    tui_orch: OrchestratorProcess, tmp_path: Path
) -> None:
    logs = tmp_path / "hooklog"
    disc = str(tui_orch.discovery_file)
    code, out, err = await hook(
        "Stop", "--agent", "nobody", "--discovery-file", disc, stdin=b"{}", log_dir=logs
    )
    assert (code, out, err) == (0, b"", b"")
    assert "no terminal AI agent with hook id 'nobody'" in log_lines(logs)[-1]

    code, out, err = await hook(
        "Stop", "--agent", "nobody", "--discovery-file", disc, stdin=b'{"oops": ', log_dir=logs
    )
    assert (code, out, err) == (0, b"", b"")
    assert any("malformed hook JSON" in line for line in log_lines(logs))


async def test_malformed_json_still_reports_the_event(
    tui_orch: OrchestratorProcess, client: RpcClient, states: States, tmp_path: Path
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "claude"})
    await states.next(agent["id"], "idle", "hook")
    key = agent["hooks"]["id"]
    code, out, err = await hook(
        "UserPromptSubmit",
        "--agent",
        key,
        "--discovery-file",
        str(tui_orch.discovery_file),
        stdin=b"not json at all",
        log_dir=tmp_path / "log",
    )
    assert (code, out, err) == (0, b"", b"")
    working = await states.next(agent["id"], "working", "hook")
    assert working["reason"] == "hook UserPromptSubmit"
    assert "malformed hook JSON" in log_lines(tmp_path / "log")[0]
    got = await client.call("agent.get", {"id": agent["id"]})
    assert got["last_hook"]["event"] == "UserPromptSubmit" and got["hooks"]["seen"] >= 2


async def test_a_hung_orchestrator_times_out_exits_0_and_logs(tmp_path: Path) -> None:
    """Something accepts the connection and never answers: the hook gives up in time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    disc = runtime / "orchestrator.json"
    fd = os.open(disc, os.O_WRONLY | os.O_CREAT, 0o600)
    info = {"url": f"ws://127.0.0.1:{port}/", "token": "t" * 43, "pid": os.getpid()}
    os.write(fd, json.dumps(info).encode())
    os.close(fd)
    try:
        code, out, err = await hook(
            "Stop",
            "--agent",
            "a",
            "--timeout",
            "0.3",
            stdin=b"{}",
            log_dir=tmp_path / "log",
            runtime=runtime,
        )
    finally:
        listener.close()
    assert (code, out, err) == (0, b"", b"")
    [line] = log_lines(tmp_path / "log")
    assert "did not answer within 0.3s" in line


async def test_codex_notify_payload_as_last_argument(
    tui_orch: OrchestratorProcess, client: RpcClient, states: States, tmp_path: Path
) -> None:
    agent = await client.call("agent.create", {"type": "ai", "agent": "codex"})
    await states.next(agent["id"], "idle", "quiet")
    payload = json.dumps({"type": "agent-turn-complete", "last-assistant-message": "ok"})
    code, out, err = await hook(
        "notify",
        "--agent",
        agent["hooks"]["id"],
        "--discovery-file",
        str(tui_orch.discovery_file),
        payload,
        log_dir=tmp_path / "log",
    )
    assert (code, out, err) == (0, b"", b"")
    got = await client.call("agent.get", {"id": agent["id"]})
    assert got["last_hook"] == {**got["last_hook"], "event": "notify:agent-turn-complete"}
    assert got["state_source"] == "hook" and log_lines(tmp_path / "log") == []
