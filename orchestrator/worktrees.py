"""A git worktree per agent, bootstrapped: branch, worktree, copied files, a port, setup.

``Worktrees.create`` makes, in this order, and undoes all of it if any step fails (nothing
half-made is left):

1. a branch (default ``orchflow/<agent name>``) from ``base`` (default: the current branch,
   or the commit of a detached HEAD) and a worktree of it under ``[worktree] dir``
   (default ``<state dir>/worktrees``), as ``<dir>/<repository name>/<agent name>``;
2. the files ``.worktreeinclude`` names, with Claude Code's semantics (see
   orchestrator/worktree_include.py: matched by a pattern *and* ignored by git; a pattern
   reaching outside the repository is refused);
3. a port from ``[worktree] port_min..port_max``, free on 127.0.0.1 and not held by another
   agent's worktree (held in the agent's pane meta until teardown);
4. the setup script (``[worktree] setup``, default ``.orchflow/worktree-setup.sh`` in the
   worktree when it exists) in a pane named ``<agent>-setup`` the user can open, with
   ``ORCHFLOW_ROOT_PATH``, ``ORCHFLOW_WORKSPACE_PATH``, ``ORCHFLOW_WORKSPACE_NAME`` and
   ``ORCHFLOW_PORT``, at most ``setup_timeout_s`` (default 120 s). A non-zero exit or the
   timeout is an error carrying the script's last lines. A script with nothing to run
   (empty, only blank lines and comments) is not started.

Steps 1 and 2 overlap (measured in benchmarks/bench_worktree.py): the files to copy are
found and copied aside while the base is read and ``git worktree add`` checks out, then
moved in. The base's commit and HEAD's branch are read by the ``rev-parse`` that finds the
repository (``Git.open_resolving``); an invalid or taken
branch name is refused by ``git worktree add`` itself before it makes anything, and only
then are the checks run one by one to say which it was.

``Worktrees.remove`` runs the teardown script (``[worktree] teardown``, default
``.orchflow/worktree-teardown.sh``) the same way (its failure is reported, not fatal),
removes the worktree, and deletes the branch only if it is merged into its base.

git runs through ``orchflow_core.git.runner`` (no hooks, no fsmonitor, no filters a
repository's own config names).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.worktree_include import STAGING_SUFFIX, Stage, include_patterns
from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.git import repo as git_repo
from orchflow_core.git.runner import Git, GitCommandError
from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)

DEFAULT_SETUP = ".orchflow/worktree-setup.sh"
DEFAULT_TEARDOWN = ".orchflow/worktree-teardown.sh"
LAST_LINES = 20
CAPTURE_LINES = 2000  # the screen and some scrollback: the last lines are in there
POLL_S = 0.1  # the longest wait between two looks at the script's pane
SCRIPT_SNIFF = 65536  # a script this long or longer is run without looking inside
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
SPEC_KEYS = ("branch", "base")


@dataclass(frozen=True)
class WorktreeSettings:
    """``[worktree]`` of the core config."""

    dir: Path
    setup: str | None = None
    teardown: str | None = None
    setup_timeout_s: float = 120.0
    port_min: int = 41000
    port_max: int = 41999
    symlinks: Any = ()
    ai: bool = True  # AI agents get a worktree by default in a git repository

    @classmethod
    def from_config(cls, config: dict[str, Any], state_dir: Path) -> WorktreeSettings:
        wt = config.get("worktree") or {}
        base = wt.get("dir")
        return cls(
            dir=Path(base).expanduser() if base else state_dir / "worktrees",
            setup=wt.get("setup"),
            teardown=wt.get("teardown"),
            setup_timeout_s=float(wt.get("setup_timeout_s", 120.0)),
            port_min=int(wt.get("port_min", 41000)),
            port_max=int(wt.get("port_max", 41999)),
            symlinks=wt.get("symlinks") or (),
            ai=bool(wt.get("ai", True)),
        )

    def symlink_dirs(self) -> list[str]:
        """``symlinks`` checked: root-relative directories without ``..``."""
        value = self.symlinks
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InvalidArgumentError(
                f"worktree.symlinks must be a list of directories, got {value!r}",
                param="worktree",
            )
        out = []
        for rel in value:
            clean = rel.strip("/")
            if not clean or rel.startswith("/") or ".." in clean.split("/"):
                raise InvalidArgumentError(
                    f"worktree.symlinks: {rel!r} must be a directory inside the repository, "
                    "relative to its root (e.g. node_modules)",
                    param="worktree",
                )
            out.append(clean)
        return out


def parse_spec(value: Any) -> dict[str, str] | None:
    """``worktree``: true, false/absent, or {branch?, base?}."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(SPEC_KEYS))
        if unknown:
            raise InvalidArgumentError(
                f"unknown worktree option {unknown[0]!r} (expected: branch, base)",
                param="worktree",
            )
        for key, v in value.items():
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise InvalidArgumentError(
                    f"worktree.{key} must be a non-empty string, got {v!r}", param="worktree"
                )
        return {k: v for k, v in value.items() if v is not None}
    raise InvalidArgumentError(
        f"worktree must be true, false or {{branch?, base?}}, got {value!r}", param="worktree"
    )


