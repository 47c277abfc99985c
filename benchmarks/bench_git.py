"""git.status and git.diff on a repository of 2000 files (40 changed, one untracked).

Floor, same run: ``git status --porcelain=v2 -z --branch`` run as a bare subprocess (the
least any status can cost through the CLI). ``git.status`` adds the repository lookup
(``rev-parse``), the config read that finds repository-defined filters, and parsing.
``git.diff``: all unstaged changes parsed into files and hunks, against a bare
``git diff``. ``git.stage`` of one hunk (a diff, a checked ``apply --cached``, the status
it returns) is shown against the bare ``git apply --cached`` of the same patch.

Where they are installed (not orchflow dependencies; ``pip install pygit2 dulwich``),
pygit2's and dulwich's status are shown against the same floor: this is the measurement
behind using the CLI (orchflow_core/git/__init__.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.common import Row, median
from orchflow_core.git import repo as git_repo
from orchflow_core.git.runner import Git

N = 20
FILES = 2000


def _make_repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    for i in range(FILES):
        d = root / f"d{i % 40}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}.txt").write_text("".join(f"line {j} of {i}\n" for j in range(40)))
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "init"], check=True)
    for i in range(0, FILES, 50):
        f = root / f"d{i % 40}" / f"f{i}.txt"
        f.write_text(f.read_text().replace("line 5 ", "LINE 5 ").replace("line 30 ", "L30 "))
    (root / "new.txt").write_text("x\n")
    return root


def _time(fn: Callable[[], object], n: int = N) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def _atime(make: Callable[[], Awaitable[None]], n: int = N) -> float:
    async def measure() -> float:
        await make()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await make()
            times.append((time.perf_counter() - t0) * 1000)
        return median(times)

    return asyncio.run(measure())


def run() -> list[Row]:
    root = _make_repo(Path(tempfile.mkdtemp(prefix="orchflow-bench-git-")) / "repo")
    cwd = str(root)
    status_argv = ["git", "-C", cwd, "status", "--porcelain=v2", "-z", "--branch"]
    floor_status = _time(lambda: subprocess.run(status_argv, capture_output=True, check=True))
    diff_argv = ["git", "-C", cwd, "diff", "--no-ext-diff", "--no-textconv"]
    floor_diff = _time(lambda: subprocess.run(diff_argv, capture_output=True, check=True))

    async def status() -> None:
        await git_repo.status(await Git.open(cwd))

    async def diff() -> None:
        await git_repo.diff(await Git.open(cwd))

    rows = [
        Row("git.status, 2000 files (40 changed)", _atime(status), "ms", floor_status,
            "git status --porcelain=v2 -z --branch (bare subprocess)", "<= 3x"),
        Row("git.diff, 40 files / 80 hunks parsed", _atime(diff), "ms", floor_diff,
            "git diff (bare subprocess)", "<= 3x"),
    ]  # fmt: skip

    # stage one hunk then unstage it again (so every round starts from the same index)
    async def stage_unstage() -> None:
        git = await Git.open(cwd)
        d = await git_repo.diff(git, path="d0/f0.txt")
        await git_repo.apply_hunks(git, [d["files"][0]["hunks"][0]["id"]], reverse=False)
        s = await git_repo.diff(git, path="d0/f0.txt", staged=True)
        await git_repo.apply_hunks(git, [s["files"][0]["hunks"][0]["id"]], reverse=True)

    patch = subprocess.run(
        ["git", "-C", cwd, "diff", "--", "d0/f0.txt"], capture_output=True, check=True
    ).stdout

    def bare_apply() -> None:
        for extra in ([], ["--reverse"]):
            subprocess.run(["git", "-C", cwd, "apply", "--cached", *extra, "-"], input=patch,
                           capture_output=True, check=True)  # fmt: skip

    floor = _time(bare_apply)
    rows.append(Row("git.stage + git.unstage of one hunk", _atime(stage_unstage), "ms", floor,
                    "git apply --cached, forward and back (bare)", ""))  # fmt: skip

    if importlib.util.find_spec("pygit2"):
        import pygit2

        rows.append(Row("pygit2 Repository(...).status() (not used)",
                        _time(lambda: pygit2.Repository(cwd).status()), "ms", floor_status,
                        "git status --porcelain=v2", "comparison"))  # fmt: skip
    if importlib.util.find_spec("dulwich"):
        from dulwich import porcelain

        rows.append(Row("dulwich porcelain.status (not used)",
                        _time(lambda: porcelain.status(cwd), 3), "ms", floor_status,
                        "git status --porcelain=v2", "comparison"))  # fmt: skip
    return rows
