"""JSON-RPC methods of reviewing an agent's worktree: ``review.*``.

    review.open {agent}                      -> {agent, base, branch, worktree, root,
                                                 files: [file], overlaps, comments}
    review.accept {agent, hunks | paths}     -> {accepted, refused, written, root}
    review.reject {agent, hunks | paths}     -> {rejected, refused, written, worktree}
    review.comment {agent, path, line, text} -> {comment, count}
    review.send {agent}                      -> {sent, prompt, delivery}
    review.finish {agent, strategy, message?, remove_worktree?}
                                             -> {strategy, commit, files, branch, worktree}

Registered into orchestrator/methods.py's table (its ``method`` decorator) when that
module loads; the semantics live in orchestrator/review/.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from orchestrator.agents import AGENT
from orchestrator.methods import Args, _int, _text, method
from orchestrator.review.comments import CommentRepository
from orchestrator.review.finish import check_strategy
from orchestrator.review.service import AgentRef, Review, selection
from orchflow_core.api import param
from orchflow_core.errors import InvalidArgumentError, NotFoundError, UnavailableError
from orchflow_core.rpc.server import ConnectionContext
from orchflow_core.store.database import Database

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

_REVIEWS: weakref.WeakKeyDictionary[Any, Review] = weakref.WeakKeyDictionary()


def review_of(app: Orchestrator) -> Review:
    """The orchestrator's one ``Review`` (made on first use)."""
    found = _REVIEWS.get(app)
    if found is not None:
        return found

    async def resolve(ref: str) -> AgentRef:
        acp = (await app.ai_agent_manager()).find(ref)
        if acp is not None:
            if not acp.worktree:
                raise InvalidArgumentError(
                    f"agent {acp.name} works in {acp.cwd}, not in a worktree of its own: there "
                    "is nothing to review apart from your own tree (create it with worktree: "
                    "true)",
                    param="agent",
                )
            return AgentRef(id=acp.id, name=acp.name, worktree=acp.worktree, acp=True)
        agents = await app.agent_manager()
        tm = await agents.tm()
        try:
            rec = await tm.find(ref)
        except NotFoundError:
            rec = None
        if rec is None or not rec.meta.get(AGENT):
            known = ", ".join(sorted(r.name for r in tm.records(meta_key=AGENT))) or "none"
            raise NotFoundError(f"no agent {ref!r} (agents: {known})", agent=ref) from None
        ws = rec.meta.get("worktree")
        if not isinstance(ws, dict) or not ws.get("path"):
            raise InvalidArgumentError(
                f"agent {rec.name} works in {rec.cwd}, not in a worktree of its own: there is "
                "nothing to review apart from your own tree (create agents with worktree: true)",
                param="agent",
            )
        return AgentRef(id=rec.orchflow_id, name=rec.name, worktree=ws)

    async def listing() -> list[AgentRef]:
        agents = await app.agent_manager()
        tm = await agents.tm()
        acp = (await app.ai_agent_manager()).views_with_worktree()
        return [
            AgentRef(id=r.orchflow_id, name=r.name, worktree=r.meta["worktree"])
            for r in tm.records(meta_key=AGENT)
            if isinstance(r.meta.get("worktree"), dict) and r.meta["worktree"].get("path")
        ] + [AgentRef(id=a.id, name=a.name, worktree=a.worktree or {}, acp=True) for a in acp]

    async def send(agent: AgentRef, prompt: str) -> dict[str, Any]:
        if agent.acp:  # an ACP agent: a turn, as agent.prompt starts one
            turn = (await app.ai_agent_manager()).get(agent.id).prompt(prompt)
            return {"via": "agent.prompt", "id": agent.id, "turn_id": turn.turn_id}
        sent = await (await app.agent_manager()).send(agent.id, prompt, enter=True)
        return {"via": "agent.send", **sent}

    async def state_db() -> Database:
        await app.agent_manager()  # waits (bounded) for the stores opened after ready
        if app.state_db is None:
            raise UnavailableError("review: the orchestrator's database is not open")
        return app.state_db

    review = Review(resolve, listing, send, CommentRepository(state_db))
    _REVIEWS[app] = review
    return review


