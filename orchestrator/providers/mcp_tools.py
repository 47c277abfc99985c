"""The MCP servers' tools offered to a model (``ai.complete`` with tools): which servers,
the names the model sees, and each call through orchflow's MCP client.

Names. The model sees ``<server>__<tool>`` with every character outside ``[A-Za-z0-9_-]``
replaced by ``_``, at most ``NAME_MAX`` (64, the limit of OpenAI's function names and of
Anthropic's tool names). A name that is too long, or that collides with one already given
(``a.b`` and ``a_b`` both become ``a_b``), is cut and ends with ``_`` and 8 hex digits of a
hash of the real server and tool. The way back is exact: a table from the name offered to
(server, tool); the model's name is looked up as sent, never re-sanitised.

Calls go through ``McpClients.call`` as ``mcp.call`` does: the server's circuit breaker and
``timeout_s``, and the rules choke point for a command in the arguments. Whatever goes wrong
becomes a tool error result the model reads, and the completion goes on: a name that was not
offered, arguments that are not a JSON object, a rule's refusal (its message), a timeout, an
open breaker, a server that went away. Only cancellation (``ai.cancel``) stops the loop.

A result is the text items of the tool's content, joined; other items are named
(``[image image/png]``); ``structuredContent`` as JSON when there is no text; cut at
``max_result_chars`` (the model's context is not a log).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.mcp.client.manager import McpClients
from orchestrator.providers.base import ToolDef, ToolOutcome, ToolUse
from orchflow_core.errors import InvalidArgumentError, OrchflowError

log = logging.getLogger(__name__)

NAME_MAX = 64
SEPARATOR = "__"
DEFAULT_MAX_RESULT_CHARS = 20_000  # of one tool result, sent back to the model
EVENT_TEXT_CHARS = 300  # of a result, in an ai.tool notification
_BAD = re.compile(r"[^A-Za-z0-9_-]")
OnTool = Callable[[dict[str, Any]], None]


def selection(value: Any) -> bool | tuple[str, ...] | None:
    """``ai.complete``'s ``tools``: None (not given: the provider's ``tools`` setting), a
    boolean, or a list of MCP server names."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(dict.fromkeys(value))
    raise InvalidArgumentError(
        f"tools must be true, false or a list of MCP server names, got "
        f"{json.dumps(value, default=str)[:100]}",
        param="tools",
    )


def offered_name(server: str, tool: str, taken: set[str]) -> str:
    """The name the model sees for ``server``'s ``tool`` (see the module docstring)."""
    name = _BAD.sub("_", f"{server}{SEPARATOR}{tool}")
    if len(name) <= NAME_MAX and name not in taken:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()
    for start in range(0, len(digest) - 8):
        candidate = f"{name[: NAME_MAX - 9]}_{digest[start : start + 8]}"
        if candidate not in taken:
            return candidate
    raise AssertionError("no free name")  # 56 distinct hashes all taken: not reachable


@dataclass(frozen=True, slots=True)
class Offered:
    name: str
    server: str
    tool: str

    @property
    def label(self) -> str:
        return f"{self.server}.{self.tool}"


