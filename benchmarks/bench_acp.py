"""ACP agents: session/update chunk -> forwarded to a watcher; permission request ->
agent.permission at the client.

The agent is benchmarks/acp_bench_agent.py (a scripted ACP agent, a stand-in for a paid
model); it stamps each chunk and question with ``time.monotonic()`` when it sends it.

- value: a real orchestrator process is the agent's ACP client; a WebSocket client that
  called ``agent.watch`` notes when the ``agent.update`` (or ``agent.permission``)
  carrying that stamp arrives — so recording, batching and forwarding are all in it.
- floor (same run): the ACP SDK's own client (``spawn_agent_process`` in this process)
  receiving the same agent's ``session/update`` (or ``request_permission``) directly.
- the orchestrator's RSS with 16 idle ACP agents; floor: the same process before them.
- in Neovim (a headless Neovim with orchflow in sidecar mode, its host starting the
  orchestrator): a chunk -> the agent's transcript buffer (``:Orchflow agent output``'s
  float) holds it (``nvim_buf_attach`` on_lines notes ``vim.uv.hrtime()``, CLOCK_MONOTONIC
  as ``time.monotonic``); a permission request -> the "needs input" notice
  (``vim.notify``), answered by ``vim.ui.select`` at once. Floors: the SDK's own client
  receiving the same agent's chunk or question, in the same run.

    .venv/bin/python -m benchmarks acp
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_hooks import _call, _wait
from benchmarks.bench_orchestrator import _env
from benchmarks.common import ROOT, Row, median, p95, sidecar_env, spawn_editor

CHUNKS = 400
QUESTIONS = 40
IDLE_AGENTS = 16
AGENT = [sys.executable, "-I", str(ROOT / "benchmarks" / "acp_bench_agent.py")]


def _stamps(text: str) -> list[float]:
    return [float(s) for s in text.split(";") if s]


class _FloorClient:
    """The SDK's client: notes each chunk's and question's arrival."""

    def __init__(self) -> None:
        self.chunks: list[float] = []
        self.questions: list[float] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        self.chunks += [now - t for t in _stamps(getattr(update.content, "text", ""))]

    async def request_permission(
        self, session_id: str, tool_call: Any, options: Any, **kw: Any
    ) -> Any:
        from acp.schema import AllowedOutcome, RequestPermissionResponse

        self.questions.append(time.monotonic() - float(tool_call.title))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id="ok"))


async def _floor() -> tuple[list[float], list[float]]:
    from acp import PROTOCOL_VERSION, spawn_agent_process, text_block

    client = _FloorClient()
    async with spawn_agent_process(client, *AGENT) as (conn, _proc):  # type: ignore[arg-type]
        await conn.initialize(protocol_version=PROTOCOL_VERSION)
        session = await conn.new_session(cwd=str(ROOT), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block(f"chunks {CHUNKS}")])
        await conn.prompt(session_id=session.session_id, prompt=[text_block(f"ask {QUESTIONS}")])
    return client.chunks, client.questions


def _spawn_orchestrator(base: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], Any]:
    from orchestrator import discovery

    config = base / "config" / "none.toml"
    config.write_text(f'[agents.bench]\ncommand = {json.dumps(AGENT)}\ntransport = "acp"\n')
    disc = base / "runtime" / "orchestrator.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--listen", "127.0.0.1:0",
         "--discovery-file", str(disc), "--project-root", str(ROOT)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if not proc.stdout.readline():
        raise RuntimeError("orchestrator did not start")
    return proc, discovery.read(disc)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _idle_rss(info: Any, pid: int) -> tuple[float, float]:
    """The orchestrator's RSS before and with IDLE_AGENTS idle ACP agents (the agents'
    own processes are separate)."""
    from orchflow_core.rpc.client import RpcClient

    async with await RpcClient.connect(info.url, info.token) as client:
        await client.call("system.health")
        before = _rss_mb(pid)
        idle = asyncio.Event()
        ready: set[str] = set()

        def on_state(params: Any) -> None:
            if params["state"] == "idle":
                ready.add(params["id"])
                if len(ready) == IDLE_AGENTS:
                    idle.set()

        client.on_notification("agent.state", on_state)
        await client.call("agent.watch", {})
        made = [
            await client.call("agent.create", {"type": "ai", "agent": "bench", "worktree": False})
            for _ in range(IDLE_AGENTS)
        ]
        async with asyncio.timeout(120):
            await idle.wait()
        await asyncio.sleep(1.0)  # settled
        after = _rss_mb(pid)
        for agent in made:
            await client.call("agent.stop", {"id": agent["id"]})
    return after, before


async def _orchestrated(info: Any) -> tuple[list[float], list[float]]:
    from orchflow_core.rpc.client import RpcClient

    chunks: list[float] = []
    questions: list[float] = []
    done, idle = asyncio.Event(), asyncio.Event()
    client = await RpcClient.connect(info.url, info.token)
    async with client:

        def on_update(params: Any) -> None:
            now = time.monotonic()
            for u in params["updates"]:
                if u["kind"] == "message":
                    chunks.extend(now - t for t in _stamps(u["text"].strip()))
                if u["kind"] == "turn_end":
                    done.set()

        def on_state(params: Any) -> None:
            if params["state"] == "idle":
                idle.set()

        async def on_permission(params: Any) -> None:
            questions.append(time.monotonic() - float(params["title"]))
            await client.call(
                "agent.answer",
                {"id": params["id"], "request_id": params["request_id"], "option_id": "ok"},
            )

        client.on_notification("agent.update", on_update)
        client.on_notification("agent.state", on_state)
        client.on_notification("agent.permission", on_permission)
        await client.call("agent.watch", {})
        agent = await client.call(
            "agent.create", {"type": "ai", "agent": "bench", "worktree": False}
        )
        async with asyncio.timeout(30):
            await idle.wait()
        for text in (f"chunks {CHUNKS}", f"ask {QUESTIONS}"):
            done.clear()
            await client.call("agent.prompt", {"id": agent["id"], "text": text})
            async with asyncio.timeout(120):
                await done.wait()
        await client.call("agent.stop", {"id": agent["id"]})
    return chunks, questions