def _agent(args: Args) -> str:
    return str(_text(args, "agent"))


@method("review.open", "agent")
async def review_open(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{agent, id, base, branch, worktree, root, files: [{path, status, binary, hunks: [{id,
    header, old_start, old_lines, new_start, new_lines, text}], old_path?, mode?,
    submodule?, whole_file_only?}], overlaps: [{path, agents}], comments: [comment]}: what
    the agent changed against its base, committed and not (new files too)."""
    return await review_of(app).open(_agent(args))


@method("review.accept", "agent", "hunks", "paths")
async def review_accept(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{accepted: [{id?, path}], refused: [{id?, path, reason}], written: [path], root}: the
    hunks (or whole files) applied to your working tree byte for byte; each one that would
    overwrite your uncommitted edits, or no longer applies, is refused with the reason."""
    hunks, paths = selection(args)
    return await review_of(app).accept(_agent(args), hunks, paths)


@method("review.reject", "agent", "hunks", "paths")
async def review_reject(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{rejected: [{id?, path}], refused: [{id?, path, reason}], written, worktree}: the
    hunks (or whole files) reverted to the base in the agent's worktree."""
    hunks, paths = selection(args)
    return await review_of(app).reject(_agent(args), hunks, paths)


@method("review.comment", "agent", "path", "line", "text")
async def review_comment(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{agent, comment: {id, path, line, text, created_at}, count}: kept in the
    orchestrator's database (a restart keeps it) until review.send delivered it."""
    return await review_of(app).comment(
        _agent(args), _text(args, "path"), _int(args, "line", 0, low=1, high=10_000_000),
        _text(args, "text"),
    )  # fmt: skip


@method("review.send", "agent")
async def review_send(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{agent, sent: n, prompt, delivery}: the comments typed to the agent as one prompt
    (``- path:line: text`` lines) and submitted; marked sent only once it was delivered."""
    return await review_of(app).send(_agent(args))


@method("review.finish", "agent", "strategy", "message", "remove_worktree")
async def review_finish(app: Orchestrator, args: Args, ctx: ConnectionContext) -> Any:
    """{agent, strategy, commit, subject, files, branch, worktree?}: the agent's work merged,
    squashed or rebased into your current branch; then (``remove_worktree``, default true)
    the agent stopped and its worktree torn down. A conflict: -32006 with ``data.files``,
    nothing committed, the worktree kept."""
    strategy = check_strategy(_text(args, "strategy"))
    message = _text(args, "message", None)
    if message is not None and not message.strip():
        raise InvalidArgumentError(
            "message is empty; leave it out for the default", param="message"
        )
    remove = param(args, "remove_worktree", bool, True)
    review = review_of(app)
    result = await review.finish(_agent(args), strategy, message)
    if remove:
        ai = await app.ai_agent_manager()
        if ai.find(result["id"]) is not None:
            stopped = await ai.stop(result["id"], remove_worktree=True, force=True)
        else:
            stopped = await (await app.agent_manager()).stop(
                result["id"], remove_worktree=True, force=True
            )
        result["worktree"] = stopped.get("worktree")
        ws = stopped.get("worktree") or {}
        if strategy == "squash" and ws.get("branch_kept") and ws.get("branch"):
            result["worktree"] = {**ws, **await _drop_squashed(ws)}
    return result


async def _drop_squashed(ws: dict[str, Any]) -> dict[str, Any]:
    """A squashed branch is never an ancestor, but its work has landed: delete it."""
    from orchflow_core.git.runner import Git

    git = await Git.open(ws["root"])
    await git.run("branch", "-D", "-q", ws["branch"], read_only=False)
    return {"branch_deleted": True, "branch_kept": None}
