"""An agent of the agent registry (``orchestrator/agents/registry.py``) as a provider:
one ACP session with one turn, through orchflow's own ACP client (``AcpAgent``).

Each completion starts the agent's ACP command in the project root, opens a session
(within the registry entry's ``init_timeout_s``), sends the prompt (the system text
first, then a blank line), streams the agent's message chunks as the answer and stops
the agent when the turn ends, is cancelled or runs out of time. A completion asks for
text, not actions: the agent's permission requests are answered ``cancelled``. The agent
is not listed by ``agent.list`` (it lives for one answer). Its ``terminal/*`` requests
run in tmux panes as for any ACP agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from orchestrator.agents import registry as agent_registry
from orchestrator.agents.acp_terminals import TerminalsGetter
from orchestrator.providers.base import Delta, Event, Final, ProviderFailure, Request
from orchestrator.providers.config import ProviderConfig
from orchflow_core.errors import (
    BackendError,
    ConfigError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)

log = logging.getLogger(__name__)

Item = tuple[str, Any]  # ("text", str) | ("turn", turn dict) | ("ended", reason)


class AcpProvider:
    kind = "acp"
    supports_tools = False  # the agent runs its own tools: orchflow's tool loop cannot drive it

    def __init__(
        self,
        cfg: ProviderConfig,
        *,
        cwd: str,
        terminals: TerminalsGetter,
        registry: Callable[[], dict[str, agent_registry.AgentSpec]],
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.model = cfg.model or cfg.agent
        self.cwd = cwd
        self._terminals = terminals
        self._registry = registry

    def _spec(self) -> agent_registry.AgentSpec:
        try:
            specs = self._registry()
        except ConfigError as exc:
            raise ProviderFailure(
                UnavailableError(f"the agent registry: {exc.message}", provider=self.name),
                breaker=False,
            ) from None
        spec = specs.get(self.cfg.agent)
        if spec is None:
            raise ProviderFailure(
                UnavailableError(
                    f"provider {self.name!r}: no agent {self.cfg.agent!r} in the registry "
                    f"(it has: {', '.join(specs)})",
                    provider=self.name,
                ),
                breaker=False,
            )
        return spec

    def unavailable(self) -> str | None:
        try:
            spec = self._spec()
        except ProviderFailure as exc:
            return exc.error.message.removeprefix("unavailable: ")
        if not spec.acp:
            return f"agent {spec.name!r} has no ACP command in the registry"
        if spec.executable("acp") is None:
            return f"{spec.acp[0]!r} (agent {spec.name!r}'s ACP command) is not on PATH"
        return None

    async def aclose(self) -> None:
        return None

    async def stream(self, request: Request) -> AsyncIterator[Event]:
        try:
            from orchestrator.providers.acp_agent import OneTurnAgent
        except ImportError as exc:
            raise ProviderFailure(
                UnavailableError(
                    f"ACP needs the ACP SDK ({exc.name} is missing): "
                    "pip install 'orchflow[orchestrator]'",
                    provider=self.name,
                ),
                breaker=False,
            ) from None
        spec = self._spec()
        why = self.unavailable()
        if why is not None:
            raise ProviderFailure(UnavailableError(why, provider=self.name), breaker=False)
        queue: asyncio.Queue[Item] = asyncio.Queue()
        agent = OneTurnAgent(
            queue,
            spec=spec,
            name=f"provider-{self.name}",
            cwd=self.cwd,
            session=None,
            terminals=self._terminals,
        )
        try:
            await agent.start()
        except OrchflowError as exc:
            raise ProviderFailure(UnavailableError(exc.message, provider=self.name)) from None
        text = request.prompt if not request.system else f"{request.system}\n\n{request.prompt}"
        cfg = self.cfg
        try:
            agent.prompt(text)
            first = True
            while True:
                # the session opens within the registry's init_timeout_s, then first byte
                limit = (spec.init_timeout_s + cfg.first_byte_timeout_s) if first else None
                limit = limit or cfg.stall_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        kind, value = await queue.get()
                except TimeoutError:
                    what = "first_byte_timeout_s" if first else "stall_timeout_s"
                    raise ProviderFailure(
                        TimeoutError_(
                            f"provider {self.name!r}: agent {spec.name!r} sent nothing for "
                            f"{limit:g} s ({what})",
                            provider=self.name,
                        )
                    ) from None
                first = False
                if kind == "text":
                    yield Delta(str(value))
                elif kind == "ended":
                    raise ProviderFailure(
                        BackendError(
                            f"provider {self.name!r}: agent {spec.name!r} ended: {value}",
                            provider=self.name,
                        )
                    )
                elif kind == "turn":
                    if value.get("error"):
                        raise ProviderFailure(
                            BackendError(
                                f"provider {self.name!r}: agent {spec.name!r}: {value['error']}",
                                provider=self.name,
                            )
                        )
                    yield Final(
                        usage=_usage(value.get("usage") or {}),
                        finish_reason=value.get("stop_reason"),
                        model=self.model,
                    )
                    return
        finally:
            if not agent.final:
                with contextlib.suppress(OrchflowError, ConnectionError, OSError):
                    await agent.cancel()
            await agent.stop()


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    """ACP's usage (camelCase on the wire) as orchflow reports every provider's."""
    if not raw:
        return {}
    return {
        "input_tokens": raw.get("inputTokens"),
        "output_tokens": raw.get("outputTokens"),
        "total_tokens": raw.get("totalTokens"),
    }
