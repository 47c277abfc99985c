"""Deterministic synthetic project trees and path lists, for tests and benchmarks/.

``make_tree`` writes real files (source-like text, a known needle every N lines,
a .gitignore'd build dir, a few binary files) so search and listing can be
compared against plain ``rg`` on the same tree. ``synthetic_paths`` returns
realistic relative paths for ranking benchmarks without touching the disk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

_VOCABULARY = (
    "core api server client util config model view store cache index search file path "
    "event stream buffer parser lexer token render layout widget session pane window agent "
    "router memory schedule task worker queue socket http json rpc test fixture mock plugin "
    "module loader registry handler manager factory builder adapter proxy service auth user"
)
WORDS = tuple(_VOCABULARY.split())
EXTS = (".py", ".lua", ".ts", ".js", ".md", ".rs", ".go", ".json", ".toml", ".c", ".h", ".txt")
NEEDLE = "orchflow_needle"


@dataclass(frozen=True, slots=True)
class TreeStats:
    files: int
    bytes: int
    needle_lines: int
    ignored_files: int
    binary_files: int


def synthetic_paths(n: int, *, seed: int = 1) -> list[str]:
    """``n`` distinct relative paths, 2-9 directories deep, mean length ~55."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        depth = rng.randint(2, 9)
        dirs = [
            rng.choice(WORDS) + (str(rng.randint(0, 9)) if rng.random() < 0.3 else "")
            for _ in range(depth)
        ]
        stem = "_".join(rng.sample(WORDS, rng.randint(1, 2)))
        out.add("/".join([*dirs, stem + rng.choice(EXTS)]))
    return sorted(out)


def make_tree(
    root: Path,
    *,
    files: int = 2000,
    lines_per_file: int = 60,
    needle_every: int = 97,
    ignored_files: int = 50,
    binary_files: int = 5,
    seed: int = 1,
) -> TreeStats:
    """Write a project tree under ``root``; a needle line appears every ``needle_every`` lines.

    ``build/`` holds ``ignored_files`` files (with needles) listed in ``.gitignore``; binary
    files contain the needle after a NUL byte. ``root`` is made a git repo-like tree by
    writing ``.git/HEAD`` only if asked by the caller (ripgrep needs a repo to honour
    .gitignore; call ``git init`` yourself or use an ``.ignore`` file).
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".ignore").write_text("build/\n")
    total_bytes = needles = 0
    line_no = 0
    paths = synthetic_paths(files, seed=seed)
    for rel in paths:
        lines = []
        for _ in range(lines_per_file):
            line_no += 1
            if line_no % needle_every == 0:
                lines.append(f"    call({NEEDLE}, {rng.randint(0, 999)})")
                needles += 1
            else:
                lines.append(" ".join(rng.choices(WORDS, k=rng.randint(2, 10))))
        data = "\n".join(lines) + "\n"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
        total_bytes += len(data)
    for i in range(ignored_files):
        path = root / "build" / f"gen{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{NEEDLE} generated\n")
    for i in range(binary_files):
        (root / f"blob{i}.bin").write_bytes(b"\x00\x01binary\x00" + NEEDLE.encode() + b"\n")
    return TreeStats(len(paths), total_bytes, needles, ignored_files, binary_files)
