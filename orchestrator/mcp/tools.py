"""orchflow's MCP tools: one table, each tool a thin call into the orchestrator's JSON-RPC API.

Every tool is declared once here (``TOOLS``): its arguments (``Arg``: name, JSON type,
required or not, the JSON-RPC parameter it becomes) and the API method it calls. The MCP
input schema (``Tool.input_schema``), the argument checks (``Tool.check``) and doc/mcp.md
(``python -m orchestrator.mcp.tools``) are all generated from that one declaration, so they
cannot drift; tests/orchestrator/test_mcp_tools.py checks every argument against the API's
own parameter table.

A tool's work goes through ``Api.call`` — the JSON-RPC method table of the running
orchestrator, in process (Streamable HTTP on its listener) or over its WebSocket
(``orchflow-orchestrator mcp``, stdio). ``invoke`` below is the one place where the MCP
layer calls into the API (see RULES CHOKE POINT).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from orchflow_core.errors import InvalidArgumentError

MAX_ARGUMENTS_BYTES = 2**20  # the JSON-RPC message cap: a bigger call could not reach the API
DEFAULT_RUN_TIMEOUT_S = 30.0
DEFAULT_TAIL_LINES = 40


class Api(Protocol):
    """The orchestrator's JSON-RPC API, however it is reached."""

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """The method's result, or raise its ``OrchflowError``."""
        ...

    async def call_collecting(
        self, method: str, params: dict[str, Any], notification: str
    ) -> tuple[Any, list[Any]]:
        """The result and the params of every ``notification`` the call pushed to us."""
        ...


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_ARTICLE = {"integer": "an integer", "object": "an object", "array": "an array"}


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a tool: its JSON type (``None``: any JSON value) and the JSON-RPC
    parameter it is passed as (``rpc``, default the same name; ``""``: not passed on)."""

    name: str
    type: str | None
    description: str
    required: bool = False
    rpc: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type} if self.type else {}
        out["description"] = self.description
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.enum:
            out["enum"] = list(self.enum)
        return out

    def check(self, value: Any) -> None:
        kinds = _JSON_TYPES.get(self.type or "")
        wrong = kinds is not None and (
            not isinstance(value, kinds)
            or (isinstance(value, bool) and self.type != "boolean")
            or (isinstance(value, float) and not math.isfinite(value))
        )
        if wrong:
            kind = _ARTICLE.get(str(self.type), f"a {self.type}")
            raise InvalidArgumentError(
                f"argument {self.name!r} must be {kind}, got {_show(value)}", param=self.name
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                raise InvalidArgumentError(
                    f"argument {self.name!r} must be between {low} and {high}, got {value}",
                    param=self.name,
                )
        if self.enum and value not in self.enum:
            raise InvalidArgumentError(
                f"argument {self.name!r} must be one of {', '.join(self.enum)}, got {_show(value)}",
                param=self.name,
            )


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


Run = Callable[["Api", dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Tool:
    """An MCP tool: ``method`` is the API method called with the checked arguments, unless
    ``run`` composes several calls (pane_run, search_project)."""

    name: str
    description: str
    method: str
    args: tuple[Arg, ...] = ()
    run: Run | None = field(default=None, compare=False)
    read_only: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)  # JSON-RPC params, when absent
    also: tuple[str, ...] = ()  # the other API methods ``run`` calls

    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {a.name: a.schema() for a in self.args},
            "required": [a.name for a in self.args if a.required],
            "additionalProperties": False,
        }

    def check(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """The arguments as JSON-RPC params; ``InvalidArgumentError`` naming a bad one."""
        given = dict(arguments or {})
        known = {a.name: a for a in self.args}
        for name in given:
            if name not in known:
                expected = ", ".join(known) or "none"
                raise InvalidArgumentError(
                    f"unknown argument {name!r} for {self.name} (expected: {expected})", param=name
                )
        params: dict[str, Any] = dict(self.defaults)
        for arg in self.args:
            # null is "not given" (clients send it for optional arguments), except where
            # any JSON value is allowed
            absent = arg.name not in given or (given[arg.name] is None and arg.type is not None)
            if absent:
                if arg.required:
                    raise InvalidArgumentError(
                        f"missing required argument {arg.name!r} for {self.name}", param=arg.name
                    )
                continue
            arg.check(given[arg.name])
            if arg.rpc != "":
                params[arg.rpc or arg.name] = given[arg.name]
        return params


# -- tools that compose calls ------------------------------------------------------------


async def _pane_run(api: Api, params: dict[str, Any]) -> Any:
    """Start the run, wait for its end (run.wait), then read the pane's last lines."""
    timeout = float(params.pop("timeout_s", DEFAULT_RUN_TIMEOUT_S))
    tail = int(params.pop("tail_lines", DEFAULT_TAIL_LINES))
    started = await invoke(api, "pane.run", params)
    run = await invoke(api, "run.wait", {"id": started["id"], "timeout_s": timeout})
    output = await invoke(api, "pane.output", {"pane": params["pane"], "lines": tail})
    return {
        "run_id": run["id"],
        "command": run["command"],
        "state": run["state"],
        "exit_code": run["exit_code"],
        "duration_s": run["duration_s"],
        "output_tail": output["text"],
    }


