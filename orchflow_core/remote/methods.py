"""Host methods that reach the orchestrator: ``orchestrator.*``, ``agent.*``, ``memory.*``,
``schedule.*``, ``lock.list`` and ``swarm.*``.

In embedded mode each answers "unavailable" with how to turn the orchestrator
on; nothing pretends to work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param

if TYPE_CHECKING:
    from orchflow_core.core import Core


@METHODS.method("orchestrator.start")
async def orchestrator_start(core: Core, params: Params) -> dict[str, Any]:
    link = core.orchestrator
    await link.client()  # a sidecar: started and waited for (at most start_timeout_s)
    return await link.status()


@METHODS.method("orchestrator.stop")
async def orchestrator_stop(core: Core, params: Params) -> dict[str, Any]:
    await core.orchestrator.stop()
    return await core.orchestrator.status()


@METHODS.method("orchestrator.status")
async def orchestrator_status(core: Core, params: Params) -> dict[str, Any]:
    return await core.orchestrator.status()


# mcp.* that may start a server and wait for its answer: a server's start_timeout_s and
# timeout_s (defaults 30 + 60), so its own error comes back rather than the link's timeout
MCP_CALL_TIMEOUT_S = 95.0
_MCP_SLOW = frozenset({"mcp.call", "mcp.list_tools", "mcp.restart"})
RESTART_CALL_TIMEOUT_S = 95.0  # agent.restart waits for the agent's session to open


def _forward(name: str, remote: str, required: tuple[str, ...] = ()) -> None:
    """Register host method ``name`` as a call of orchestrator method ``remote``.

    Every parameter is forwarded as given (``null`` ones dropped: Lua's "not set"): the
    orchestrator knows its own parameters and rejects an unknown one by name, so the
    host never silently drops one (``enter`` for agent.send, ``session`` for agent.new).
    ``required`` is checked here only to say so before a sidecar is started for nothing.
    """

    async def handler(core: Core, params: Params) -> Any:
        for key in required:
            param(params, key, (str, int, float, dict, list, bool))
        out = {key: value for key, value in params.items() if value is not None}
        timeout = None
        if (
            out.get("worktree")
            or out.get("remove_worktree")
            or remote in ("agent.cleanup", "review.finish")  # teardown scripts run
            or (remote == "agent.create" and out.get("type") == "ai")  # a worktree by default
        ):
            # a worktree's setup or teardown script may run up to setup_timeout_s, each
            timeout = 2 * float(core.config["worktree"]["setup_timeout_s"]) + 30
        if remote in _MCP_SLOW:
            timeout = MCP_CALL_TIMEOUT_S
        if remote == "agent.restart":  # up to the agent's init_timeout_s (default 30 s) + 5
            timeout = RESTART_CALL_TIMEOUT_S
        return await core.orchestrator.call(remote, out, timeout_s=timeout)

    METHODS.method(name)(handler)


# host method -> orchestrator method (doc/orchestrator-api.md has each one's parameters)
_forward("agent.new", "agent.create", ("type",))
_forward("agent.list", "agent.list")
_forward("agent.get", "agent.get", ("id",))
_forward("agent.send", "agent.send", ("id", "text"))
_forward("agent.stop", "agent.stop", ("id",))
_forward("agent.output", "agent.output", ("id",))
_forward("agent.worktrees", "agent.worktrees")
_forward("agent.cleanup", "agent.cleanup")
_forward("agent.subscribe", "stream.subscribe", ("id",))
# AI agents (ACP): the orchestrator's agent.* notifications reach Lua as events of the
# same names (orchflow_core/remote/link.py watches on every connection).
_forward("agent.prompt", "agent.prompt", ("id", "text"))
_forward("agent.cancel", "agent.cancel", ("id",))
_forward("agent.answer", "agent.answer", ("id", "request_id", "option_id"))
_forward("agent.turns", "agent.turns", ("id",))
_forward("agent.registry", "agent.registry")
_forward("agent.restart", "agent.restart", ("id",))  # waits for the agent's session (bounded)
_forward("agent.unsubscribe", "stream.unsubscribe", ("id",))
# ACP agents' fs/* through Neovim's buffers: Lua's answer to an editor.fs event
_forward("editor.fs_reply", "editor.fs_reply", ("request_id",))
_forward("memory.store", "memory.store", ("key", "value"))
_forward("memory.get", "memory.get", ("key",))
_forward("memory.search", "memory.search", ("query",))
_forward("memory.list", "memory.list")
_forward("memory.delete", "memory.delete", ("key",))
_forward("schedule.add", "schedule.add", ("name", "cron", "job"))
_forward("schedule.list", "schedule.list")
_forward("schedule.remove", "schedule.remove", ("name",))
_forward("schedule.run_now", "schedule.run_now", ("name",))
_forward("schedule.history", "schedule.history", ("name",))
_forward("lock.list", "lock.list")
_forward("swarm.submit", "swarm.submit", ("tasks",))
_forward("swarm.status", "swarm.status", ("swarm_id",))
_forward("swarm.list", "swarm.list")
_forward("swarm.cancel", "swarm.cancel", ("swarm_id",))


@METHODS.method("swarm.submit_file")
async def swarm_submit_file(core: Core, params: Params) -> Any:
    """``{path}``: a swarm in a JSON or TOML file (``swarm.submit``'s params: ``tasks = [...]``
    as an array of tables in TOML), read here and submitted; a task's relative ``cwd`` is
    taken from the file's directory, and the file's directory is the default cwd."""
    import json
    import tomllib
    from pathlib import Path

    from orchflow_core.errors import InvalidArgumentError

    path = Path(param(params, "path", str)).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}", param="path") from None
    try:
        spec = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise InvalidArgumentError(f"{path} is not valid {kind}: {exc}", param="path") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tasks"), list):
        raise InvalidArgumentError(
            f"{path} must hold an object with tasks = [{{id, command | prompt, ...}}]",
            param="path",
        )
    base = path.resolve().parent
    for task in spec["tasks"]:
        if isinstance(task, dict):
            cwd = task.get("cwd")
            task["cwd"] = str(base / cwd) if isinstance(cwd, str) else str(base)
    return await core.orchestrator.call("swarm.submit", spec)


_forward("review.open", "review.open", ("agent",))
_forward("review.accept", "review.accept", ("agent",))
_forward("review.reject", "review.reject", ("agent",))
_forward("review.comment", "review.comment", ("agent", "path", "line", "text"))
_forward("review.send", "review.send", ("agent",))
_forward("review.finish", "review.finish", ("agent", "strategy"))
# AI providers (orchestrator/providers): a streamed ai.complete answers at once; its
# ai.delta, ai.tool, ai.done and ai.error notifications reach Lua as events of the same names.
_forward("ai.cancel", "ai.cancel", ("request_id",))
_forward("ai.providers", "ai.providers")


@METHODS.method("ai.complete")
async def ai_complete(core: Core, params: Params) -> Any:
    """Forwarded; a plain (not streamed) completion may take as long as the slowest
    provider's total_timeout_s."""
    param(params, "prompt", str)
    out = {key: value for key, value in params.items() if value is not None}
    timeout = None
    if not out.get("stream"):
        limits = [
            float(p.get("total_timeout_s", 600))
            for p in (core.config.get("providers") or {}).values()
            if isinstance(p, dict) and isinstance(p.get("total_timeout_s", 600), int | float)
        ]
        timeout = max(limits, default=600.0) + 30
    return await core.orchestrator.call("ai.complete", out, timeout_s=timeout)


# orchflow as an MCP client (:Orchflow mcp's keys)
_forward("mcp.list_servers", "mcp.list_servers")
_forward("mcp.list_tools", "mcp.list_tools", ("server",))
_forward("mcp.call", "mcp.call", ("server", "tool"))
_forward("mcp.restart", "mcp.restart", ("server",))


# -- mcp.status: :Orchflow mcp and :checkhealth (doc/mcp.md) --------------------------------


def mcp_command(discovery_file: str | None = None) -> list[str]:
    """The argv an AI client runs for orchflow's stdio MCP server: this interpreter, isolated
    (``-I``: AI clients start it in the project, whose files must never be imported, and
    PYTHONPATH is not trusted either), on the orchestrator this orchflow_core came from,
    exactly as the sidecar is started (``link.SIDECAR_BOOT``)."""
    import sys
    from pathlib import Path

    from orchflow_core.remote.link import SIDECAR_BOOT

    root = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-I", "-c", SIDECAR_BOOT, root, "mcp"]
    if discovery_file is not None:
        argv += ["--discovery-file", discovery_file]
    return argv


def mcp_snippets(argv: list[str]) -> dict[str, str]:
    """How to add orchflow to Claude Code (a command, or a project's .mcp.json), Codex and
    Gemini CLI (their own config syntax)."""
    import json
    import shlex

    command, args = argv[0], argv[1:]
    toml_args = ", ".join(json.dumps(a) for a in args)
    gemini = {"mcpServers": {"orchflow": {"command": command, "args": args}}}
    project = {"mcpServers": {"orchflow": {"type": "stdio", "command": command, "args": args}}}
    return {
        "claude": f"claude mcp add orchflow -- {shlex.join(argv)}",
        "claude_project": json.dumps(project, indent=2),
        "codex": f"[mcp_servers.orchflow]\ncommand = {json.dumps(command)}\nargs = [{toml_args}]",
        "gemini": json.dumps(gemini, indent=2),
    }


@METHODS.method("mcp.status")
async def mcp_status(core: Core, params: Params) -> dict[str, Any]:
    """{orchestrator: its status, server: system.features' mcp.server (None while it does
    not run), client: mcp.client, servers: mcp.list_servers (None while it does not run),
    command: argv, snippets: {claude, codex, gemini}, note}.
    Never starts a sidecar: it reports what runs."""
    from orchflow_core.errors import OrchflowError
    from orchflow_core.remote import discovery

    link = core.orchestrator
    status = await link.status()
    out: dict[str, Any] = {"orchestrator": status, "server": None, "client": None, "servers": None}
    if status.get("state") == "running":
        try:
            features = (await link.call("system.features"))["features"]
            out["server"], out["client"] = features.get("mcp.server"), features.get("mcp.client")
            out["servers"] = await link.call("mcp.list_servers")
        except OrchflowError as exc:
            out["error"] = exc.message
    note = "AI clients start `orchflow-orchestrator mcp`; it needs a running orchestrator."
    if link.mode == "sidecar":
        note = (
            "This Neovim's sidecar orchestrator lives only while Neovim runs; for AI clients "
            "outside it, run a service (`orchflow-orchestrator serve`) and drop --discovery-file."
        )
    path = link.discovery_file
    out["command"] = mcp_command(None if path == discovery.default_path() else str(path))
    out["snippets"] = mcp_snippets(out["command"])
    out["note"] = note
    return out
