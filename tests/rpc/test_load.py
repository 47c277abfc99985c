"""Many clients against a server in its own process; one client is SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.rpc.auth import new_token
from orchflow_core.rpc.client import RpcClient
from tests.rpc.waiting import Collector

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 64
CALLS_PER_CLIENT = 40


def _spawn(module: str, *args: str, token: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ORCHFLOW_TEST_TOKEN": token}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


async def _readline(proc: subprocess.Popen[str], *, within: float = 10.0) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), within)).strip()


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def server_proc(token: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    listen = getattr(request, "param", "127.0.0.1:0").format(tmp=tmp_path)
    proc = _spawn("tests.rpc.demo_server", listen, token=token)
    yield proc
    _stop(proc)


@pytest.fixture
async def server_url(server_proc: subprocess.Popen[str]) -> AsyncIterator[str]:
    yield await _readline(server_proc)


async def _hammer(url: str, token: str, index: int) -> int:
    async with await RpcClient.connect(url, token) as client:
        done = 0
        for start in range(0, CALLS_PER_CLIENT, 4):
            # Four concurrent calls per client exercise id multiplexing.
            values = [[index, start + k, "ü" * (k + 1)] for k in range(4)]
            results = await asyncio.gather(*(client.call("echo", v) for v in values))
            assert results == values
            done += len(results)
        return done


async def test_64_clients_and_one_killed_mid_stream(server_url: str, token: str) -> None:
    victim = _spawn("tests.rpc.demo_client", server_url, token=token)
    try:
        assert await _readline(victim) == "ready"
        assert await _readline(victim) == "."  # it is mid-stream now
        hammering = [asyncio.create_task(_hammer(server_url, token, i)) for i in range(CLIENTS - 1)]
        await asyncio.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=5) == -signal.SIGKILL
        assert await asyncio.gather(*hammering) == [CALLS_PER_CLIENT] * (CLIENTS - 1)
    finally:
        _stop(victim)

    async with await RpcClient.connect(server_url, token) as client:
        expected = {"disconnects": CLIENTS, "cleanups": 1, "connections": 1}
        async with asyncio.timeout(10):
            # The server is another process: asking again is the only way to wait.
            while await client.call("stats") != expected:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await client.call("publish", {"topic": "doomed"}) == 0


async def test_graceful_sigterm_finishes_in_flight_request(
    server_proc: subprocess.Popen[str], server_url: str, token: str
) -> None:
    async with await RpcClient.connect(server_url, token) as client:
        slow = asyncio.create_task(client.call("sleep", {"seconds": 0.5}))
        await client.call("echo", [])  # answered after the sleep request was read
        server_proc.send_signal(signal.SIGTERM)
        assert await slow == {"slept": 0.5}
    assert await asyncio.to_thread(server_proc.wait, 10) == 0


@pytest.mark.parametrize("server_proc", ["unix:{tmp}/orchflow.sock"], indirect=True)
async def test_unix_socket_server_process(server_url: str, token: str, tmp_path: Path) -> None:
    assert server_url == f"unix:{tmp_path}/orchflow.sock"
    events = Collector()
    async with await RpcClient.connect(server_url, token) as client:
        client.on_notification("event", events)
        await client.call("subscribe", ["t"])
        assert await client.call("publish", {"topic": "t", "data": {"n": 1}}) == 1
        assert await client.call("subtract", [3, 1]) == 2
        assert await events.wait_for(1) == [{"n": 1}]
