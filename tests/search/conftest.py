"""Project trees for the search tests: real files, a real git repo, real ripgrep."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def git_init(root: Path) -> None:
    """ripgrep honours .gitignore only inside a git repository."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)


def rg_children() -> list[int]:
    """PIDs of live ``rg`` processes whose parent is this test process."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == "rg" and fields[1] == me and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git_init(root)
    (root / "a.py").write_text("import os\nHello world\nhello again\nsay helloworld\n")
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_text("one\ntwo\nhello from b\nthree\nfour\n")
    (root / "sub" / "c.md").write_text("a.c and abc\n")
    (root / ".hidden.txt").write_text("hello hidden\n")
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "x.txt").write_text("hello ignored\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02 hello binary\n")
    return root
