"""Terminal manager against a bare tmux control-mode client, measured in the same run.

Floors (shared/research/perf.md §1-2):
- a blocking-pipe `tmux -C` client that writes a command and reads to %end;
- tmux's own ingest rate for `seq 1 200000` with no observer (`wait-for`).
The host figures (100 idle panes) are read from /proc for the real Neovim host.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Row, isolated_env, median, p95, spawn_editor
from orchflow_core.mux.keys import Key
from orchflow_core.mux.stream import Gap
from orchflow_core.mux.tmux import TmuxBackend

CONF = ROOT / "tests" / "tmux.conf"


class BareControlClient:
    """The floor: one `tmux -C` client on blocking pipes, no parsing beyond %begin/%end."""

    def __init__(self, socket: str, session: str) -> None:
        self.proc = subprocess.Popen(
            ["tmux", "-L", socket, "-f", str(CONF), "-C", "attach", "-t", session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.out = self.proc.stdout
        assert self.out is not None
        self._drain_until_end()  # the attach reply

    def _drain_until_end(self, marker: bytes | None = None) -> float:
        buf = b""
        seen_at = 0.0
        while True:
            chunk = os.read(self.out.fileno(), 65536)  # type: ignore[union-attr]
            buf += chunk
            if marker is not None and not seen_at and marker in buf:
                seen_at = time.perf_counter()
            ended = b"\n%end " in buf or buf.startswith(b"%end ") or b"\n%error " in buf
            if ended and (marker is None or seen_at):
                return seen_at

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self._drain_until_end()

    def send_until(self, line: str, marker: bytes) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        return self._drain_until_end(marker)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, "-f", str(CONF), *args], capture_output=True, text=True, check=True
    ).stdout


async def _ours(socket: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cmd": [], "create": [], "first": [], "stream": []}
    async with TmuxBackend(socket=socket, config_file=str(CONF)) as be:
        await be.create_session("bench")
        client = be._ctl  # the command client: what every orchflow tmux command goes through
        assert client is not None
        for _ in range(200):
            await client.command("display-message", "-p", "x")
        for _ in range(2000):
            t0 = time.perf_counter()
            await client.command("display-message", "-p", "x")
            out["cmd"].append((time.perf_counter() - t0) * 1000)
        panes = []
        for _ in range(40):
            t0 = time.perf_counter()
            panes.append(await be.create_pane("bench", split="window"))
            out["create"].append((time.perf_counter() - t0) * 1000)
        pane = panes[0].pane_id
        await asyncio.sleep(0.3)
        sub = await be.subscribe(pane, max_queue=100_000)
        while sub.get_nowait() is not None:
            pass
        for i in range(60):
            tag = f"{i:04d}"
            t0 = time.perf_counter()
            await be.send_text(pane, f'printf "Q%sZ\\n" {tag}')
            await be.send_keys(pane, Key.ENTER)
            buf = b""
            async for item in sub:
                if not isinstance(item, Gap):
                    buf += item
                if f"Q{tag}Z".encode() in buf:
                    break
            out["first"].append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
        for _ in range(3):
            while sub.get_nowait() is not None:
                pass
            end = f"END{uuid.uuid4().hex[:6]}".encode()
            t0 = time.perf_counter()
            await be.send_text(pane, "seq 1 200000; printf 'E''ND%s\\n' " + end.decode()[3:])
            await be.send_keys(pane, Key.ENTER)
            total, got = 0, b""
            async for item in sub:
                if isinstance(item, Gap):
                    raise RuntimeError(f"stream dropped {item.dropped_bytes} bytes")
                total += len(item)
                got = (got + item)[-64:]
                if end in got:
                    break
            out["stream"].append(total / (time.perf_counter() - t0) / 1e6)
        sub.close()
        await be.kill_session("bench")
    return out


def _floors(socket: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cmd": [], "create": [], "first": [], "stream": []}
    _tmux(socket, "new-session", "-d", "-s", "floor", "-x", "200", "-y", "50")
    bare = BareControlClient(socket, "floor")
    for _ in range(200):
        bare.command("display-message -p x")
    for _ in range(2000):
        t0 = time.perf_counter()
        bare.command("display-message -p x")
        out["cmd"].append((time.perf_counter() - t0) * 1000)
    for _ in range(40):
        t0 = time.perf_counter()
        bare.command("new-window -d -P -F '#{pane_id}' -t floor")
        out["create"].append((time.perf_counter() - t0) * 1000)
    pane = _tmux(socket, "display-message", "-p", "-t", "floor", "#{pane_id}").strip()
    time.sleep(0.3)
    for i in range(60):
        tag = f"{i:04d}"
        t0 = time.perf_counter()
        seen = bare.send_until(
            f"send-keys -t {pane} -l 'printf \"Q%sZ\\n\" {tag}' ; send-keys -t {pane} Enter",
            f"Q{tag}Z".encode(),
        )
        out["first"].append((seen - t0) * 1000)
        time.sleep(0.01)
    bare.close()
    for _ in range(3):  # tmux's own ingest, nobody watching
        t0 = time.perf_counter()
        _tmux(
            socket,
            "send-keys",
            "-t",
            pane,
            "seq 1 200000; tmux -L " + socket + " wait-for -S done",
            "Enter",
        )
        _tmux(socket, "wait-for", "done")
        out["stream"].append(1.49 / (time.perf_counter() - t0))
    _tmux(socket, "kill-session", "-t", "floor")
    return out


HOST_PANES = """
local n, done = ..., 0
local host = require('orchflow.host')
for i = 1, n do
  host.call('pane.new', { type = 'shell' }, function(err) done = done + 1 end)
