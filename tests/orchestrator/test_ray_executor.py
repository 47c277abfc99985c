"""The Ray executor against a real local Ray cluster of two nodes (tests/harness/ray_cluster.py:
a head labelled ``head`` and a second node labelled ``worker2``, token authentication on):
the executor directly (placement by label, live output, exit codes, timeout and kill with
children, bad labels), then swarms through a real orchestrator process configured with
``[executor] kind = "ray"``, the second node killed mid-task. The last test kills that
node, so it stays last."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.executors.base import Ending, Spec
from orchestrator.executors.choose import make_executor
from orchestrator.executors.ray import RayExecutor
from orchflow_core.errors import InvalidArgumentError, UnavailableError
from tests.harness.ray_cluster import RayCluster, free_ports
from tests.harness.tmux import TmuxServer
from tests.orchestrator.server_process import OrchestratorProcess, server_env

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[dev]')")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

TOKEN_ENV = "ORCHFLOW_TEST_RAY_TOKEN"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    c = RayCluster(tmp_path_factory.mktemp("ray"))
    try:
        c.start_node("head", head=True)
        c.start_node("worker2")
        yield c
    finally:
        c.stop()


@pytest.fixture
async def executor(
    cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RayExecutor]:
    monkeypatch.setenv(TOKEN_ENV, cluster.token)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):  # set by connect(); put back after
        monkeypatch.setenv(name, "")
    ex = RayExecutor(address=cluster.address, namespace="orchflow-test", token_env=TOKEN_ENV)
    await ex.connect()
    try:
        yield ex
    finally:
        await ex.close()


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def gone(pattern: str, *, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while pgrep(pattern):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def collect(
    chunks: AsyncIterator[bytes], into: list[bytes], changed: asyncio.Event | None = None
) -> None:
    async for chunk in chunks:
        into.append(chunk)
        if changed is not None:
            changed.set()


async def until(changed: asyncio.Event, ok: Any, *, within: float) -> None:
    """Until ``ok()``, re-checked each time ``changed`` is set."""
    async with asyncio.timeout(within):
        while not ok():
            changed.clear()
            await changed.wait()


async def test_spawn_on_each_node_by_label_with_live_output_and_exit_code(
    executor: RayExecutor, cluster: RayCluster, tmp_path: Path
) -> None:
    labels = {n["label"] for n in await executor.nodes()}
    assert {"head", "worker2"} <= labels
    # the token left this process's environment once Ray read it (children don't inherit it)
    assert cluster.token not in os.environ.values()
    for label in ("head", "worker2"):
        handle = await executor.spawn(
            Spec(
                key=f"sw-test/{label}",
                # the raylet that started the actor's worker: the node it runs on
                command=f"echo on-{label} raylet=$RAY_RAYLET_PID; pwd; env | grep -c TOKEN;"
                " sleep 0.3; echo done; exit 7",
                cwd=str(tmp_path),
                host=label,
            )
        )
        assert handle.executor == "ray" and handle.host == label and handle.pane_id is None
        chunks: list[bytes] = []
        reader = asyncio.ensure_future(collect(executor.stream(handle), chunks))
        outcome = await executor.wait(handle, timeout_s=60)
        await asyncio.wait_for(reader, 10)
        assert outcome.ending is Ending.EXITED and outcome.exit_code == 7
        assert f"on-{label}" in outcome.output and str(tmp_path) in outcome.output
        assert "\n0\n" in outcome.output  # no token in the command's environment
        assert outcome.tail.endswith("done")
        assert b"".join(chunks).decode() == outcome.output  # streamed live, all of it
        raylet = int(outcome.output.split("raylet=")[1].split()[0])
        assert os.getpgid(raylet) == cluster.nodes[label].pid  # that node's own session


async def test_a_timeout_kills_the_command_and_its_children(
    executor: RayExecutor, tmp_path: Path
) -> None:
    handle = await executor.spawn(
        Spec(
            key="sw-test/hang",
            command="sleep 31337 & sleep 31338 & echo started; wait",
            cwd=str(tmp_path),
        )
    )
    outcome = await executor.wait(handle, timeout_s=2)
    assert outcome.ending is Ending.TIMED_OUT and "timed out after 2 s" in (outcome.reason or "")
    assert "started" in outcome.output
    assert await gone("^sleep 3133[78]")


async def test_kill_stops_a_sleeping_command_and_its_children(
    executor: RayExecutor, tmp_path: Path
) -> None:
    handle = await executor.spawn(
        Spec(key="sw-test/kill", command="sleep 41414 & echo started; sleep 41415", cwd="/")
    )
    chunks: list[bytes] = []
    changed = asyncio.Event()
    reader = asyncio.ensure_future(collect(executor.stream(handle), chunks, changed))
    waiter = asyncio.ensure_future(executor.wait(handle, timeout_s=120))
    await until(changed, lambda: b"started" in b"".join(chunks), within=30)
    assert len(pgrep("^sleep 4141[45]")) == 2
    assert (await executor.status(handle)).state == "running"
    await executor.kill(handle)
    outcome = await asyncio.wait_for(waiter, 60)
    await asyncio.wait_for(reader, 10)
    assert outcome.ending is Ending.KILLED
    assert await gone("^sleep 4141[45]")


async def test_input_reaches_the_command(executor: RayExecutor) -> None:
    handle = await executor.spawn(Spec(key="sw-test/cat", command="head -n 1", cwd="/"))
    await executor.send(handle, "typed-into-ray")
    outcome = await executor.wait(handle, timeout_s=60)
    assert outcome.ok and outcome.output == "typed-into-ray\n"


async def test_bad_labels_and_cwds_are_named(executor: RayExecutor) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        await executor.spawn(Spec(key="sw-test/x", command="true", cwd="/", host="gpu-box"))
    assert "'gpu-box'" in err.value.message and "head, worker2" in err.value.message
    with pytest.raises(UnavailableError, match="/no/such/dir"):
        await executor.spawn(Spec(key="sw-test/y", command="true", cwd="/no/such/dir"))


async def test_kind_ray_without_an_address_or_with_a_client_url_says_what_to_set() -> None:
    async def no_terminals() -> Any:
        raise AssertionError("the Ray executor needs no tmux")

    assert make_executor(None, no_terminals).name == "local"
    ex = make_executor({"kind": "ray"}, no_terminals)
    with pytest.raises(UnavailableError, match=r"needs \[executor\] address"):
        await ex.spawn(Spec(key="k", command="true", cwd="/"))
    assert "needs [executor] address" in str(getattr(ex, "unavailable", ""))
    ex = make_executor({"kind": "ray", "address": "ray://10.0.0.5:10001"}, no_terminals)
    with pytest.raises(UnavailableError, match=r"'ray://10.0.0.5:10001': Ray Client"):
        await ex.spawn(Spec(key="k", command="true", cwd="/"))


def write_config(base: Path, executor: dict[str, Any]) -> None:
    lines = ["[executor]"]
    for key, value in executor.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    path = base / "config" / "orchflow" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


async def start_orchestrator(
    base: Path, tmux: TmuxServer, executor: dict[str, Any], token: str | None
) -> OrchestratorProcess:
    env = server_env(base, tmux.socket)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        env.pop(name, None)
    if token is not None:
        env[TOKEN_ENV] = token
    write_config(base, {"token_env": TOKEN_ENV, **executor})
    return await OrchestratorProcess.start(base, tmux.socket, env=env)


async def features_settled(orch: OrchestratorProcess) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            row = (await orch.call("system.features"))["features"]["executors"]
            if "not connected to Ray" not in str(row["ray"]):
                return dict(row)
            await asyncio.sleep(0.1)


async def test_an_unreachable_cluster_is_unavailable_and_host_tasks_are_refused(
    tmp_path: Path, private_tmux: TmuxServer
) -> None:
    (port,) = free_ports(1)
    orch = await start_orchestrator(
        tmp_path / "a",
        private_tmux,
        {"kind": "ray", "address": f"127.0.0.1:{port}", "connect_timeout_s": 3},
        "some-token",
    )
    try:
        row = await features_settled(orch)
        assert row["active"] == "ray" and row["status"] == "unavailable"
        assert row["ray"].startswith("unavailable: ") and f"127.0.0.1:{port}" in row["ray"]
        async with await orch.client() as client:
            with pytest.raises(UnavailableError) as err:
                await client.call(
                    "swarm.submit", {"tasks": [{"id": "a", "command": "true", "host": "head"}]}
                )
            assert "Ray executor cannot run command tasks" in err.value.message
            assert f"127.0.0.1:{port}" in err.value.message
            assert await client.call("swarm.list") == []
    finally:
        await orch.stop()
    orch = await start_orchestrator(
        tmp_path / "b", private_tmux, {"kind": "ray", "address": "127.0.0.1:1"}, None
    )
    try:
        row = await features_settled(orch)
        assert f"${TOKEN_ENV} is not set" in row["ray"]
    finally:
        await orch.stop()


async def settled(client: Any, swarm_id: str, *, within: float = 120) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            status = await client.call("swarm.status", {"swarm_id": swarm_id})
            if status["state"] in ("succeeded", "failed", "cancelled"):
                return dict(status)
            await asyncio.sleep(0.2)


async def test_a_sigkilled_orchestrator_follows_its_ray_task_again_after_a_restart(
    cluster: RayCluster, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    executor = {"kind": "ray", "address": cluster.address, "namespace": "orchflow-restart"}
    base, gate = tmp_path / "o", tmp_path / "gate"
    orch = await start_orchestrator(base, private_tmux, executor, cluster.token)
    try:
        async with await orch.client() as client:
            running = asyncio.Event()

            def on_progress(params: dict[str, Any]) -> None:
                if params.get("task") and params["task"]["state"] == "running":
                    running.set()

            client.on_notification("swarm.progress", on_progress)
            await client.call("swarm.watch")
            await client.call(
                "swarm.submit",
                {
                    "tasks": [
                        {
                            "id": "survivor",
                            "command": "echo before; while [ ! -e gate ]; do sleep 0.1;"
                            " done; echo after",
                            "cwd": str(tmp_path),
                            "host": "worker2",
                        }
                    ]
                },
            )
            await asyncio.wait_for(running.wait(), 60)
            (swarm,) = await client.call("swarm.list")
            sid = swarm["swarm_id"]
    finally:
        orch.proc.kill()  # SIGKILL: no chance to stop anything
        await orch.proc.wait()
    orch = await start_orchestrator(base, private_tmux, executor, cluster.token)
    try:
        async with await orch.client() as client:
            gate.touch()
            final = await settled(client, sid)
        (task,) = final["tasks"]
        assert final["state"] == "succeeded", final
        assert task["attempts"] == 1 and task["host"] == "worker2" and task["exit_code"] == 0
        assert task["output_tail"] == "before\nafter"
    finally:
        await orch.stop()


async def test_a_swarm_across_two_nodes_finishes_on_the_head_when_one_is_lost(
    cluster: RayCluster, tmp_path: Path, private_tmux: TmuxServer
) -> None:
    orch = await start_orchestrator(
        tmp_path / "o",
        private_tmux,
        {"kind": "ray", "address": cluster.address, "namespace": "orchflow-swarm-test"},
        cluster.token,
    )
    try:
        row = await features_settled(orch)
        assert row == {**row, "status": "implemented", "active": "ray", "ray": "implemented"}
        async with await orch.client() as client:
            events: list[dict[str, Any]] = []
            changed = asyncio.Event()

            def on_progress(params: dict[str, Any]) -> None:
                events.append(params)
                changed.set()

            client.on_notification("swarm.progress", on_progress)
            await client.call("swarm.watch")
            # the long tasks print, then wait for a file: they end only after the kill
            gate = tmp_path / "gate"
            wait_gate = f"while [ ! -e {gate} ]; do sleep 0.1; done"
            submitted = await client.call(
                "swarm.submit",
                {
                    "name": "two-nodes",
                    "tasks": [
                        {"id": "on-head", "command": "echo head-says-hi", "host": "head"},
                        {"id": "quick-w2", "command": "echo w2-says-hi", "host": "worker2"},
                        {
                            "id": "long-w2",
                            "command": f"echo long-started; {wait_gate}; echo long-done",
                            "host": "worker2",
                            "deps": ["quick-w2"],
                        },
                        {"id": "anywhere", "command": "echo placed-by-ray"},
                    ],
                },
            )
            sid = submitted["swarm_id"]

            def output(task: str) -> str:
                return "".join(
                    e.get("output", "") for e in events if e.get("task") and e["task"]["id"] == task
                )

            await until(changed, lambda: "long-started" in output("long-w2"), within=60)
            status = await client.call("swarm.status", {"swarm_id": sid})
            long_task = next(t for t in status["tasks"] if t["id"] == "long-w2")
            assert long_task["state"] == "running" and long_task["host"] == "worker2"
            cluster.kill_node("worker2")
            # the head notices (health checks), the task starts again there and prints again
            await until(changed, lambda: output("long-w2").count("long-started") == 2, within=90)
            gate.touch()
            final = await settled(client, sid)
        tasks = {t["id"]: t for t in final["tasks"]}
        assert final["state"] == "succeeded", final
        assert (
            tasks["on-head"]["host"] == "head" and "head-says-hi" in tasks["on-head"]["output_tail"]
        )
        assert tasks["quick-w2"]["host"] == "worker2"
        assert "w2-says-hi" in tasks["quick-w2"]["output_tail"]
        assert tasks["anywhere"]["host"] in ("head", "worker2")
        long_task = tasks["long-w2"]
        assert long_task["host"] == "head" and long_task["exit_code"] == 0
        assert long_task["attempts"] == 1  # started again by the executor, not a retry
        assert "long-done" in long_task["output_tail"]
        assert "Ray node worker2 was lost" in output("long-w2")
        assert "started again on head" in output("long-w2")
        saved = Path(long_task["output_path"]).read_text()
        assert "long-started" in saved and "long-done" in saved
    finally:
        await orch.stop()
