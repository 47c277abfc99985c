"""Reviewing an agent's worktree (issue 11's figures: review.open of 50 changed files / 500
hunks <= 150 ms; accept of one hunk <= 20 ms).

A repository of 50 files of 200 lines; an agent's worktree (``git worktree add -b``) where
every file has 10 separate edits (500 hunks), half of them committed on the agent's branch,
half left uncommitted, plus 5 new untracked files. Measured in process, on
``orchestrator.review.service.Review`` (what the JSON-RPC handlers call; the RPC framing
is not included):

- open: ``Review.open`` (merge-base, the untracked files through a scratch index, ``git
  diff``, parse, hunk ids, the overlap scan). Floor: a bare ``git diff <base>`` of the
  same worktree (one subprocess, its output unparsed), same run.
- accept: ``Review.accept`` of one hunk into the user's tree (the agent's diff of that
  file read again, the user's uncommitted lines, the hunk found and the file written).
  Floor: a bare ``git diff <base> -- <file>`` of that file, same run.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Row, median

FILES = 50
LINES = 200
EDITS = 10  # per file: every 20th line, far enough apart to be separate hunks
NEW = 5
ROUNDS = 15


def _git(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True).stdout


def _setup(home: Path) -> tuple[Path, Path, str]:
    repo = home / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "bench")
    _git(repo, "config", "user.email", "bench@example.com")
    for i in range(FILES):
        (repo / f"src{i}.py").write_text("".join(f"value_{i}_{n} = {n}\n" for n in range(LINES)))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    base = _git(repo, "rev-parse", "HEAD").decode().strip()
    wt = home / "wt" / "agent"
    _git(repo, "worktree", "add", "-q", "-b", "orchflow/agent", str(wt), "main")
    for i in range(FILES):
        path = wt / f"src{i}.py"
        lines = path.read_text().splitlines(keepends=True)
        for e in range(EDITS):
            n = 10 + e * 20
            lines[n] = f"value_{i}_{n} = {n} * 2  # agent\n"
        path.write_text("".join(lines))
        if i % 2 == 0:
            _git(wt, "add", path.name)
    _git(wt, "commit", "-qm", "agent: half of it")
    for k in range(NEW):
        (wt / f"new{k}.py").write_text(f"new = {k}\n")
    return repo, wt, base


def _bare_ms(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return (time.perf_counter() - t0) * 1000


async def _ours(repo: Path, wt: Path, base: str) -> tuple[list[float], list[float], int]:
    from orchestrator.review.comments import CommentRepository
    from orchestrator.review.service import AgentRef, Review
    from orchestrator.schema import open_state_db

    ws: dict[str, Any] = {"path": str(wt), "root": str(repo), "branch": "orchflow/agent",
                          "base": "main", "base_commit": base}  # fmt: skip
    agent = AgentRef(id="a1", name="agent", worktree=ws)

    async def resolve(ref: str) -> AgentRef:
        return agent

    async def listing() -> list[AgentRef]:
        return [agent]

    async def send(a: AgentRef, text: str) -> dict[str, Any]:
        raise AssertionError("not sent in this benchmark")

    state = repo.parent / "state"
    state.mkdir(exist_ok=True)
    db = await open_state_db(state)  # review comments are kept there (migration 6)

    async def state_db() -> Any:
        return db

    review = Review(resolve, listing, send, CommentRepository(state_db))
    opens, accepts = [], []
    hunks = 0
    view: dict[str, Any] = {}
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        view = await review.open("agent")
        opens.append((time.perf_counter() - t0) * 1000)
        hunks = sum(len(f["hunks"]) for f in view["files"])
    src = [f for f in view["files"] if f["path"].startswith("src")]
    for r in range(ROUNDS):
        hunk = src[r]["hunks"][r % EDITS]["id"]
        t0 = time.perf_counter()
        result = await review.accept("agent", [hunk], None)
        accepts.append((time.perf_counter() - t0) * 1000)
        assert len(result["accepted"]) == 1, result
    await db.close()
    return opens, accepts, hunks


def run() -> list[Row]:
    home = Path(tempfile.mkdtemp(prefix="orchflow-bench-review-"))
    try:
        repo, wt, base = _setup(home)
        floor_open = [
            _bare_ms(["git", "-C", str(wt), "diff", "--no-color", base]) for _ in range(ROUNDS)
        ]
        floor_accept = [
            _bare_ms(["git", "-C", str(wt), "diff", "--no-color", base, "--", f"src{r}.py"])
            for r in range(ROUNDS)
        ]
        opens, accepts, hunks = asyncio.run(_ours(repo, wt, base))
        assert hunks == FILES * EDITS + NEW, hunks
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return [
        Row(
            f"review.open, {FILES + NEW} files / {hunks} hunks",
            median(opens),
            "ms",
            median(floor_open),
            "bare git diff <base> of the same worktree",
            "<= 150 ms",
        ),
        Row(
            "review.accept of one hunk",
            median(accepts),
            "ms",
            median(floor_accept),
            "bare git diff <base> -- <that file>",
            "<= 20 ms",
        ),
    ]
