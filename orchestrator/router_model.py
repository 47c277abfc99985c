"""The router's model tier: a configured AI provider answers ``ai.route`` only when the
fast tiers (learned feedback, the lexicon: orchflow_core/router/) are unsure, within a time
budget, and only with a command the project itself can run.

    [router]
    model_provider = "local"     # a [providers.<name>]; unset: no model tier
    model_budget_ms = 2000       # the answer must come within this, else the fast answer
    model_below = 0.5            # asked only when the fast confidence is below this

The model is shown the request and the project's own commands by agent type (the same scan
the fast tiers use) and must answer one JSON object ``{"agent_type", "command",
"confidence"}``. An agent type outside the known ones, or a command the project does not
have, is not taken: the fast answer stands, and its ``reason`` says why the model's was
left out. The model tier never blocks the answer for longer than its budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import OrchflowError

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator

log = logging.getLogger(__name__)

DEFAULT_BUDGET_MS = 2000.0
DEFAULT_BELOW = 0.5
MAX_CANDIDATES_PER_TYPE = 8
TYPES = ("dev", "test", "repl", "build", "lint", "ai")

SYSTEM = (
    "You route a developer's request to one agent type and one of their project's own"
    " commands. Answer with one JSON object and nothing else:"
    ' {"agent_type": <one of dev, test, repl, build, lint, ai, or null>, "command": <one of'
    ' the listed commands for that type, or null>, "confidence": <0 to 1>}. Use "ai" for'
    " work an AI coding agent does (explain, refactor, write code; command null). Use null"
    " when nothing fits."
)
_OBJECT = re.compile(r"\{.*\}", re.S)


def settings(config: dict[str, Any]) -> tuple[str | None, float, float]:
    """(provider, budget in seconds, confidence below which it is asked)."""
    cfg = config.get("router") or {}
    provider = cfg.get("model_provider")
    budget = float(cfg.get("model_budget_ms") or DEFAULT_BUDGET_MS) / 1000.0
    raw_below = cfg.get("model_below")
    below = float(raw_below) if isinstance(raw_below, int | float) else DEFAULT_BELOW
    return (provider if isinstance(provider, str) and provider else None), budget, below


def _candidates(commands: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
    return {
        t: [c for c, _ in commands.get(t, [])[:MAX_CANDIDATES_PER_TYPE]]
        for t in TYPES
        if t != "ai" and commands.get(t)
    }


def prompt_for(request: str, candidates: dict[str, list[str]], fast: dict[str, Any]) -> str:
    listed = "\n".join(f"- {t}: {json.dumps(cmds)}" for t, cmds in candidates.items())
    return (
        f"Request: {json.dumps(request)}\n"
        f"The project's commands by agent type:\n{listed or '- (none)'}\n"
        f"The fast router's guess: {json.dumps(fast.get('agent_type'))} with"
        f" {json.dumps(fast.get('suggested_command'))} (confidence {fast.get('confidence')})."
    )


def parse(text: str, candidates: dict[str, list[str]]) -> tuple[dict[str, Any] | None, str]:
    """(the model's route, why it was not taken): one of them is None/empty."""
    found = _OBJECT.search(text)
    if found is None:
        return None, "its answer held no JSON object"
    try:
        data = json.loads(found.group(0))
    except ValueError:
        return None, "its answer was not valid JSON"
    if not isinstance(data, dict):
        return None, "its answer was not a JSON object"
    agent_type = data.get("agent_type")
    command = data.get("command")
    confidence = data.get("confidence")
    if agent_type is not None and agent_type not in TYPES:
        return None, f"agent_type {agent_type!r} is not one of {', '.join(TYPES)}"
    if command is not None and (
        not isinstance(command, str) or command not in candidates.get(str(agent_type), [])
    ):
        return None, f"command {command!r} is not one the project has for {agent_type}"
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        confidence = 0.6
    confidence = min(max(float(confidence), 0.0), 1.0)
    if agent_type is None:
        confidence = min(confidence, 0.49)
    return {"agent_type": agent_type, "command": command, "confidence": confidence}, ""


async def route(app: Orchestrator, request: str, cwd: str, fast: dict[str, Any]) -> dict[str, Any]:
    """``fast`` as it is, or the model's answer when the model tier is configured, the fast
    tiers are unsure and the model answers within its budget with something the project
    has."""
    provider, budget, below = settings(app.core.config)
    if provider is None or fast.get("confidence", 0.0) >= below:
        return fast
    from orchflow_core.router.methods import service

    view = await asyncio.to_thread(service(app.core).projects.get, cwd)
    candidates = _candidates(view.commands)
    started = time.monotonic()
    try:
        async with asyncio.timeout(budget):
            answer = await app.provider_manager().complete(
                prompt_for(request, candidates, fast), system=SYSTEM, provider=provider
            )
    except TimeoutError:
        return _kept(fast, f"model tier ({provider}): no answer within {budget * 1000:g} ms")
    except OrchflowError as exc:
        log.info("router model tier: %s", exc.message)
        return _kept(fast, f"model tier ({provider}): {exc.message}")
    took_ms = (time.monotonic() - started) * 1000.0
    chosen, why_not = parse(answer.text, candidates)
    if chosen is None:
        return _kept(fast, f"model tier ({provider}): not taken, {why_not}")
    alternatives = [
        {k: fast.get(k) for k in ("agent_type", "suggested_command", "confidence", "tier")},
        *fast.get("alternatives", []),
    ]
    return {
        **fast,
        "agent_type": chosen["agent_type"],
        "suggested_command": chosen["command"],
        "confidence": round(chosen["confidence"], 3),
        "reason": f"model tier ({provider}, {took_ms:.0f} ms) chose it from the project's"
        f" commands; the fast tiers were unsure ({fast.get('confidence')}: {fast.get('reason')})",
        "tier": "model",
        "source": "model",
        "arguments": [],
        "alternatives": alternatives,
    }


def _kept(fast: dict[str, Any], why: str) -> dict[str, Any]:
    return {**fast, "reason": f"{fast.get('reason')}; {why}"}
