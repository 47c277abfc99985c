"""A real local Ray cluster of two nodes on this machine, private to one test run.

The head (``--resources='{"head": 1}'``) and a second node (``{"worker2": 1}``) are each a
``ray start --block`` process in a session of its own, with their own temp dir, free ports
on 127.0.0.1, one CPU, a small object store and token authentication on
(``RAY_AUTH_MODE=token``, a fresh ``RAY_AUTH_TOKEN``). Stopping a node kills its session
(the ``ray start`` process, its raylet and workers): never ``ray stop``, which would stop
every Ray on the machine. The head notices a lost node within seconds
(``RAY_health_check_*``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 90.0
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class RayCluster:
    base: Path
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    address: str = ""
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
            RAY_USAGE_STATS_ENABLED="0",
            RAY_health_check_period_ms="1000",
            RAY_health_check_timeout_ms="1000",
            RAY_health_check_failure_threshold="3",
            RAY_health_check_initial_delay_ms="1000",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        )
        env.pop("RAY_ADDRESS", None)
        return env

    def start_node(self, label: str, *, head: bool = False) -> None:
        """Start a node with the custom resource ``label`` and wait until the head lists
        it alive."""
        p = free_ports(7)
        temp = self.base / label
        temp.mkdir(parents=True, exist_ok=True)
        argv = [
            RAY,
            "start",
            "--block",
            "--num-cpus=1",
            f"--resources={json.dumps({label: 1})}",
            "--node-ip-address=127.0.0.1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--node-manager-port={p[1]}",
            f"--object-manager-port={p[2]}",
            f"--metrics-export-port={p[3]}",
            f"--dashboard-agent-listen-port={p[4]}",
            f"--dashboard-agent-grpc-port={p[5]}",
            f"--runtime-env-agent-port={p[6]}",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ]
        if head:
            argv += ["--head", f"--port={p[0]}", "--include-dashboard=false"]
            self.address = f"127.0.0.1:{p[0]}"
        else:
            argv += [f"--address={self.address}"]
        log = (self.base / f"{label}.log").open("wb")
        self.nodes[label] = subprocess.Popen(
            argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_for(label)

    def alive_labels(self) -> set[str]:
        code = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False, logging_level='ERROR')\n"
            "print(json.dumps([sorted(n['Resources']) for n in ray.nodes() if n['Alive']]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=self.env(), capture_output=True, timeout=60
        )
        if out.returncode != 0:
            return set()
        return {r for res in json.loads(out.stdout.splitlines()[-1]) for r in res}

    def wait_for(self, label: str, *, alive: bool = True) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            proc = self.nodes.get(label)
            if alive and proc is not None and proc.poll() is not None:
                raise RuntimeError(f"ray node {label} exited: {self.log(label)}")
            if (label in self.alive_labels()) == alive:
                return
            time.sleep(0.5)
        raise RuntimeError(f"ray node {label} not {'up' if alive else 'gone'}: {self.log(label)}")

    def log(self, label: str) -> str:
        with contextlib.suppress(OSError):
            return (self.base / f"{label}.log").read_text(errors="replace")[-3000:]
        return ""

    def kill_node(self, label: str) -> None:
        """Lose a node: SIGKILL to its whole session (ray start, raylet, workers)."""
        proc = self.nodes.pop(label)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        """Every node, the second ones first: SIGTERM (ray start stops its processes),
        SIGKILL to what is left of the session."""
        for label in sorted(self.nodes, key=lambda k: k == "head"):
            proc = self.nodes.pop(label)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
