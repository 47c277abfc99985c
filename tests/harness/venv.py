"""Fresh virtual environments that borrow the project venv's third-party packages.

``overlay_venv`` makes a venv (no pip, seconds at most, offline) whose site-packages
holds one ``.pth`` line naming the project venv's site-packages: third-party
dependencies resolve, but orchflow itself does not (a path line in a ``.pth`` adds
the directory only; the editable install's own ``.pth`` there is not processed).
So whatever orchflow code the fresh venv runs is what a test installed into it, or
what orchflow puts on ``sys.path`` explicitly.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def overlay_venv(dest: Path, *, extra_pth: dict[str, str] | None = None) -> Path:
    """A fresh venv at ``dest``; returns its python. ``extra_pth``: name -> .pth text."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], check=True)
    python = dest / "bin" / "python"
    site = site_packages(python)
    (site / "_project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    for name, text in (extra_pth or {}).items():
        (site / name).write_text(text)
    return python
