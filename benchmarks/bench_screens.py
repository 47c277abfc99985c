"""Real agent CLIs: reading their screens, and a real adapter's login error through orchflow.

- screen text: the captured byte streams of Claude Code, Codex, Gemini CLI and opencode
  (tests/orchestrator/tui/real_screens) read as text in 4 KiB chunks (screen_text.py), and
  the whole per-chunk work of a terminal agent (text + the shipped patterns + state); floors
  (same run): the same chunks through an incremental UTF-8 decoder alone, and through the
  escape stripping terminal agents did before (which lost Claude Code's word spacing).
- login error: ``agent.create`` of the real codex-acp (no credentials) through a real
  orchestrator until ``agent.get`` says ``error`` with the login reason; floor: the same
  adapter's ``initialize`` + ``session/new`` answered over raw pipes from this process.
  Skipped (no row) when .ci/real-agents has not installed the adapters.

    .venv/bin/python -m benchmarks screens
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Row, median
from orchestrator.agents import registry
from orchestrator.agents.hook_wiring import Wiring
from orchestrator.agents.screen_text import ScreenText
from orchestrator.agents.terminal_ai import TerminalAiAgent

SCREENS = ROOT / "tests" / "orchestrator" / "tui" / "real_screens"
AGENTS = Path(os.environ.get("ORCHFLOW_REAL_AGENTS", Path.home() / ".cache/orchflow-ci/agents"))
CHUNK = 4096
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*([@-~])")  # the former terminal_ai.clean, as a floor
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_ESC = re.compile(r"\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
PASSES = 30
LOGIN_RUNS = 5


def _chunks() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(SCREENS.glob("*.raw")):
        data = path.read_bytes()
        vendor = path.name.split("-", 1)[0]
        out += [(vendor, data[i : i + CHUNK]) for i in range(0, len(data), CHUNK)]
    return out


def _time(fn: Any) -> float:
    times = []
    for _ in range(PASSES):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


async def _agents_pass(chunks: list[tuple[str, bytes]], specs: dict[str, Any]) -> None:
    agents: dict[str, TerminalAiAgent] = {}
    for vendor, chunk in chunks:
        agent = agents.get(vendor)
        if agent is None:
            agent = agents[vendor] = TerminalAiAgent(
                pane="p",
                pane_id="%1",
                name=vendor,
                spec=specs[vendor],
                key="k",
                wiring=Wiring("none"),
                publish=lambda method, params: None,
            )
        agent.data(chunk)
    for agent in agents.values():
        agent.close()


def _screen_rows() -> list[Row]:
    chunks = _chunks()
    size_kib = sum(len(c) for _, c in chunks) / 1024

    def decode() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for _, chunk in chunks:
            decoder.decode(chunk)

    def strip() -> None:  # what terminal agents did before screen_text.py: drop escapes
        for _, chunk in chunks:
            text = _OSC.sub("", chunk.decode("utf-8", "replace"))
            text = _CSI.sub(lambda m: " " if m.group(1) == "C" else "", text)
            _ESC.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))

    def screen() -> None:
        text = ScreenText()
        for _, chunk in chunks:
            text.feed(chunk)

    specs = registry.load()

    def agents() -> None:
        asyncio.run(_agents_pass(chunks, specs))

    floor = _time(decode) / size_kib * 1e6
    before = _time(strip) / size_kib * 1e6
    return [
        Row(
            f"real TUI streams as text ({size_kib:.0f} KiB)",
            _time(screen) / size_kib * 1e6,
            "us/KiB",
            floor,
            "UTF-8 decode alone",
        ),
        Row(
            "  the same, against the former escape stripping",
            _time(screen) / size_kib * 1e6,
            "us/KiB",
            before,
            "decode + 3 regexes (no cursor moves)",
        ),
        Row(
            "terminal agent per chunk: text + shipped patterns + state",
            _time(agents) / size_kib * 1e6,
            "us/KiB",
            floor,
            "UTF-8 decode alone",
        ),
    ]


async def _raw_handshake(binary: str, home: str, cwd: str) -> float:
    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
    env["HOME"] = home
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        binary, cwd=cwd, env=env, stdin=-1, stdout=-1, stderr=-3, start_new_session=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    init = {"protocolVersion": 1, "clientCapabilities": {"fs": {}, "terminal": True}}
    for i, (method, params) in enumerate(
        [("initialize", init), ("session/new", {"cwd": cwd, "mcpServers": []})]
    ):
        message = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        proc.stdin.write((json.dumps(message) + "\n").encode())
        await proc.stdin.drain()
        while json.loads(await proc.stdout.readline()).get("id") != i:
            pass
    elapsed = time.perf_counter() - t0
    os.killpg(proc.pid, signal.SIGKILL)  # the npm wrapper and the adapter it started
    await proc.wait()
    return elapsed


async def _login_rows() -> list[Row]:
    from tests.harness.tmux import TmuxServer
    from tests.orchestrator.server_process import OrchestratorProcess, server_env

    binary = AGENTS / "node_modules" / ".bin" / "codex-acp"
    if not binary.exists():
        return []
    tmp = Path(tempfile.mkdtemp(prefix="orchflow-bench-screens-"))
    home, work = tmp / "agent-home", tmp / "work"
    home.mkdir()
    work.mkdir()
    floors = [await _raw_handshake(str(binary), str(home), str(work)) for _ in range(LOGIN_RUNS)]
    tmux = TmuxServer()
    base = tmp / "orch"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[agents.codex]\nacp = [{json.dumps(str(binary))}]\n"
        f"env = {{ HOME = {json.dumps(str(home))} }}\n"
    )
    env = {k: v for k, v in server_env(base, tmux.socket).items() if "API_KEY" not in k}
    server = await OrchestratorProcess.start(base, tmux.socket, project_root=work, env=env)
    values = []
    try:
        async with await server.client() as client:
            failed: dict[str, asyncio.Event] = {}

            def on_state(params: dict[str, Any]) -> None:
                if params["state"] == "error":
                    failed.setdefault(params["id"], asyncio.Event()).set()

            client.on_notification("agent.state", on_state)
            await client.call("agent.watch", {})
            for _ in range(LOGIN_RUNS):
                t0 = time.perf_counter()
                made = await client.call(
                    "agent.create",
                    {"type": "ai", "agent": "codex", "transport": "acp", "cwd": str(work)},
                )
                async with asyncio.timeout(60):
                    await failed.setdefault(made["id"], asyncio.Event()).wait()
                values.append(time.perf_counter() - t0)
                got = await client.call("agent.get", {"id": made["id"]})
                assert got["state_reason"].startswith("needs login: "), got["state_reason"]
    finally:
        await server.stop()
        tmux.kill()
    return [
        Row(
            "real codex-acp, no credentials: agent.create -> state error (login reason)",
            median(values) * 1000,
            "ms",
            median(floors) * 1000,
            "its initialize + session/new over raw pipes",
        )
    ]


def run() -> list[Row]:
    return _screen_rows() + asyncio.run(_login_rows())