async def _search_project(api: Api, params: dict[str, Any]) -> Any:
    """The search summary plus every match, gathered from its search.results batches."""
    summary, batches = await invoke_collecting(api, "search.project", params, "search.results")
    matches = [
        {k: m.get(k) for k in ("path", "line", "column", "text")}
        for batch in batches
        for m in batch.get("matches", [])
    ]
    return {**summary, "matches": matches}


async def _route(api: Api, params: dict[str, Any]) -> Any:
    """ai.route with cwd and mode as its context."""
    context = {k: params.pop(k) for k in ("cwd", "mode") if k in params}
    return await invoke(api, "ai.route", {**params, **({"context": context} if context else {})})


_PANE = Arg("pane", "string", "the pane: its tmux id (%3), orchflow id or name", required=True)
_LINES = Arg("lines", "integer", "how many lines (default 100)", minimum=1, maximum=10_000)

TOOLS: tuple[Tool, ...] = (
    Tool(
        "pane_list",
        "The orchflow panes (agents too) in tmux: id, name, type, state, exit code, command.",
        "pane.list",
        (Arg("session", "string", "only this tmux session"),),
        read_only=True,
    ),
    Tool(
        "pane_create",
        "Open a tmux pane. A dev/test/repl/build/lint pane without a command runs the "
        "project's own command (Makefile, package.json, cargo, go, pytest...).",
        "pane.new",
        (
            Arg(
                "type",
                "string",
                "shell (default), dev, test, repl, build, lint, agent or custom",
                enum=("shell", "dev", "test", "repl", "build", "lint", "agent", "custom"),
            ),
            Arg("command", "string", "the command it runs (default: a shell)", rpc="cmd"),
            Arg("name", "string", "a unique name to refer to it by"),
            Arg("cwd", "string", "its working directory (default: the project root)"),
            Arg("session", "string", "the tmux session (default: the current one)"),
        ),
    ),
    Tool(
        "pane_run",
        "Run a shell command in a pane, wait for it to end and return its exit code (the "
        "shell's), its duration and the pane's last lines.",
        "pane.run",
        (
            _PANE,
            Arg("command", "string", "the command line, typed as is", required=True, rpc="cmd"),
            Arg(
                "timeout_s",
                "number",
                f"how long to wait for the end (default {DEFAULT_RUN_TIMEOUT_S:g})",
                minimum=0,
                maximum=3600,
            ),
            Arg(
                "tail_lines",
                "integer",
                f"how many of the pane's last lines to return (default {DEFAULT_TAIL_LINES})",
                minimum=1,
                maximum=10_000,
            ),
        ),
        run=_pane_run,
        also=("run.wait", "pane.output"),
    ),
    Tool(
        "pane_send",
        "Type text into a pane, byte for byte, then press Enter unless enter is false.",
        "pane.send",
        (
            _PANE,
            Arg("text", "string", "the text to type", required=True),
            Arg("enter", "boolean", "press Enter after the text (default true)"),
        ),
        defaults={"enter": True},
    ),
    Tool(
        "pane_output",
        "The last lines of a pane (screen and scrollback) as text.",
        "pane.output",
        (_PANE, _LINES),
        read_only=True,
    ),
    Tool(
        "search_project",
        "Search the project with ripgrep (regex by default; respects .gitignore).",
        "search.project",
        (
            Arg("pattern", "string", "a ripgrep regex (or text with literal)", required=True),
            Arg("literal", "boolean", "match the pattern as plain text"),
            Arg(
                "case",
                "string",
                "smart (default), sensitive or insensitive",
                enum=("smart", "sensitive", "insensitive"),
            ),
            Arg("whole_word", "boolean", "match whole words only"),
            Arg("include", "array", "globs of paths to search (e.g. ['*.py'])"),
            Arg("exclude", "array", "globs of paths to skip"),
            Arg("max_results", "integer", "stop after this many matches", minimum=1),
        ),
        run=_search_project,
        read_only=True,
    ),
    Tool(
        "files_list",
        "The project's files (respecting .gitignore), or the best matches of a fuzzy query.",
        "files.list",
        (
            Arg("query", "string", "rank files by this fuzzy query"),
            Arg("limit", "integer", "at most this many", minimum=1),
        ),
        read_only=True,
    ),
    Tool(
        "history_top",
        "The commands run through orchflow, ranked by frecency.",
        "history.top",
        (
            Arg("n", "integer", "how many (default 20)", minimum=1),
            Arg("cwd", "string", "prefer commands run in this directory"),
        ),
        read_only=True,
    ),
    Tool(
        "agent_create",
        "Start an agent: a typed pane the orchestrator runs (its command detected from the "
        "project when not given).",
        "agent.create",
        (
            Arg(
                "type",
                "string",
                "dev, test, repl, build, lint, custom, or ai (an AI coding agent of the "
                "registry: give agent)",
                required=True,
                enum=("dev", "test", "repl", "build", "lint", "custom", "ai"),
            ),
            Arg("name", "string", "a unique name"),
            Arg("command", "string", "its command (required for custom; not for ai)"),
            Arg("cwd", "string", "its working directory (default: the project root)"),
            Arg("agent", "string", "type ai: the agent registry's name (claude, codex, ...)"),
            Arg(
                "transport",
                "string",
                "type ai: acp or terminal (default acp where the agent speaks it)",
                enum=("acp", "terminal"),
            ),
            Arg("prompt", "string", "type ai: a first prompt"),
        ),
    ),
    Tool("agent_list", "The running agents and their state.", "agent.list", (), read_only=True),
    Tool(
        "agent_state",
        "One agent: its state (idle while its process lives, exited with its exit code), "
        "activity (active or quiet), command and pane.",
        "agent.get",
        (Arg("id", "string", "the agent's id or name", required=True),),
        read_only=True,
    ),
    Tool(
        "agent_prompt",
        "Type text into an agent's terminal (byte for byte), then press Enter unless enter "
        "is false.",
        "agent.send",
        (
            Arg("id", "string", "the agent's id or name", required=True),
            Arg("text", "string", "what to type", required=True),
            Arg("enter", "boolean", "press Enter after the text (default true)"),
        ),
    ),
    Tool(
        "agent_output",
        "The last lines an agent printed.",
        "agent.output",
        (Arg("id", "string", "the agent's id or name", required=True), _LINES),
        read_only=True,
    ),
    Tool(
        "memory_store",
        "Store a value (text or any JSON) under a key in orchflow's persistent memory.",
        "memory.store",
        (
            Arg("key", "string", "the key", required=True),
            Arg("value", None, "text or any JSON value", required=True),
            Arg("namespace", "string", "default: 'default'"),
            Arg("ttl", "number", "expire after this many seconds", minimum=0),
        ),
    ),
    Tool(
        "memory_search",
        "Full-text search of orchflow's memory (fuzzy when full text finds nothing).",
        "memory.search",
        (
            Arg("query", "string", "what to look for", required=True),
            Arg("namespace", "string", "only this namespace"),
            Arg("limit", "integer", "at most this many (default 20)", minimum=1, maximum=10_000),
        ),
        read_only=True,
    ),
    Tool(
        "route",
        "Which agent and which of the project's own commands fit a request in plain words "
        "(ai.route): agent_type, suggested_command, confidence, reason, alternatives.",
        "ai.route",
        (
            Arg("input", "string", "the request, as a person would type it", required=True),
            Arg("cwd", "string", "the project directory (default: the orchestrator's)"),
            Arg("mode", "string", "a SPARC mode to lean by (default: the active one)"),
        ),
        run=_route,
        read_only=True,
    ),
    Tool(
        "swarm_submit",
        "Run a graph of tasks (shell commands in panes, or prompts to AI agents) in "
        "parallel: returns the swarm_id at once; swarm_status follows it.",
        "swarm.submit",
        (
            Arg(
                "tasks",
                "array",
                "[{id, command | prompt, agent?, cwd?, deps?: [id], timeout_s?, retries?, "
                "locks?: [{resource, mode}]}]",
                required=True,
            ),
            Arg("name", "string", "a name to find it by"),
            Arg(
                "strategy",
                "string",
                "how tasks chain (default parallel)",
                enum=("parallel", "sequential", "map", "reduce", "pipeline"),
            ),
            Arg(
                "max_parallel",
                "integer",
                "at most this many at once (default 8)",
                minimum=1,
                maximum=64,
            ),
            Arg("inputs", "array", "map: the items each template task runs over"),
        ),
    ),
    Tool(
        "swarm_status",
        "A swarm's state and each task's state, exit code, attempts and output tail.",
        "swarm.status",
        (Arg("swarm_id", "string", "from swarm_submit", required=True),),
        read_only=True,
    ),
    Tool(
        "lock_acquire",
        "Take a shared or exclusive lock on a named resource (a file, a port, a database) "
        "for a lease; refused at once with the holders named, or after wait_s.",
        "lock.acquire",
        (
            Arg("resource", "string", "what to lock, by name", required=True),
            Arg(
                "mode", "string", "shared or exclusive", required=True, enum=("shared", "exclusive")
            ),
            Arg("lease_s", "number", "it expires after this many seconds (default 60)", minimum=0),
            Arg("wait_s", "number", "wait this long for it (default 0: refuse at once)", minimum=0),
        ),
    ),
    Tool(
        "lock_release",
        "Release a lock lock_acquire gave.",
        "lock.release",
        (Arg("lock_id", "string", "from lock_acquire", required=True),),
    ),
    Tool(
        "review_open",
        "An agent's changes against its base (its worktree), file by file and hunk by hunk, "
        "with the files another agent changed too (overlaps).",
        "review.open",
        (Arg("agent", "string", "the agent's id or name", required=True),),
        read_only=True,
    ),
    Tool(
        "run_list",
        "The latest runs (commands in panes) with exit code, duration and source.",
        "run.list",
        (
            Arg("pane", "string", "only this pane"),
            Arg("limit", "integer", "at most this many (default 50)", minimum=1, maximum=1000),
        ),
        read_only=True,
    ),
)
BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}