NVIM_SETUP = """
_G.calls, _G.chunks, _G.notices, _G.idle = {}, {}, {}, false
_G.call = function(key, method, params)
  require('orchflow.host').call(method, params, function(err, res)
    _G.calls[key] = err and { error = tostring(err.message or err) } or { result = res }
  end)
end
local now = function() return vim.uv.hrtime() / 1e9 end
vim.notify = function(msg)
  local stamp = tostring(msg):match('needs input: ([%d%.]+)')
  if stamp then table.insert(_G.notices, now() - tonumber(stamp)) end
end
vim.ui.select = function(items, opts, on_choice) on_choice(items[1]) end
require('orchflow.events').on('agent.turn', function() _G.idle = true end)
_G.follow = function(agent)
  local win = require('orchflow.ai').output(agent)
  local buf = vim.api.nvim_win_get_buf(win)
  local seen = 0
  vim.api.nvim_buf_attach(buf, false, { on_lines = function(_, b)
    local t = now()
    local text = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\\n')
    local n = 0
    for stamp in text:gmatch('(%d+%.%d+);') do
      n = n + 1
      if n > seen then table.insert(_G.chunks, t - tonumber(stamp)) end
    end
    seen = n
  end })
end
"""


def _in_neovim() -> tuple[list[float], list[float]]:
    """(chunk -> transcript buffer, question -> notice) in a headless Neovim, seconds."""
    base, env, socket = sidecar_env(
        "acp-nvim", f'[agents.bench]\ncommand = {json.dumps(AGENT)}\ntransport = "acp"\n'
    )
    nvim = spawn_editor(env, cwd=base)
    try:
        nvim.exec_lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
        nvim.exec_lua(NVIM_SETUP)
        agent = _call(nvim, "new", "agent.new", {"type": "ai", "agent": "bench"})
        _wait(lambda: _call(nvim, f"get-{time.monotonic()}", "agent.get", {"id": agent["id"]})
              ["state"] == "idle")  # fmt: skip
        nvim.exec_lua("_G.follow(...)", {"id": agent["id"], "name": agent["name"]})
        for i, text in enumerate((f"chunks {CHUNKS}", f"ask {QUESTIONS}")):
            nvim.exec_lua("_G.idle = false")
            _call(nvim, f"prompt-{i}", "agent.prompt", {"id": agent["id"], "text": text})
            _wait(lambda: nvim.exec_lua("return _G.idle"), timeout=120)
        chunks = list(nvim.exec_lua("return _G.chunks"))
        notices = list(nvim.exec_lua("return _G.notices"))
        _call(nvim, "stop", "agent.stop", {"id": agent["id"]})
        if len(chunks) != CHUNKS or len(notices) != QUESTIONS:
            raise RuntimeError(
                f"Neovim saw {len(chunks)}/{CHUNKS} chunks, {len(notices)}/{QUESTIONS} notices"
            )
    finally:
        nvim.close()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
    return chunks, notices


async def _measure(info: Any, pid: int, in_neovim: tuple[list[float], list[float]]) -> list[Row]:
    rss, rss_floor = await _idle_rss(info, pid)
    floor_chunks, floor_questions = await _floor()
    chunks, questions = await _orchestrated(info)
    in_buffer, notices = in_neovim
    ms = 1000.0
    sdk = "the ACP SDK's own client receiving it from the same agent"
    return [
        Row("acp: session/update chunk -> agent buffer in Neovim (median)",
            median(in_buffer) * ms, "ms", median(floor_chunks) * ms, sdk, "<= 20 ms"),
        Row("acp: session/update chunk -> agent buffer in Neovim (p95)", p95(in_buffer) * ms,
            "ms", p95(floor_chunks) * ms, sdk),
        Row("acp: request_permission -> notice in Neovim (median)", median(notices) * ms,
            "ms", median(floor_questions) * ms, sdk, "<= 300 ms"),
        Row("acp: request_permission -> notice in Neovim (p95)", p95(notices) * ms,
            "ms", p95(floor_questions) * ms, sdk),
        Row("acp: session/update chunk -> agent.update (median)", median(chunks) * ms, "ms",
            median(floor_chunks) * ms, sdk, "<= 20 ms"),
        Row("acp: session/update chunk -> agent.update (p95)", p95(chunks) * ms, "ms",
            p95(floor_chunks) * ms, sdk),
        Row("acp: request_permission -> agent.permission (median)", median(questions) * ms,
            "ms", median(floor_questions) * ms, sdk, "notice <= 300 ms"),
        Row(f"acp: orchestrator RSS with {IDLE_AGENTS} idle ACP agents", rss, "MB", rss_floor,
            "the same orchestrator before the agents started", "<= 120 MB"),
    ]  # fmt: skip


def run() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-acp-"))
    tmux_socket = f"orchflow-bench-acp-{os.getpid()}"
    in_neovim = _in_neovim()  # pynvim runs on the main thread, outside asyncio.run
    proc, info = _spawn_orchestrator(base, _env(base, tmux_socket))
    try:
        return asyncio.run(_measure(info, proc.pid, in_neovim))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True, check=False)


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
