"""A private tmux server for a test run: a unique -L socket, killed afterwards."""

from __future__ import annotations

import os
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
        """Kill the server and remove its socket file (tmux leaves it behind)."""
        uid_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        self.run("kill-server", check=False)
        (uid_dir / self.socket).unlink(missing_ok=True)
