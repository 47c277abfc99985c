"""A private tmux server for a test run: a unique -L socket, killed afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path


class TmuxServer:
    def __init__(self) -> None:
        self.socket = f"orchflow-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def kill(self) -> None:
        """Kill the server, anything still attached to its socket, and the socket file.

        A host or orchestrator that is still shutting down may reconnect (and so start
        a new server) right after kill-server; killing by socket name catches that too.
        """
        uid_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        self.run("kill-server", check=False)
        kill_socket_processes(self.socket)
        (uid_dir / self.socket).unlink(missing_ok=True)


def kill_socket_processes(socket: str) -> None:
    """SIGKILL every tmux process (server or client) started with ``-L socket``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tmux") and b"-L" in argv:
            i = argv.index(b"-L")
            if i + 1 < len(argv) and argv[i + 1] == socket.encode():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)
