"""Reviewing an agent's worktree: the state behind ``review.*``.

One ``Review`` per orchestrator. Per agent it keeps a lock (calls on one agent run one
at a time) and the hunk ids of the last ``open`` (id -> path, so an accept re-reads only
the files it needs). Comments are rows of the orchestrator's database
(orchestrator/review/comments.py) until ``review.send`` delivered them: a restarted
orchestrator still has the unsent ones, and ``review.open`` lists them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.review import changes, landing
from orchestrator.review import finish as merging
from orchestrator.review.comments import CommentRepository
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.git import parse
from orchflow_core.git.runner import Git

log = logging.getLogger(__name__)

MAX_COMMENT = 4000
MAX_COMMENTS = 500


@dataclass
class AgentRef:
    """What the review needs of an agent: its id, name and worktree meta."""

    id: str
    name: str
    worktree: dict[str, Any]
    acp: bool = False  # an ACP agent (review.send starts a turn) rather than a pane


@dataclass
class _State:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    hunk_paths: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: path, old
    comments_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # comment and send
    renamed: dict[str, str] = field(default_factory=dict)  # new path: old, as of open
    # from the last open: the agent's and the user's repositories, and the base commit
    git: Git | None = None
    user: Git | None = None
    base: str | None = None


Resolver = Callable[[str], Awaitable[AgentRef]]
Lister = Callable[[], Awaitable[list[AgentRef]]]
Sender = Callable[[AgentRef, str], Awaitable[dict[str, Any]]]


def _ids(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        what = "hunk ids from review.open" if name == "hunks" else "paths from review.open"
        raise InvalidArgumentError(f"{name} must be a non-empty list of {what}", param=name)
    return list(dict.fromkeys(value))


def selection(args: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    hunks, paths = args.get("hunks"), args.get("paths")
    if (hunks is None) == (paths is None):
        raise InvalidArgumentError(
            "give either hunks (ids from review.open) or paths (whole files), not both and "
            "not neither",
            param="hunks" if hunks is not None else "paths",
        )
    return (_ids(hunks, "hunks") if hunks is not None else None,
            _ids(paths, "paths") if paths is not None else None)  # fmt: skip


class Review:
    def __init__(
        self, resolve: Resolver, listing: Lister, send: Sender, comments: CommentRepository
    ) -> None:
        self._resolve = resolve
        self._listing = listing
        self._send = send
        self._comments = comments
        self._states: dict[str, _State] = {}

    def _state(self, agent: AgentRef) -> _State:
        return self._states.setdefault(agent.id, _State())

    # -- open ------------------------------------------------------------------------------
    async def open(self, ref: str) -> dict[str, Any]:
        """{agent, base, branch, worktree, root, files: [file + hunks], overlaps, comments}"""
        agent = await self._resolve(ref)
        state = self._state(agent)
        async with state.lock:
            found = await changes.read(agent.worktree, agent.name)
        state.git, state.base, state.user = found.git, found.base, None
        state.hunk_paths = {h.id: (f.path, f.old_path) for f in found.files for h in f.hunks}
        state.renamed = {f.path: f.old_path for f in found.files if f.old_path != f.path}
        files = []
        for f in found.files:
            row = f.to_dict()
            row.pop("hunks_refused", None)
            why = landing.whole_file_only(f)
            if why:
                row["whole_file_only"] = why
            files.append(row)
        return {
            "agent": agent.name,
            "id": agent.id,
            "base": found.base,
            "branch": agent.worktree.get("branch"),
            "worktree": agent.worktree.get("path"),
            "root": agent.worktree.get("root"),
            "files": files,
            "overlaps": await self.overlaps_of(agent, {f.path for f in found.files}),
            "comments": await self._comments.unsent(agent.id),
        }

    # -- overlaps --------------------------------------------------------------------------
    async def changed_by_agent(
        self, *, skip: str | None = None
    ) -> dict[str, tuple[AgentRef, set[str]]]:
        """Every agent with a worktree that still exists (but ``skip``, an agent id) -> the
        paths it changed."""
        agents = [
            a for a in await self._listing() if a.id != skip and Path(a.worktree["path"]).is_dir()
        ]

        async def one(a: AgentRef) -> set[str]:
            try:
                return await changes.changed_paths(a.worktree, a.name)
            except Exception as exc:  # one broken worktree must not hide the others
                log.info("overlaps: cannot read agent %s's changes: %s", a.name, exc)
                return set()

        found = await asyncio.gather(*(one(a) for a in agents))
        return {a.id: (a, paths) for a, paths in zip(agents, found, strict=True)}

    async def overlaps_of(
        self,
        agent: AgentRef,
        paths: set[str],
        changed: dict[str, tuple[AgentRef, set[str]]] | None = None,
    ) -> list[dict[str, Any]]:
        """[{path, agents: [other agents' names]}]: the files ``agent`` changed that another
        agent's worktree of the same repository changed too."""
        if changed is None:
            changed = await self.changed_by_agent(skip=agent.id)
        root = agent.worktree.get("root")
        by_path: dict[str, list[str]] = {}
        for other, theirs in changed.values():
            if other.id == agent.id or other.worktree.get("root") != root:
                continue
            for p in sorted(paths & theirs):
                by_path.setdefault(p, []).append(other.name)
        return [{"path": parse.display(p), "agents": names} for p, names in sorted(by_path.items())]

    async def annotate(self, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """agent.list's rows, each with ``overlaps`` (null without a worktree)."""
        if not any(v.get("worktree") for v in views):
            return views
        changed = await self.changed_by_agent()
        for v in views:
            if not v.get("worktree") or v.get("id") not in changed:
                v["overlaps"] = None if not v.get("worktree") else []
                continue
            agent, paths = changed[v["id"]]
            v["overlaps"] = await self.overlaps_of(agent, paths, changed)
        return views

    # -- accept / reject -------------------------------------------------------------------
    async def _selected(
        self, agent: AgentRef, state: _State, hunks: list[str] | None, paths: list[str] | None
    ) -> tuple[changes.Changes, list[tuple[parse.FileDiff, list[parse.Hunk]]], list[Any]]:
        """The agent's changes now, and the files/hunks asked for (a stale id: refused)."""
        # read only the files asked for (a rename needs both of its sides to be one)
        want: set[str] | None = set()
        if hunks is not None:
            for wanted in hunks:
                pair = state.hunk_paths.get(wanted)
                if pair is None or want is None:
                    want = None
                    continue
                want.update(pair)
        else:
            assert paths is not None
            for p in paths:
                assert want is not None
                want.add(p)
                if p in state.renamed:
                    want.add(state.renamed[p])
        want_paths = sorted(want) if want is not None else None
        found = await changes.read(
            agent.worktree, agent.name, paths=want_paths, git=state.git, base=state.base
        )
        refused: list[dict[str, Any]] = []
        picked: list[tuple[parse.FileDiff, list[parse.Hunk]]] = []
        if hunks is not None:
            index = {h.id: (f, h) for f in found.files for h in f.hunks}
            by_file: dict[int, tuple[parse.FileDiff, list[parse.Hunk]]] = {}
            for hid in hunks:
                if hid not in index:
                    refused.append({
                        "id": hid,
                        "path": parse.display(state.hunk_paths.get(hid, ("?", ""))[0]),
                        "reason": "not in the agent's diff now (its file changed since "
                        "review.open, or the id is wrong): open the review again",
                    })  # fmt: skip
                    continue
                f, h = index[hid]
                by_file.setdefault(id(f), (f, []))[1].append(h)
            picked = list(by_file.values())
        else:
            assert paths is not None
            by_path = {f.path: f for f in found.files}
            for p in paths:
                file = by_path.get(p)
                if file is None:
                    changed = ", ".join(sorted(by_path)[:10]) or "none"
                    refused.append({"path": p, "reason": f"the agent did not change {p!r} "
                                    f"(changed: {changed})"})  # fmt: skip
                    continue
                picked.append((file, list(file.hunks)))
        return found, picked, refused

    async def accept(
        self, ref: str, hunks: list[str] | None, paths: list[str] | None
    ) -> dict[str, Any]:
        """{accepted: [{id?, path}], refused: [{id?, path, reason}], written: [paths]}"""
        agent = await self._resolve(ref)
        state = self._state(agent)
        async with state.lock:
            if state.user is None or not state.user.root.is_dir():
                state.user = await Git.open(agent.worktree["root"])
            user = state.user
            # the user's dirty lines of the files these hunks were in, read meanwhile
            guess = sorted(
                {state.hunk_paths[h][0] for h in hunks if h in state.hunk_paths}
                if hunks is not None
                else set(paths or [])
            )
            (found, picked, refused), dirty = await asyncio.gather(
                self._selected(agent, state, hunks, paths), landing.dirty_lines(user, guess)
            )
            missed = sorted({f.path for f, _ in picked} - set(guess))
            if missed:
                dirty.update(await landing.dirty_lines(user, missed))
            out = landing.Outcome(refused=refused)
            if hunks is not None:
                for f, chosen in picked:
                    landing.accept_hunks(user.root, f, chosen, dirty.get(f.path, []), out)
            else:
                await landing.accept_files(
                    user, found.git.root, found.base, [f for f, _ in picked], dirty, out
                )
        log.info("review %s: accepted %d, refused %d", agent.name, len(out.done), len(out.refused))
        return {"agent": agent.name, "accepted": out.done, "refused": out.refused,
                "written": out.written, "root": str(user.root)}  # fmt: skip

    async def reject(
        self, ref: str, hunks: list[str] | None, paths: list[str] | None
    ) -> dict[str, Any]:
        """{rejected: [{id?, path}], refused: [{id?, path, reason}], written: [paths]}"""
        agent = await self._resolve(ref)
        state = self._state(agent)
        async with state.lock:
            found, picked, refused = await self._selected(agent, state, hunks, paths)
            out = landing.Outcome(refused=refused)
            if hunks is not None:
                for f, chosen in picked:
                    landing.reject_hunks(found.git.root, f, chosen, out)
            else:
                await landing.reject_files(found.git, found.base, [f for f, _ in picked], out)
        log.info("review %s: rejected %d, refused %d", agent.name, len(out.done), len(out.refused))
        return {"agent": agent.name, "rejected": out.done, "refused": out.refused,
                "written": out.written, "worktree": str(found.git.root)}  # fmt: skip

    # -- comments --------------------------------------------------------------------------
    async def comment(self, ref: str, path: str, line: int, text: str) -> dict[str, Any]:
        """{comment: {id, path, line, text, created_at}, count}"""
        agent = await self._resolve(ref)
        if not path or path.startswith("/") or ".." in path.split("/") or "\0" in path:
            raise InvalidArgumentError(
                f"path {path!r} must be relative to the repository root, without '..'",
                param="path",
            )
        if line < 1:
            raise InvalidArgumentError(f"line must be 1 or more, got {line}", param="line")
        if not text.strip():
            raise InvalidArgumentError("text is empty: write the comment", param="text")
        if len(text) > MAX_COMMENT:
            raise InvalidArgumentError(
                f"text is {len(text)} characters; at most {MAX_COMMENT}", param="text"
            )
        target = Path(agent.worktree["path"]) / path
        if not target.exists() and not await self._was_deleted(agent, path):
            raise InvalidArgumentError(
                f"{path!r} is not a file in agent {agent.name}'s worktree", param="path"
            )
        state = self._state(agent)
        async with state.comments_lock:
            count = await self._comments.count_unsent(agent.id)
            if count >= MAX_COMMENTS:
                raise ConflictError(
                    f"agent {agent.name} has {MAX_COMMENTS} unsent comments: review.send them first"
                )
            row = await self._comments.add(agent.id, agent.name, path, line, text.strip())
        return {"agent": agent.name, "comment": row, "count": count + 1}

    async def _was_deleted(self, agent: AgentRef, path: str) -> bool:
        try:
            return path in await changes.changed_paths(agent.worktree, agent.name)
        except NotFoundError:
            return False

    async def send(self, ref: str) -> dict[str, Any]:
        """{sent: n, prompt, delivery}: the unsent comments as one prompt; marked sent once
        it was delivered (a failed delivery leaves them all unsent)."""
        agent = await self._resolve(ref)
        state = self._state(agent)
        async with state.comments_lock:
            rows = await self._comments.unsent(agent.id)
            if not rows:
                raise ConflictError(
                    f"agent {agent.name} has no review comments to send: add some with "
                    "review.comment first"
                )
            prompt = render_prompt(rows)
            delivery = await self._send(agent, prompt)
            await self._comments.mark_sent([int(r["id"]) for r in rows])
        log.info("review %s: sent %d comments", agent.name, len(rows))
        return {"agent": agent.name, "sent": len(rows), "prompt": prompt, "delivery": delivery}

    # -- finish ----------------------------------------------------------------------------
    async def finish(self, ref: str, strategy: str, message: str | None) -> dict[str, Any]:
        agent = await self._resolve(ref)
        state = self._state(agent)
        async with state.lock:
            wt = await changes.open_worktree(agent.worktree, agent.name)
            user = await Git.open(agent.worktree["root"])
            rc, out, _ = await wt.run("symbolic-ref", "-q", "--short", "HEAD", ok_codes=(0, 1))
            branch = out.decode().strip() if rc == 0 else None
            result = await merging.finish(
                user, wt, agent_name=agent.name, branch=branch, strategy=strategy, message=message
            )
        self._states.pop(agent.id, None)
        await self._comments.forget(agent.id)
        return {"agent": agent.name, "id": agent.id, **result}

    def forget(self, agent_id: str) -> None:
        self._states.pop(agent_id, None)


def render_prompt(comments: list[dict[str, Any]]) -> str:
    """The comments as one prompt: one ``path:line: text`` line each, by file and line."""
    rows = sorted(comments, key=lambda c: (c["path"], c["line"], c["id"]))
    body = "\n".join(f"- {c['path']}:{c['line']}: {c['text']}" for c in rows)
    return f"Review comments on your changes (path:line), please address them:\n{body}\n"
