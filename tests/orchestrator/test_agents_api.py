"""Agents, streams and sessions through a real orchestrator process and a private tmux."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess
from tests.rpc.waiting import Collector


async def _until(client: RpcClient, agent_id: str, pred: Any, *, within: float = 20.0) -> Any:
    """Poll agent.get until ``pred(agent)`` (bounded); returns the agent."""
    async with asyncio.timeout(within):
        while True:
            agent = await client.call("agent.get", {"id": agent_id})
            if pred(agent):
                return agent
            await asyncio.sleep(0.1)


async def test_test_agent_runs_the_detected_pytest(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    async with await orch.client() as client:
        agent = await client.call("agent.create", {"type": "test"})
        assert agent["command"] == "pytest" and agent["cwd"] == str(project)
        assert "pyproject.toml" in agent["source"] and agent["name"] == "test-1"
        assert agent["state"] == "idle" and agent["owner"].startswith("orchestrator:")
        done = await _until(client, agent["id"], lambda a: a["state"] == "exited")
        assert done["exit_code"] == 0
        output = await client.call("agent.output", {"id": "test-1", "lines": 50})
        assert "1 passed" in output["text"]
        listed = await client.call("agent.list")
        assert [a["id"] for a in listed] == [agent["id"]]
        with pytest.raises(ConflictError, match="has exited"):
            await client.call("agent.send", {"id": agent["id"], "text": "more"})
    # The pane is a real tmux pane, tagged as a test pane.
    panes = private_tmux.run(
        "list-panes", "-a", "-F", "#{pane_id} #{@orchflow_type} #{@orchflow_name}"
    )
    assert f"{agent['pane_id']} test test-1" in panes


async def test_send_comes_back_as_stream_output(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        agent = await client.call(
            "agent.create", {"type": "custom", "command": "cat", "name": "echoer"}
        )
        outputs = Collector()
        client.on_notification("stream.output", outputs)
        sub = await client.call("stream.subscribe", {"id": "echoer"})
        assert sub == {
            "id": agent["id"],
            "kind": "agent",
            "pane_id": agent["pane_id"],
            "already": False,
        }
        sent = await client.call("agent.send", {"id": agent["id"], "text": "héllo orchflow"})
        assert sent["sent"] == len("héllo orchflow")
        async with asyncio.timeout(10):
            while "héllo orchflow" not in "".join(o["data"] for o in outputs.items):
                await outputs.wait_for(len(outputs.items) + 1)
        assert {o["id"] for o in outputs.items} == {agent["id"]}
        # cat is alive and waiting: quiet once it printed nothing for 0.3 s (the server's
        # --agent-idle-after); its pane's state is idle all along.
        idle = await _until(client, agent["id"], lambda a: a["activity"] == "quiet")
        assert (idle["state"], idle["exit_code"]) == ("idle", None)
        assert idle["last_output_at"] is not None
        assert (await client.call("stream.unsubscribe", {"id": agent["id"]}))["unsubscribed"]
        count = len(outputs.items)
        await client.call("agent.send", {"id": agent["id"], "text": "after unsubscribe"})
        await asyncio.sleep(0.3)
        assert len(outputs.items) == count


async def test_stream_of_a_plain_pane_and_cleanup_on_disconnect(orch: OrchestratorProcess) -> None:
    async with await orch.client() as client:
        agent = await client.call("agent.create", {"type": "custom", "command": "cat"})
        # A pane reference (tmux id) works as well as an agent id.
        sub = await client.call("stream.subscribe", {"id": agent["pane_id"]})
        assert sub["id"] == agent["id"]
        again = await client.call("stream.subscribe", {"id": agent["id"]})
        assert again["already"] is True
        with pytest.raises(NotFoundError, match="no agent or pane 'ghost'"):
            await client.call("stream.subscribe", {"id": "ghost"})
    # The connection is gone; its subscription too, and the server carries on.
    async with await orch.client() as client:
        assert (await client.call("agent.send", {"id": agent["id"], "text": "x"}))["sent"] == 1


async def test_agent_types_without_a_command_say_why(
    orch: OrchestratorProcess, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    async with await orch.client() as client:
        with pytest.raises(InvalidArgumentError) as info:
            await client.call("agent.create", {"type": "build", "cwd": str(empty)})
        assert info.value.message.startswith("no build command found: ")
        assert str(empty) in info.value.message and info.value.data["param"] == "command"
        with pytest.raises(InvalidArgumentError, match="custom agents have no default command"):
            await client.call("agent.create", {"type": "custom"})
        with pytest.raises(InvalidArgumentError, match="type must be one of dev, test"):
            await client.call("agent.create", {"type": "wizard"})
        with pytest.raises(InvalidArgumentError, match="is not a directory"):
            await client.call("agent.create", {"type": "custom", "command": "cat", "cwd": "/nope"})
        assert await client.call("agent.list") == []


async def test_states_and_stop(orch: OrchestratorProcess, private_tmux: TmuxServer) -> None:
    async with await orch.client() as client:
        agent = await client.call(
            "agent.create", {"type": "custom", "command": "sh -c 'echo started; sleep 0.5; exit 3'"}
        )
        assert agent["state"] == "idle"
        exited = await _until(client, agent["id"], lambda a: a["state"] == "exited")
        assert (exited["exit_code"], exited["activity"]) == (3, None)
        stopped = await client.call("agent.stop", {"id": agent["id"]})
        assert stopped["stopped"] is True and stopped["state"] == "closed"
        assert await client.call("agent.list") == []
        with pytest.raises(NotFoundError, match="no agent"):
            await client.call("agent.get", {"id": agent["id"]})
    panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id}")
    assert agent["pane_id"] not in panes.split()


async def test_agents_outlive_the_orchestrator_and_are_reattached(
    orch: OrchestratorProcess, private_tmux: TmuxServer, tmp_path: Path, project: Path
) -> None:
    agent = await orch.call("agent.create", {"type": "repl", "command": "cat", "name": "keeper"})
    assert await orch.stop() == 0
    assert not orch.discovery_file.exists()
    panes = private_tmux.run("list-panes", "-a", "-F", "#{pane_id} #{pane_dead}")
    assert f"{agent['pane_id']} 0" in panes  # still running in tmux
    again = await OrchestratorProcess.start(
        tmp_path / "home", private_tmux.socket, project_root=project
    )
    try:
        listed = await again.call("agent.list")
        assert [(a["id"], a["name"], a["type"], a["command"]) for a in listed] == [
            (agent["id"], "keeper", "repl", "cat")
        ]
        assert listed[0]["state"] != "exited"
    finally:
        await again.stop()


async def test_session_save_and_restore(
    orch: OrchestratorProcess, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    async with await orch.client() as client:
        made = await client.call("session.create", {"name": "work", "cwd": str(work)})
        assert made["name"] == "work"
        with pytest.raises(ConflictError):
            await client.call("session.create", {"name": "work"})
        agent = await client.call(
            "agent.create",
            {
                "type": "dev",
                "command": "cat",
                "name": "server",
                "cwd": str(work),
                "session": "work",
            },
        )
        sessions = await client.call("session.list")
        assert [p["name"] for s in sessions if s["name"] == "work" for p in s["panes"]] == [
            "server"
        ]
        saved = await client.call("session.save", {"name": "work"})
        assert saved["panes"] == [
            {
                "type": "dev",
                "name": "server",
                "cwd": str(work),
                "command": "cat",
                "last_command": None,
                "agent_type": "dev",
            }
        ]
        with pytest.raises(ConflictError, match="exists already"):
            await client.call("session.restore", {"name": "work"})
        private_tmux.run("kill-session", "-t", "work")
        restored = await client.call("session.restore", {"name": "work"})
        assert restored["session"] == "work"
        [pane] = restored["panes"]
        assert (pane["agent"], pane["name"], pane["cwd"], pane["command"]) == (
            True,
            "server",
            str(work),
            "cat",
        )
        assert pane["id"] != agent["id"]
        listed = await client.call("agent.list")
        assert [(a["name"], a["session"], a["type"]) for a in listed] == [("server", "work", "dev")]
        assert [s["name"] for s in await client.call("session.saved")] == ["work"]
        with pytest.raises(NotFoundError, match="no saved session 'other'"):
            await client.call("session.restore", {"name": "other"})
    out = private_tmux.run(
        "list-panes", "-s", "-t", "work", "-F", "#{@orchflow_name}|#{pane_current_path}"
    )
    assert f"server|{work}" in out


async def test_session_create_without_cwd_starts_in_the_project_not_the_process_cwd(
    orch: OrchestratorProcess, private_tmux: TmuxServer, project: Path
) -> None:
    """The process runs elsewhere (a sidecar in the runtime dir; this one in the checkout)."""
    async with await orch.client() as client:
        await client.call("session.create", {"name": "here"})
    cwd = private_tmux.run("display-message", "-p", "-t", "here:", "#{pane_current_path}")
    assert Path(cwd.strip()).resolve() == project.resolve()


async def _file_bytes(path: Path, size: int, *, within: float = 10.0) -> bytes:
    """The file's bytes once it holds ``size`` of them (bounded wait: a reader in another
    process writes it, there is nothing to await)."""
    async with asyncio.timeout(within):
        while not path.exists() or path.stat().st_size < size:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return path.read_bytes()


async def _raw_reader(client: RpcClient, command: str) -> dict[str, Any]:
    """An agent whose terminal is in raw mode (no echo, no line editing, no signals, no
    CR->NL) once it printed "ready"."""
    agent = await client.call(
        "agent.create",
        {"type": "custom", "command": f"sh -c 'stty raw -echo; echo ready; {command}'"},
    )
    async with asyncio.timeout(10):  # output of another process: nothing to await
        while True:
            output = await client.call("agent.output", {"id": agent["id"]})
            if "ready" in output["text"]:
                return agent
            await asyncio.sleep(0.05)


async def test_send_with_enter_presses_the_enter_key(
    orch: OrchestratorProcess, tmp_path: Path
) -> None:
    out = tmp_path / "od.txt"
    async with await orch.client() as client:
        agent = await _raw_reader(client, f"head -c 6 | od -c > {out}")
        sent = await client.call("agent.send", {"id": agent["id"], "text": "hello", "enter": True})
        assert sent == {"id": agent["id"], "sent": 5, "enter": True}
        await _until(client, agent["id"], lambda a: a["state"] == "exited")
    dump = out.read_text()
    assert re.search(r"h\s+e\s+l\s+l\s+o\s+\\r", dump), dump  # Enter is CR, not a pasted LF


HOSTILE = (
    'it\'s "quoted"; $(touch pwned) `id` & | > < * ? ~ #x\n-n --help -- \\ '
    + "".join(chr(c) for c in range(0x20))
    + "\x7f\x1b[A\x1b]0;title\x07 é漢字🙂\u200b"
    + "x" * 5000
)


# Short plain ASCII goes as ``send-keys -l`` (a leading "-" must not be an option), the rest
# through a paste buffer (control bytes, NUL, Unicode, 5 KB): both paths, in this order.
SHORT = "-n --help; $(touch pwned) `id` 'q' \"d\" \\ #{pane_id} ~ *"


async def test_hostile_text_arrives_byte_exact(
    orch: OrchestratorProcess, tmp_path: Path, project: Path
) -> None:
    out = tmp_path / "bytes.bin"
    payload = SHORT.encode() + HOSTILE.encode()
    assert len(HOSTILE.encode()) > 5000
    async with await orch.client() as client:
        agent = await _raw_reader(client, f"head -c {len(payload)} > {out}")
        for text in (SHORT, HOSTILE):
            sent = await client.call(
                "agent.send", {"id": agent["id"], "text": text, "enter": False}
            )
            assert sent["sent"] == len(text)
        got = await _file_bytes(out, len(payload))
    assert got == payload
    assert not (project / "pwned").exists()  # the agent's cwd: nothing was run
