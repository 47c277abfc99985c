"""What runs inside a Ray actor: one task's command in a subprocess of its own.

The class is plain Python with only the standard library (``ray.py`` wraps it with
``ray.remote`` and ships this module to the workers by value), so a node needs Ray and
Python, not orchflow.

- The command runs as ``/bin/sh -c <command>`` in a new session (its own process group):
  ``kill`` signals the group, so its children go too (SIGTERM, then SIGKILL after the
  grace period).
- Output (stdout and stderr, merged) is read by a thread into a buffer of at most
  ``max_buffer`` bytes (the end kept). ``read(offset)`` waits (bounded) for bytes after
  ``offset``, so the orchestrator follows it with one call in flight; bytes that fell out of
  the buffer are reported as dropped.
- If the actor's worker dies without ``kill`` (``ray.kill``, its node stopped), a small
  shell guard started beside the command stops the command's group within a second or
  two, so a command started again elsewhere does not run twice.
- ``incarnation`` is new each time the actor is made: after its node was lost Ray makes it
  again on another node (``max_restarts``), the command starts again there, and the reader
  sees a new incarnation (and starts reading from 0).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from typing import Any

_CHUNK = 65536
# The command outlives a worker killed with SIGKILL (ray.kill, a node stopped): this
# guard, in a session of its own, stops the command's group once the worker is gone (and
# ends by itself once the group is gone).
_GUARD = (
    'while kill -0 "$1" 2>/dev/null; do kill -0 "-$2" 2>/dev/null || exit 0; sleep 1; done;'
    ' kill -TERM "-$2" 2>/dev/null; sleep 2; kill -KILL "-$2" 2>/dev/null'
)
_SECRET = frozenset({"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"})  # not the command's business


class TaskProcess:
    def __init__(self, command: str, cwd: str, max_buffer: int) -> None:
        self.incarnation = secrets.token_hex(4)
        self.command = command
        self.max_buffer = max_buffer
        self.started_at = time.time()
        self.hostname = socket.gethostname()
        self.node_id = ""
        with contextlib.suppress(Exception):  # outside Ray (never in practice): no node id
            import ray

            self.node_id = ray.get_runtime_context().get_node_id()
        self._buf = bytearray()
        self._base = 0  # offset of _buf[0] in the whole output
        self._cond = threading.Condition()
        self._exit: int | None = None
        self._ended = False
        self._killed = False
        self.error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if not os.path.isdir(cwd):
            self.error = f"cwd {cwd!r} does not exist on {self.hostname}"
            self._ended = True
            return
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if k not in _SECRET},
            )
        except OSError as exc:
            self.error = f"cannot start /bin/sh on {self.hostname}: {exc}"
            self._ended = True
            return
        self.pid = self._proc.pid
        self._guard = subprocess.Popen(
            ["/bin/sh", "-c", _GUARD, "orchflow-guard", str(os.getpid()), str(self.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, _CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with self._cond:
                self._buf += chunk
                over = len(self._buf) - self.max_buffer
                if over > 0:
                    del self._buf[:over]
                    self._base += over
                self._cond.notify_all()
        rc = proc.wait()
        with self._cond:
            self._exit = rc if rc >= 0 else 128 - rc  # a signal: the shell's 128+N
            self._ended = True
            self._cond.notify_all()

    def info(self) -> dict[str, Any]:
        return {
            "incarnation": self.incarnation,
            "node_id": self.node_id,
            "hostname": self.hostname,
            "pid": getattr(self, "pid", None),
            "started_at": self.started_at,
            "error": self.error,
        }

    def read(self, offset: int, wait_s: float, max_bytes: int) -> dict[str, Any]:
        """Bytes after ``offset`` (waiting at most ``wait_s`` for some), and whether it
        ended (then ``exit_code``)."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._base + len(self._buf) <= offset and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            dropped = max(0, self._base - offset)
            start = max(offset, self._base) - self._base
            data = bytes(self._buf[start : start + max_bytes])
            end = self._base + start + len(data)
            ended = self._ended and end >= self._base + len(self._buf)
            return {
                "incarnation": self.incarnation,
                "offset": end,
                "data": data,
                "dropped": dropped,
                "ended": ended,
                "exit_code": self._exit if ended else None,
                "killed": self._killed,
                "error": self.error,
            }

    def output(self, max_bytes: int) -> bytes:
        with self._cond:
            return bytes(self._buf[-max_bytes:]) if max_bytes > 0 else b""

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"ended": self._ended, "exit_code": self._exit, "error": self.error}

    def send(self, text: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or self._ended:
            raise RuntimeError("the command has ended")
        proc.stdin.write(text.encode())
        proc.stdin.flush()

    def signal(self, signum: int) -> int:
        """Signal the command's process group; how many processes it had."""
        if self._proc is None or self._ended:
            return 0
        pgid = self._proc.pid
        members = _group_members(pgid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        return len(members)

    def kill(self, grace_s: float) -> int:
        """SIGTERM to its group, SIGKILL after ``grace_s``; how many processes it had."""
        self._killed = True
        n = self.signal(signal.SIGTERM)
        if self._proc is None:
            return n
        deadline = time.monotonic() + grace_s
        pgid = self._proc.pid
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        return n


def _group_members(pgid: int) -> list[int]:
    """The live processes of group ``pgid`` (from /proc; zombies left out)."""
    out = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
                out.append(int(name))
    return out