def result_text(result: dict[str, Any], *, limit: int) -> str:
    """A ``tools/call`` result as the text the model reads."""
    parts: list[str] = []
    for item in result.get("content") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            parts.append(str(item.get("text", "")))
        elif kind == "resource":
            res = item.get("resource") or {}
            parts.append(str(res.get("text") or f"[resource {res.get('uri', '?')}]"))
        elif kind == "resource_link":
            parts.append(f"[resource {item.get('uri', '?')}]")
        else:
            parts.append(f"[{kind} {item.get('mimeType', '')}]".replace(" ]", "]"))
    text = "\n".join(parts)
    if not text.strip() and result.get("structuredContent") is not None:
        text = json.dumps(result["structuredContent"], ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + f"\n[cut: the result was {len(text)} characters, {limit} shown]"
    return text


class Toolset:
    """The tools of ``servers`` for one completion, and the record of its calls."""

    def __init__(
        self,
        clients: McpClients,
        servers: tuple[str, ...],
        *,
        on_event: OnTool | None = None,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        """``on_event`` gets each call's start and end (``ai.tool`` notifications);
        ``max_result_chars`` (default ``DEFAULT_MAX_RESULT_CHARS``) bounds one result."""
        self._clients = clients
        self.servers = servers
        self.on_event = on_event
        self._max_result_chars = max_result_chars
        self._offered: dict[str, Offered] = {}
        self.problems: dict[str, str] = {}
        self.calls: list[dict[str, Any]] = []
        self.running: str | None = None  # the "server.tool" in flight (or listing tools)

    async def load(self) -> tuple[ToolDef, ...]:
        """Ask every server for its tools (started on demand, at once); a server that
        cannot answer is left out and named in ``problems``."""
        self.running = "tools/list"
        answers = await asyncio.gather(
            *(self._clients.list_tools(s) for s in self.servers), return_exceptions=True
        )
        self.running = None
        defs: list[ToolDef] = []
        taken: set[str] = set()
        for server, answer in zip(self.servers, answers, strict=True):
            if isinstance(answer, OrchflowError):
                self.problems[server] = answer.message
                continue
            if isinstance(answer, BaseException):
                raise answer
            for tool in answer["tools"]:
                real = str(tool.get("name", ""))
                if not real:
                    continue
                name = offered_name(server, real, taken)
                taken.add(name)
                self._offered[name] = Offered(name, server, real)
                schema = tool.get("inputSchema")
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    schema = {"type": "object", "properties": {}}
                about = str(tool.get("description") or tool.get("title") or real)
                defs.append(ToolDef(name, f"[MCP server {server}] {about}", schema))
        return tuple(defs)

    @property
    def note(self) -> str | list[str]:
        """``tools`` in the answer: the tools offered, or why there were none."""
        if self._offered:
            return [o.label for o in self._offered.values()]
        if self.problems:
            why = "; ".join(f"{s}: {m}" for s, m in self.problems.items())
            return f"unavailable: no MCP server answered ({why})"
        return f"unavailable: the MCP servers offer no tools ({', '.join(self.servers)})"

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    async def run(self, uses: tuple[ToolUse, ...], round_no: int) -> tuple[ToolOutcome, ...]:
        """Call each tool the model asked for, in order; never raises but for cancellation."""
        return tuple([await self._one(use, round_no) for use in uses])

    async def _one(self, use: ToolUse, round_no: int) -> ToolOutcome:
        offered = self._offered.get(use.name)
        record: dict[str, Any] = {
            "round": round_no,
            "id": use.id,
            "name": use.name,
            "server": offered.server if offered else None,
            "tool": offered.tool if offered else None,
        }
        self._emit({**record, "phase": "started"})
        started = time.monotonic()
        self.running = offered.label if offered else use.name
        text, is_error = await self._call(use, offered)
        self.running = None
        record.update(
            is_error=is_error,
            text=text[:EVENT_TEXT_CHARS],
            duration_s=round(time.monotonic() - started, 3),
        )
        self.calls.append(record)
        self._emit({**record, "phase": "finished"})
        return ToolOutcome(use.id, text, is_error)

    async def _call(self, use: ToolUse, offered: Offered | None) -> tuple[str, bool]:
        if offered is None:
            names = ", ".join(self._offered) or "none"
            return f"no tool named {use.name[:100]!r} was offered (the tools: {names})", True
        try:
            arguments = json.loads(use.arguments) if use.arguments.strip() else {}
        except ValueError as exc:
            return f"the arguments are not JSON ({exc}); send a JSON object", True
        if not isinstance(arguments, dict):
            return f"the arguments must be a JSON object, got {type(arguments).__name__}", True
        try:
            result = await self._clients.call(offered.server, offered.tool, arguments)
        except OrchflowError as exc:
            log.info("tool %s for a model failed: %s", offered.label, exc.message)
            return f"{offered.label} failed: {exc.message}", True
        return result_text(result, limit=self._max_result_chars), bool(result.get("isError"))

    def refuse(self, uses: tuple[ToolUse, ...], round_no: int, why: str) -> None:
        """Record tool requests that were not run (the round limit was reached)."""
        for use in uses:
            offered = self._offered.get(use.name)
            record = {
                "round": round_no,
                "id": use.id,
                "name": use.name,
                "server": offered.server if offered else None,
                "tool": offered.tool if offered else None,
                "is_error": True,
                "text": f"not run: {why}",
                "duration_s": 0.0,
            }
            self.calls.append(record)
            self._emit({**record, "phase": "refused"})