PUBLIC_KEYS = ("path", "branch", "base", "port", "root", "copied", "linked")


def public(ws: Any) -> dict[str, Any] | None:
    """What agent.get shows of an agent's worktree meta (None without one)."""
    if not isinstance(ws, dict):
        return None
    return {k: ws.get(k) for k in PUBLIC_KEYS}


def link_dirs(src_root: Path, dst_root: Path, dirs: list[str]) -> list[str]:
    """Symlink each of ``dirs`` (heavy, rebuildable directories such as node_modules) from
    the worktree to the repository's own; one the repository lacks, or the worktree has
    already (tracked), is skipped. Removing the worktree removes the link, not the target."""
    linked = []
    for rel in dirs:
        target, link = src_root / rel, dst_root / rel
        if not target.is_dir() or target.is_symlink() or os.path.lexists(link):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
        linked.append(rel)
    return linked


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Worktrees:
    """Makes and removes agents' worktrees (one instance per orchestrator)."""

    def __init__(self, settings: WorktreeSettings) -> None:
        self.settings = settings
        self._leasing: set[int] = set()
        self._lock = asyncio.Lock()
        self._staging: set[Path] = set()  # copies in progress (see worktree_include)

    # -- ports ----------------------------------------------------------------------
    async def lease_port(self, held: set[int]) -> int:
        s = self.settings
        if s.port_min > s.port_max:
            raise UnavailableError(
                f"worktree.port_min ({s.port_min}) is above worktree.port_max ({s.port_max})"
            )
        async with self._lock:
            for port in range(s.port_min, s.port_max + 1):
                if port in held or port in self._leasing:
                    continue
                if port_free(port):
                    self._leasing.add(port)
                    return port
        raise UnavailableError(
            f"no free port in worktree.port_min..port_max ({s.port_min}..{s.port_max}): "
            "every one is held by an agent's worktree or in use; widen the range",
        )

    def settle_port(self, port: int) -> None:
        """The lease is now in the agent's meta (or given up): forget the pending one."""
        self._leasing.discard(port)

    # -- create -----------------------------------------------------------------------
    async def create(
        self,
        tm: TerminalManager,
        *,
        cwd: str,
        name: str,
        spec: dict[str, str],
        held_ports: set[int],
    ) -> dict[str, Any]:
        """Make the worktree for agent ``name``; returns its meta ``{path, branch, base,
        port, root, name, setup_pane, copied, rel}`` (``rel``: ``cwd`` inside the repo)."""
        if not _NAME.match(name):
            raise InvalidArgumentError(
                f"agent name {name!r} names the worktree directory: use letters, digits, - and _",
                param="name",
            )
        links = self.settings.symlink_dirs()
        base = spec.get("base")
        # the base and HEAD's branch are read by the rev-parse that finds the repository
        git, resolved = await _open_resolving(cwd, base)
        root = git.root
        rel = os.path.relpath(Path(cwd).resolve(), root.resolve())
        include_patterns(root)  # refuse a bad pattern before anything is made
        branch = spec.get("branch") or f"orchflow/{name}"
        if branch.startswith("-"):
            raise InvalidArgumentError(f"{branch!r} is not a valid branch name", param="worktree")
        path = self.settings.dir / root.name / name
        # the included files are found and copied aside meanwhile (they depend on the
        # repository only): into the worktree once git has checked it out
        stage = Stage(git, path, token=uuid.uuid4().hex[:8])
        self._staging.add(stage.dir)
        try:
            ws = await self._checks_and_add(git, name, branch, base, resolved, path, held_ports)
            ws["rel"] = "" if rel == "." else rel
            return await self._bootstrap(git, tm, ws, stage, links)
        except BaseException:
            await stage.discard()
            raise
        finally:
            self._staging.discard(stage.dir)

    async def _checks_and_add(
        self,
        git: Git,
        name: str,
        branch: str,
        base: str | None,
        resolved: tuple[str, str] | None,
        path: Path,
        held_ports: set[int],
    ) -> dict[str, Any]:
        """The path checked, a port leased, ``git worktree add -b``.

        ``resolved``: the base and its commit from ``_open_resolving``;
        the branch name's validity and that it is free are left to ``git worktree add``,
        which refuses both before it makes anything. Only when one of them fails are the
        separate checks run, to say which (``_refusal``)."""
        base, base_commit = resolved if resolved else await _refusal(git, base, branch)
        if path.exists():
            raise ConflictError(f"worktree path {path} exists already", path=str(path))
        port = await self.lease_port(held_ports)
        ws: dict[str, Any] = {
            "path": str(path),
            "branch": branch,
            "base": base,
            "base_commit": base_commit,
            "port": port,
            "root": str(git.root),
            "name": name,
            "setup_pane": None,
            "copied": 0,
            "linked": [],
            "rel": "",
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            await git.run(
                "worktree", "add", "-q", "-b", branch, "--", str(path), base_commit,
                read_only=False,
            )  # fmt: skip
        except GitCommandError:
            self.settle_port(port)
            await _refusal(git, base, branch)  # raises the reason when it is one of ours
            raise
        except BaseException:
            self.settle_port(port)
            raise
        return ws

    async def _bootstrap(
        self, git: Git, tm: TerminalManager, ws: dict[str, Any], stage: Stage, links: list[str]
    ) -> dict[str, Any]:
        """Copy, link and set up the new worktree; undo it all if a step fails."""
        path = Path(ws["path"])
        try:
            ws["copied"] = await stage.merge(path)
            ws["linked"] = link_dirs(git.root, path, links)
            await self._exclude_links(path, ws["linked"])
            ws["setup_pane"] = await self._script(tm, ws, "setup", self.settings.setup)
        except BaseException:
            self.settle_port(ws["port"])
            await self._undo(git, ws, worktree=True, branch=True, tm=tm)
            raise
        log.info(
            "worktree %s on %s (from %s) for agent %s", path, ws["branch"], ws["base"], ws["name"]
        )
        return ws

    async def _exclude_links(self, path: Path, linked: list[str]) -> None:
        """A link is not a directory to git: ``node_modules/`` in .gitignore does not ignore
        it, and ``git add -A`` in the worktree would commit it. A linked name that git does
        not ignore gets ``/<name>`` in the repository's info/exclude (shared by its
        worktrees; it ignores the same name in the main tree, which has the directory)."""
        if not linked:
            return
        git = await Git.open(path)
        _, out, _ = await git.run(
            "check-ignore", "-z", "--stdin",
            stdin=b"".join(rel.encode() + b"\0" for rel in linked), ok_codes=(0, 1),
            literal=False,
        )  # fmt: skip
        ignored = {p.decode() for p in out.split(b"\0") if p}
        missing = [rel for rel in linked if rel not in ignored]
        if not missing:
            return
        _, common, _ = await git.run("rev-parse", "--git-common-dir")
        exclude = (path / common.decode().strip()).resolve() / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"/{rel}\n" for rel in missing)
        with exclude.open("a", encoding="utf-8") as f:
            f.write(f"# orchflow: worktree symlinks ([worktree] symlinks)\n{lines}")

    def env(self, ws: dict[str, Any]) -> dict[str, str]:
        return {
            "ORCHFLOW_ROOT_PATH": ws["root"],
            "ORCHFLOW_WORKSPACE_PATH": ws["path"],
            "ORCHFLOW_WORKSPACE_NAME": ws["name"],
            "ORCHFLOW_PORT": "" if ws.get("port") is None else str(ws["port"]),
        }

    def _script_path(self, ws: dict[str, Any], kind: str, configured: str | None) -> Path | None:
        default = DEFAULT_SETUP if kind == "setup" else DEFAULT_TEARDOWN
        given = Path(configured).expanduser() if configured else Path(default)
        script = given if given.is_absolute() else Path(ws["path"]) / given
        if script.is_file():
            return script
        if configured:
            raise InvalidArgumentError(
                f"worktree.{kind} {configured!r} is not a file (looked for {script})",
                param="worktree",
            )
        return None

    async def _script(
        self, tm: TerminalManager, ws: dict[str, Any], kind: str, configured: str | None
    ) -> str | None:
        """Run the setup or teardown script in its own pane; returns the pane's id (None
        without a script). Failure or timeout closes the pane and raises with its last
        lines."""
        script = self._script_path(ws, kind, configured)
        if script is None or not _has_commands(script):
            return None  # no script, or one with nothing to run (empty, only comments)
        quoted = shlex.quote(str(script))
        command = quoted if os.access(script, os.X_OK) else f"sh {quoted}"
        pane = await tm.new_pane(
            pane_type="custom",
            command=command,
            name=f"{ws['name']}-{kind}",
            cwd=ws["path"],
            env=self.env(ws),
            meta={"worktree_" + kind: ws["name"]},
        )
        timeout = self.settings.setup_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        state: dict[str, Any] = pane
        poll = 0.005
        while state["state"] not in ("exited", "closed"):
            if asyncio.get_running_loop().time() > deadline:
                last = await _last_lines(tm, pane["id"])
                await _close(tm, pane["id"])
                raise TimeoutError_(
                    f"the {kind} script {script} still ran after {timeout:g} s and was stopped"
                    + (f"; its last lines:\n{last}" if last else ""),
                    timeout_s=timeout,
                    last_lines=last,
                )
            await asyncio.sleep(poll)
            poll = min(POLL_S, poll * 1.5)  # a quick script is seen at once, a long one cheaply
            state = await tm.get(pane["id"])
        code = state.get("exit_code")
        if code != 0:
            last = await _last_lines(tm, pane["id"])
            await _close(tm, pane["id"])
            raise ConflictError(
                f"the {kind} script {script} failed (exit code {code})"
                + (f"; its last lines:\n{last}" if last else ""),
                exit_code=code,
                last_lines=last,
            )
        return str(pane["id"])

    async def _undo(
        self, git: Git, ws: dict[str, Any], *, worktree: bool, branch: bool, tm: TerminalManager
    ) -> None:
        """Remove what ``create`` made, each step on its own (one failing does not stop the
        others); failures are logged."""
        if ws.get("setup_pane"):
            await _close(tm, ws["setup_pane"])
        if worktree:
            try:
                await git.run("worktree", "remove", "--force", "--force", ws["path"],
                              read_only=False)  # fmt: skip
            except GitCommandError as exc:
                log.warning("cannot remove worktree %s: %s", ws["path"], exc.message)
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(shutil.rmtree, ws["path"])
                with contextlib.suppress(GitCommandError):
                    await git.run("worktree", "prune", read_only=False)
        if branch:
            try:
                await git.run("branch", "-D", "-q", ws["branch"], read_only=False)
            except GitCommandError as exc:
                log.warning("cannot delete branch %s: %s", ws["branch"], exc.message)

    # -- orphans ------------------------------------------------------------------------
    async def listed(self, cwd: str, in_use: dict[str, str]) -> list[dict[str, Any]]:
        """The worktrees orchflow made for the repository around ``cwd`` (those under
        ``[worktree] dir``): git's row + ``{agent, orphan}``; ``in_use`` maps a worktree
        path to the live agent in it. An orphan is one no agent uses any more (its pane
        was closed from outside, or the agent was stopped without remove_worktree)."""
        git = await Git.open(cwd)
        rows = await git_repo.worktrees(git)
        base = self.settings.dir.resolve()
        main = rows[0]["path"] if rows else str(git.root)
        out = []
        for w in rows[1:]:
            if not Path(w["path"]).resolve().is_relative_to(base):
                continue
            agent = in_use.get(w["path"])
            out.append({**w, "root": main, "agent": agent, "orphan": agent is None})
        return out

    async def cleanup(
        self, tm: TerminalManager, cwd: str, in_use: dict[str, str], *, force: bool = False
    ) -> dict[str, Any]:
        """Remove every orphan worktree (as ``remove`` does: teardown script, worktree, the
        branch if merged into the main worktree's HEAD); one with uncommitted changes is
        kept unless ``force``. ``{removed: [...], kept: [{path, why}]}``."""
        removed, kept = [], []
        await self._drop_stale_staging(cwd)
        for w in await self.listed(cwd, in_use):
            if not w["orphan"]:
                continue
            ws = {
                "path": w["path"],
                "branch": w["branch"],
                "base": "HEAD",
                "root": w["root"],
                "name": Path(w["path"]).name,
                "port": None,
            }
            dirty = [] if force else await self.dirty(ws)
            if dirty:
                kept.append(
                    {"path": w["path"], "why": f"uncommitted changes: {', '.join(dirty[:5])}"}
                )
                continue
            if ws["branch"] is None:  # detached: nothing to delete
                ws["branch"] = ""
            result = await self.remove(tm, ws)
            removed.append({"path": w["path"], "branch": w["branch"], **result})
        return {"removed": removed, "kept": kept}

    async def _drop_stale_staging(self, cwd: str) -> None:
        """Copies for a worktree that an orchestrator stopped mid-create left beside the
        worktrees (none of this one's own in progress)."""
        git = await Git.open(cwd)
        here = self.settings.dir / git.root.name
        if not here.is_dir():
            return
        for entry in here.glob(f".*{STAGING_SUFFIX}"):
            if entry not in self._staging:
                log.info("removing %s, a copy an interrupted worktree create left", entry)
                await asyncio.to_thread(shutil.rmtree, entry, True)

    # -- remove -------------------------------------------------------------------------
    async def dirty(self, ws: dict[str, Any]) -> list[str]:
        """The worktree's uncommitted paths ([] if clean or already gone)."""
        if not Path(ws["path"]).is_dir():
            return []
        try:
            st = await git_repo.status(await Git.open(ws["path"]))
        except OrchflowError:
            return []
        groups = ("staged", "unstaged", "untracked", "conflicted")
        return sorted({e["path"] for g in groups for e in st[g]})

    async def remove(self, tm: TerminalManager, ws: dict[str, Any]) -> dict[str, Any]:
        """Teardown script, worktree, and the branch if merged into its base:
        ``{removed, branch_deleted, branch_kept?, teardown?}``."""
        out: dict[str, Any] = {"removed": False, "branch_deleted": False}
        if ws.get("setup_pane"):
            await _close(tm, ws["setup_pane"])
        if Path(ws["path"]).is_dir():
            try:
                pane = await self._script(tm, ws, "teardown", self.settings.teardown)
                if pane is not None:
                    out["teardown"] = {"exit_code": 0}
                    await _close(tm, pane)
            except OrchflowError as exc:
                log.warning("teardown of %s: %s", ws["path"], exc.message)
                out["teardown"] = {"error": exc.message}
        git = await Git.open(ws["root"])
        if Path(ws["path"]).is_dir():
            await git.run("worktree", "remove", "--force", "--force", ws["path"], read_only=False)
        else:  # the script or the user deleted it: forget it
            await git.run("worktree", "prune", read_only=False)
        out["removed"] = True
        if not ws.get("branch"):
            return out
        base = ws.get("base") or ws.get("base_commit")
        rc, _, _ = await git.run(
            "merge-base", "--is-ancestor", f"refs/heads/{ws['branch']}", str(base),
            ok_codes=(0, 1, 128),
        )  # fmt: skip
        if rc == 0:
            await git.run("branch", "-D", "-q", ws["branch"], read_only=False)
            out["branch_deleted"] = True
        else:
            out["branch_kept"] = f"{ws['branch']} has commits not in {base}"
        return out