end
vim.wait(60000, function() return done == n end, 10)
return vim.fn.jobpid(host.channel())
"""


FLOAT_LATENCY = """
local sock, n = ...
local host, events = require('orchflow.host'), require('orchflow.events')
local pane
host.call('pane.new', { type = 'shell' }, function(err, p) pane = p end)
vim.wait(10000, function() return pane ~= nil end, 5)
vim.wait(300)
require('orchflow.output').open(pane.pane_id)
vim.wait(2000, function() return next(require('orchflow.output').views()) ~= nil end, 5)
local times, seen, want = {}, nil, nil
events.on('pane.data', function(ev)
  if want and ev.data:find(want, 1, true) then seen = vim.uv.hrtime() end
end)
for i = 1, n do
  want, seen = ('Q%04dZ'):format(i), nil
  local t0 = vim.uv.hrtime()
  local typed = ('printf "Q%%04dZ\\n" %d'):format(i)
  vim.system({ 'tmux', '-L', sock, 'send-keys', '-t', pane.pane_id, typed, 'Enter' })
  vim.wait(2000, function() return seen ~= nil end, 0)
  times[#times + 1] = ((seen or vim.uv.hrtime()) - t0) / 1e6
  vim.wait(20)
end
return times
"""


def _editor(socket: str) -> Any:
    env = isolated_env()
    env["ORCHFLOW_TMUX_SOCKET"] = socket
    Path(env["ORCHFLOW_CONFIG"]).write_text(f'[tmux]\nconfig_file = "{CONF}"\n')
    return spawn_editor(env)


def _float_latency(socket: str) -> list[float]:
    """tmux send-keys (from Neovim) -> the bytes reach the output float's terminal buffer."""
    nv = _editor(socket)
    try:
        return list(nv.exec_lua(FLOAT_LATENCY, socket, 40))  # type: ignore[attr-defined]
    finally:
        nv.close()  # type: ignore[attr-defined]


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _host_idle(socket: str) -> tuple[float, float]:
    nv = _editor(socket)
    pid = nv.exec_lua(HOST_PANES, 100)
    time.sleep(2.0)  # let pane start-up output settle
    c0, t0 = _proc_cpu_s(pid), time.perf_counter()
    time.sleep(5.0)
    cpu = (_proc_cpu_s(pid) - c0) / (time.perf_counter() - t0) * 100
    rss = (
        int(
            next(
                line
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            ).split()[1]
        )
        / 1024
    )
    nv.close()
    return cpu, rss


def run() -> list[Row]:
    socket = f"orchflow-bench-{uuid.uuid4().hex[:8]}"
    try:
        floors = _floors(socket)
        ours = asyncio.run(_ours(socket))
        float_ms = _float_latency(socket)
        cpu, rss = _host_idle(socket)
    finally:
        from tests.harness.tmux import kill_socket_processes

        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        time.sleep(0.5)  # the editors' hosts are still exiting; then nothing may stay behind
        kill_socket_processes(socket)
    return [
        Row(
            "tmux command round trip (control mode)",
            median(ours["cmd"]),
            "ms",
            median(floors["cmd"]),
            "bare blocking `tmux -C` client",
            "<= 0.3 ms",
        ),
        Row(
            "pane creation, p95",
            p95(ours["create"]),
            "ms",
            p95(floors["create"]),
            "bare client: new-window -d -P",
            "<= 5 ms",
        ),
        Row(
            "send -> first output",
            median(ours["first"]),
            "ms",
            median(floors["first"]),
            "bare client: send-keys -> %output",
            "<= 2 ms",
        ),
        Row(
            "seq 1 200000 streamed byte-exact",
            median(ours["stream"]),
            "MB/s",
            median(floors["stream"]),
            "tmux ingest, no observer (wait-for)",
            ">= 0.7x",
        ),
        Row(
            "tmux output -> live output float (Neovim)",
            median(float_ms),
            "ms",
            None,
            "",
            "<= 50 ms",
        ),
        Row("  p95", p95(float_ms), "ms", None, "", ""),
        Row("host idle CPU with 100 panes", cpu, "%", None, "", "~0"),
        Row("host RSS with 100 panes", rss, "MB", None, "", "<= 60 MB"),
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
    sys.exit(0)