class ToolError(Exception):
    """A tool call that failed: its ``message`` is what the model sees (``isError``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_size(arguments: Any) -> None:
    try:
        size = len(orjson.dumps(arguments))  # compact UTF-8, as a client sends it
    except TypeError:  # an int beyond 64 bits: the standard library's encoder
        size = len(json.dumps(arguments, ensure_ascii=False).encode())
    if size > MAX_ARGUMENTS_BYTES:
        raise InvalidArgumentError(
            f"arguments too large: {size} bytes (at most {MAX_ARGUMENTS_BYTES})",
            param="arguments",
        )


# -- THE ONE WAY IN ------------------------------------------------------------------------
# Every API call an MCP tool or resource makes passes here, and only here. The rules are
# not checked here but by the orchestrator's handler every caller goes through
# (orchestrator/methods.py: a pane command over JSON-RPC has origin "mcp", so a confirm
# rule refuses it); tests/orchestrator/acp/test_rules_every_path.py drives pane_run.
async def invoke(api: Api, method: str, params: dict[str, Any]) -> Any:
    return await api.call(method, params)


async def invoke_collecting(
    api: Api, method: str, params: dict[str, Any], notification: str
) -> tuple[Any, list[Any]]:
    return await api.call_collecting(method, params, notification)


# -----------------------------------------------------------------------------------------


async def call_tool(api: Api, name: str, arguments: Mapping[str, Any] | None) -> Any:
    """Check ``arguments`` against tool ``name`` and run it; ``InvalidArgumentError`` for an
    unknown tool or a bad argument, the API's ``OrchflowError`` for a refusal."""
    tool = BY_NAME.get(name)
    if tool is None:
        raise InvalidArgumentError(
            f"unknown tool {name[:100]!r} (tools: {', '.join(BY_NAME)})", param="name"
        )
    check_size(arguments)
    params = tool.check(arguments)
    if tool.run is not None:
        return await tool.run(api, params)
    return await invoke(api, tool.method, params)


def markdown() -> str:
    """doc/mcp.md's tool list (tests check the file holds exactly this)."""
    out = []
    for tool in TOOLS:
        calls = ", then ".join(f"`{m}`" for m in (tool.method, *tool.also))
        out.append(f"### `{tool.name}`\n\n{tool.description} Calls {calls}.\n")
        if tool.args:
            out.append("| argument | type | required | description |\n|---|---|---|---|")
            for a in tool.args:
                extra = []
                if a.enum:
                    extra.append("one of " + ", ".join(f"`{e}`" for e in a.enum))
                if a.minimum is not None or a.maximum is not None:
                    extra.append(f"{a.minimum:g}..{'' if a.maximum is None else f'{a.maximum:g}'}")
                desc = a.description + (f" ({'; '.join(extra)})" if extra else "")
                out.append(
                    f"| `{a.name}` | {a.type or 'any'} | {'yes' if a.required else ''} | {desc} |"
                )
            out.append("")
        else:
            out.append("No arguments.\n")
        out.append(
            "<details><summary>input schema</summary>\n\n```json\n"
            + json.dumps(tool.input_schema(), indent=2)
            + "\n```\n</details>\n"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