async def _open_resolving(cwd: str, base: str | None) -> tuple[Git, tuple[str, str] | None]:
    """The repository around ``cwd``, and ``(base, base commit)`` from the same
    ``rev-parse`` (without a base: HEAD's branch, or the commit of a detached HEAD); None
    when that fails (an unknown base, no commit yet, a base git would read as an option),
    for ``_refusal`` to say why."""
    if base is not None and base.startswith("-"):
        return await Git.open(cwd), None
    git, lines = await Git.open_resolving(cwd, f"{base or 'HEAD'}^{{commit}}", "--abbrev-ref",
                                          "HEAD", "--")  # fmt: skip
    if lines is None or len(lines) != 3 or lines[2] != "--":
        return git, None
    commit, head = lines[0], lines[1]
    if base is None:
        base = commit if head == "HEAD" else head  # "HEAD": detached, its commit
    elif base == "HEAD":
        base = commit
    return git, (base, commit)


async def _refusal(git: Git, base: str | None, branch: str) -> tuple[str, str]:
    """The checks one at a time (at once): raise the reason the base or branch is refused
    (no commit yet, an unknown base, an invalid or taken branch name), or return ``(base,
    base commit)`` as ``_open_resolving`` does when there is none."""
    root = git.root
    (rc_head, head, _), (rc_base, out, _), (rc_name, _, _), (rc_taken, _, _) = (
        await asyncio.gather(
            git.run("symbolic-ref", "-q", "--short", "HEAD", ok_codes=(0, 1, 128)),
            git.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                    f"{base or 'HEAD'}^{{commit}}", ok_codes=(0, 1, 128)),
            git.run("check-ref-format", "--branch", branch, ok_codes=(0, 1, 128)),
            git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}",
                    ok_codes=(0, 1, 128)),
        )
    )  # fmt: skip
    given = base
    if base is None:
        base = head.decode().strip() if rc_head == 0 else "HEAD"  # detached: its commit
    if rc_base != 0:
        if given is None:
            raise ConflictError(
                f"{root} has no commit yet: commit once before giving an agent a worktree"
            )
        raise InvalidArgumentError(
            f"base {base!r} is not a branch or commit of {root}", param="worktree"
        )
    base_commit = out.decode().strip()
    if base == "HEAD":
        base = base_commit
    if rc_name != 0 or branch.startswith("-"):
        raise InvalidArgumentError(f"{branch!r} is not a valid branch name", param="worktree")
    if rc_taken == 0:
        raise ConflictError(
            f"branch {branch!r} exists already; give another (worktree.branch) or delete it",
            branch=branch,
        )
    return base, base_commit


def _has_commands(script: Path) -> bool:
    """Whether a script has anything to run: a line that is neither blank nor a comment
    (a binary or unreadable one is run, to say what it does)."""
    try:
        with script.open("rb") as f:
            head = f.read(SCRIPT_SNIFF)
    except OSError:
        return True
    if b"\0" in head or len(head) == SCRIPT_SNIFF:
        return True
    return any(line.strip() and not line.lstrip().startswith(b"#") for line in head.splitlines())


async def _last_lines(tm: TerminalManager, pane: str) -> str:
    """The script's last lines: tmux's "Pane is dead" note and the empty screen rows
    between the output and it left out (a short output sits at the top of the screen)."""
    try:
        text = await tm.capture(pane, lines=CAPTURE_LINES)
    except OrchflowError:
        return ""
    lines = [ln for ln in text.splitlines() if not ln.startswith("Pane is dead")]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines[-LAST_LINES:]).strip()


async def _close(tm: TerminalManager, pane: str) -> None:
    with contextlib.suppress(NotFoundError):
        await tm.close_pane(pane)
