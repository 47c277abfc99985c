"""``ProviderManager``: the configured providers, and ``complete()`` around them.

For one completion: pick the provider (the one named, else ``[ai] default_provider``,
else the only one configured); refuse at once if it is unavailable here (its key
variable unset, its command missing) or its circuit breaker is open; then attempt it.
An attempt that fails before any text arrived is tried again when the failure allows it
(429/503 after the server's ``Retry-After``, other 5xx, timeouts and connection errors
after backoff), at most ``max_retries`` times, and never past ``max_retry_wait_s`` of
waiting or the ``total_timeout_s`` of the whole completion. Once text has streamed, a
failure ends the completion (the caller has seen the text).

With tools (orchestrator/providers/mcp_tools.py), a completion is rounds: the model
answers, and when it asked for tools they are called (each through the MCP client: breaker,
timeout, rules) and their results sent back in the next request, until it answers without
asking or ``max_tool_rounds`` rounds of tools have run (then it ends with finish_reason
``max_tool_rounds`` and the requests not run are listed). Each round is attempted (and
retried) as above; ``total_timeout_s`` bounds all of them, tools included.

Each provider has a circuit breaker ``provider.<name>`` in the process's
``BreakerRegistry`` (so ``system.health`` and ``/metrics`` show it): every failed attempt
that is the service's fault counts; a refused key or a bad request does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.coordination.breakers import BreakerPolicy, BreakerRegistry
from orchestrator.providers import config as pconfig
from orchestrator.providers import retry
from orchestrator.providers.base import (
    Delta,
    Final,
    Provider,
    ProviderFailure,
    Request,
    ToolUse,
    Turn,
)
from orchestrator.providers.mcp_tools import Toolset
from orchflow_core.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)

log = logging.getLogger(__name__)

OnDelta = Callable[[str], None]
Sleep = Callable[[float], Any]


@dataclass
class Completion:
    text: str
    provider: str
    model: str
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    attempts: int = 1
    duration_s: float = 0.0
    tools: str | list[str] = "off"  # offered "server.tool" names, or why none ("off", ...)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_problems: dict[str, str] = field(default_factory=dict)
    rounds: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "provider": self.provider,
            "model": self.model,
            "usage": self.usage,
            "finish_reason": self.finish_reason,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
            "tools": self.tools,
            "tool_calls": self.tool_calls,
            "tool_problems": self.tool_problems,
            "rounds": self.rounds,
        }


class _Texts:
    """The text of all rounds, as streamed; a round's text after an earlier round's starts
    on a line of its own."""

    def __init__(self, on_delta: OnDelta | None) -> None:
        self.parts: list[str] = []
        self._on_delta = on_delta
        self._sep = ""

    def new_round(self) -> None:
        last = self.parts[-1] if self.parts else ""
        self._sep = "\n" if last and not last.endswith("\n") else ""

    def delta(self, text: str) -> None:
        if self._sep:
            text, self._sep = self._sep + text, ""
        self.parts.append(text)
        if self._on_delta is not None:
            self._on_delta(text)


@dataclass
class _Round:
    final: Final
    text: str
    uses: tuple[ToolUse, ...]
    attempts: int


def breaker_name(provider: str) -> str:
    return f"provider.{provider}"


class ProviderManager:
    def __init__(
        self,
        config: dict[str, Any],
        *,
        breakers: BreakerRegistry,
        project_root: Path,
        terminals: Any = None,
        agent_registry: Callable[[], Any] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``config``: the effective config (``providers`` and ``ai`` are read). A bad
        ``[providers.*]`` table does not raise here: ``error`` keeps it and every call
        reports it."""
        self._breakers = breakers
        self._sleep = sleep
        self.project_root = project_root
        self.error: str | None = None
        self.configs: dict[str, pconfig.ProviderConfig] = {}
        try:
            self.configs = pconfig.parse(config.get("providers"))
        except ConfigError as exc:
            self.error = exc.message
            log.error("providers: %s", exc.message)
        self.default = pconfig.default_name(config, self.configs)
        self._providers: dict[str, Provider] = {}
        self._terminals = terminals
        self._agent_registry = agent_registry
        for name, cfg in self.configs.items():
            breakers.add(
                breaker_name(name),
                f"ai.complete through provider {name!r} ({cfg.kind})",
                BreakerPolicy(
                    failure_threshold=cfg.breaker_failures,
                    window_s=cfg.breaker_window_s,
                    cooldown_s=cfg.breaker_cooldown_s,
                ),
            )

    # -- providers ---------------------------------------------------------------------
    def _make(self, cfg: pconfig.ProviderConfig) -> Provider:
        cwd = str(self.project_root)
        if cfg.kind == "openai":
            from orchestrator.providers.openai import OpenAIProvider

            return OpenAIProvider(cfg)
        if cfg.kind == "anthropic":
            from orchestrator.providers.anthropic import AnthropicProvider

            return AnthropicProvider(cfg)
        if cfg.kind == "cli":
            from orchestrator.providers.cli import CliProvider

            return CliProvider(cfg, cwd=cwd)
        from orchestrator.agents import registry
        from orchestrator.providers.acp import AcpProvider

        return AcpProvider(
            cfg,
            cwd=cwd,
            terminals=self._terminals,
            registry=self._agent_registry or (lambda: registry.load(None)),
        )

    def provider(self, name: str | None) -> Provider:
        """The provider ``name`` (None: the default); errors say what is configured."""
        if self.error is not None:
            raise ConfigError(self.error)
        known = ", ".join(self.configs) or "none"
        if name is None:
            name = self.default
            if name is None:
                raise InvalidArgumentError(
                    "no provider given and no default: pass provider (configured: "
                    f"{known}) or set [ai] default_provider in config.toml"
                    if self.configs
                    else "no AI provider is configured: add a [providers.<name>] table to "
                    "config.toml (see doc/providers.md)",
                    param="provider",
                )
        cfg = self.configs.get(name)
        if cfg is None:
            raise NotFoundError(
                f"no provider {name!r} (configured: {known}); [providers.{name}] in "
                "config.toml adds it",
                provider=name,
            )
        if name not in self._providers:
            try:
                self._providers[name] = self._make(cfg)
            except ImportError as exc:
                raise UnavailableError(
                    f"provider {name!r} needs {exc.name}: pip install 'orchflow[orchestrator]'",
                    provider=name,
                ) from None
        return self._providers[name]

    def resolve(self, prompt: str, provider: str | None) -> Provider:
        """The provider a completion would use, or the error it would end with at once
        (an empty prompt, no such provider, unavailable here, its breaker open)."""
        if not prompt.strip():
            raise InvalidArgumentError("prompt is empty", param="prompt")
        chosen = self.provider(provider)
        why = chosen.unavailable()
        if why is not None:
            raise UnavailableError(f"provider {chosen.name!r}: {why}", provider=chosen.name)
        breaker = self._breakers[breaker_name(chosen.name)]
        breaker.check()  # open: refused now (a streamed call gets it as its answer) ...
        breaker.release()  # ... else the attempt itself takes the (trial) slot
        return chosen

    def views(self) -> list[dict[str, Any]]:
        """``ai.providers``: each provider, its breaker, and why it cannot run (or null)."""
        out = []
        snapshot = self._breakers.snapshot()
        for name, cfg in self.configs.items():
            try:
                why = self.provider(name).unavailable()
            except OrchflowError as exc:
                why = exc.message.removeprefix("unavailable: ")
            breaker = snapshot.get(breaker_name(name), {})
            out.append(
                {
                    **cfg.view(),
                    "default": name == self.default,
                    "status": "unavailable" if why else "configured",
                    "unavailable": why,
                    "breaker": {
                        k: breaker.get(k)
                        for k in ("state", "failures", "retry_in_s", "last_failure", "opens")
                    },
                }
            )
        return out

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()

    # -- completions -------------------------------------------------------------------
    async def complete(
        self,
        prompt: str,
        *,
        system: str | None = None,
        preamble: str | None = None,
        provider: str | None = None,
        on_delta: OnDelta | None = None,
        tools: Toolset | None = None,
        tools_note: str = "off",
    ) -> Completion:
        """Ask ``provider`` (default: the configured default). ``preamble`` (a mode's) goes
        before ``system``. ``on_delta`` receives the text as it streams. ``tools``: the MCP
        tools to offer (None: none, and ``tools_note`` says why)."""
        chosen = self.resolve(prompt, provider)
        cfg = self.configs[chosen.name]
        parts = [p for p in (preamble, system) if p and p.strip()]
        request = Request(prompt=prompt, system="\n\n".join(parts) if parts else None)
        started = time.monotonic()
        try:
            async with asyncio.timeout(cfg.total_timeout_s):
                return await self._rounds(
                    chosen, cfg, request, on_delta, started, tools, tools_note
                )
        except TimeoutError:
            during = tools.running if tools is not None else None
            if during is None:  # the model's time, not a tool's: counts on its breaker
                self._breakers[breaker_name(chosen.name)].failure("total_timeout_s ran out")
            raise TimeoutError_(
                f"provider {chosen.name!r} did not finish within {cfg.total_timeout_s:g} s "
                "(total_timeout_s)" + (f", in the tool call {during}" if during else ""),
                provider=chosen.name,
            ) from None

    async def _rounds(
        self,
        chosen: Provider,
        cfg: pconfig.ProviderConfig,
        request: Request,
        on_delta: OnDelta | None,
        started: float,
        tools: Toolset | None,
        tools_note: str,
    ) -> Completion:
        note: str | list[str] = tools_note
        if tools is not None:
            defs = await tools.load()
            note = tools.note
            if defs:
                request = Request(request.prompt, request.system, tools=defs)
        texts = _Texts(on_delta)
        usages: list[dict[str, Any]] = []
        attempts = 0
        turns: list[Turn] = []
        finish: str | None = None
        model: str | None = None
        while True:
            texts.new_round()
            one = await self._attempts(chosen, cfg, request, texts.delta, texts.parts)
            usages.append(one.final.usage)
            attempts += one.attempts
            finish = one.final.finish_reason
            model = one.final.model or model
            if not one.uses or tools is None:
                break
            if len(turns) >= cfg.max_tool_rounds:
                why = f"max_tool_rounds ({cfg.max_tool_rounds}) reached"
                tools.refuse(one.uses, len(turns) + 1, why)
                finish = "max_tool_rounds"
                break
            outcomes = await tools.run(one.uses, len(turns) + 1)
            turns.append(Turn(one.text, one.uses, outcomes))
            request = Request(request.prompt, request.system, request.tools, tuple(turns))
        return Completion(
            text="".join(texts.parts),
            provider=chosen.name,
            model=model or chosen.model,
            usage=_sum_usage(usages),
            finish_reason=finish,
            attempts=attempts,
            duration_s=time.monotonic() - started,
            tools=note,
            tool_calls=tools.calls if tools is not None else [],
            tool_problems=tools.problems if tools is not None else {},
            rounds=len(usages),
        )

    async def _attempts(
        self,
        chosen: Provider,
        cfg: pconfig.ProviderConfig,
        request: Request,
        on_delta: OnDelta | None,
        earlier: list[str],
    ) -> _Round:
        breaker = self._breakers[breaker_name(chosen.name)]
        waited = 0.0
        attempt = 0
        while True:
            breaker.check()  # UnavailableError while open, naming when it tries again
            parts: list[str] = []
            uses: list[ToolUse] = []
            try:
                final = await self._one(chosen, request, parts, uses, on_delta)
            except ProviderFailure as failure:
                if failure.breaker:
                    breaker.failure(failure.error.message)
                else:
                    breaker.release()
                log.warning("provider %s attempt %d failed: %s", chosen.name, attempt + 1, failure)
                pause = retry.delay(
                    attempt, backoff_s=cfg.retry_backoff_s, retry_after=failure.retry_after
                )
                if (
                    parts  # the caller has seen text: no second answer
                    or not failure.retryable
                    or attempt >= cfg.max_retries
                    or waited + pause > cfg.max_retry_wait_s
                ):
                    if earlier:  # every round's text so far, this attempt's included
                        failure.error.data["partial_text"] = "".join(earlier)
                    raise failure.error from None
                attempt += 1
                waited += pause
                await self._sleep(pause)
                continue
            except asyncio.CancelledError:
                breaker.release()
                raise
            except OrchflowError:
                breaker.release()
                raise
            except Exception as exc:  # a provider bug: the breaker must not stay half-open
                breaker.release()
                log.exception("provider %s failed unexpectedly", chosen.name)
                raise UnavailableError(
                    f"provider {chosen.name!r} failed: {type(exc).__name__}", provider=chosen.name
                ) from None
            breaker.success()
            return _Round(final, "".join(parts), tuple(uses), attempt + 1)

    async def _one(
        self,
        chosen: Provider,
        request: Request,
        parts: list[str],
        uses: list[ToolUse],
        on_delta: OnDelta | None,
    ) -> Final:
        final: Final | None = None
        gen = chosen.stream(request)
        try:
            async for event in gen:
                if isinstance(event, Delta):
                    parts.append(event.text)
                    if on_delta is not None:
                        on_delta(event.text)
                elif isinstance(event, ToolUse):
                    uses.append(event)
                else:
                    final = event
        finally:
            await gen.aclose()  # type: ignore[attr-defined]
        return final or Final()


def _sum_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds' usage added up (one round: as the provider gave it)."""
    usages = [u for u in usages if u]
    if len(usages) <= 1:
        return usages[0] if usages else {}
    out: dict[str, Any] = {}
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        values = [u.get(key) for u in usages]
        out[key] = (
            sum(v for v in values if isinstance(v, int))
            if all(isinstance(v, int) for v in values)
            else None
        )
    return out
