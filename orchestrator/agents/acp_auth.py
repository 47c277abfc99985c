"""An ACP agent that needs a login: authenticate where it can be done here, else say how.

What the real adapters do without credentials (checked 2026-11-30, doc/agents.md "Checked
against"): ``codex-acp`` 0.16.0 and ``gemini --experimental-acp`` 0.61.0 answer
``session/new`` with ACP's ``auth_required`` error (code -32000); ``claude-agent-acp``
0.23.1 opens the session and answers the first ``session/prompt`` with it. None of them
hangs. Their ``initialize`` lists ``authMethods``: an ``env_var`` method names the variables
the agent reads (codex-acp: ``OPENAI_API_KEY``, ``CODEX_API_KEY``) and needs an
``authenticate`` call before ``session/new`` even when the variable is set.

So, on ``auth_required``:

- if an ``env_var`` method's variables are all set in the agent's environment,
  ``authenticate`` with it once and open the session again (no network needed, nothing the
  user must do);
- else the agent ends in ``error`` with a reason that says how to log in: the registry's
  ``login`` hint (``run `claude` once and /login, or set ANTHROPIC_API_KEY``) and the
  methods the agent offered, each with the variables to set.

Nothing here logs a variable's value; only names are ever shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from acp import RequestError

AUTH_REQUIRED = -32000  # ACP's auth_required error code
MAX_TEXT = 300  # characters of an agent's error text kept in a reason

# claude-agent-acp 0.23.1 asks Claude Code to allow skipping permissions when IS_SANDBOX is
# set to anything; as root, Claude Code 2.1.83 (inside the adapter) then exits unless it is
# exactly "1", and the adapter reports only this (seen 2026-11-30 with IS_SANDBOX=yes; with
# it unset, as root, the session opens).
_CLOSED = "Query closed before response received"


def methods(init: Any) -> list[dict[str, Any]]:
    """The ``authMethods`` of an ``initialize`` answer as plain dicts: id, name,
    description, type (``agent`` when the agent gave none), vars (names) and link."""
    out: list[dict[str, Any]] = []
    for method in getattr(init, "auth_methods", None) or []:
        out.append(
            {
                "id": method.id,
                "name": method.name,
                "description": method.description,
                "type": getattr(method, "type", None) or "agent",
                "vars": [v.name for v in getattr(method, "vars", None) or []],
                "optional_vars": [
                    v.name for v in getattr(method, "vars", None) or [] if v.optional
                ],
                "link": getattr(method, "link", None),
            }
        )
    return out


def is_auth_error(exc: BaseException) -> bool:
    """ACP's ``auth_required`` (any message: Gemini CLI says "Gemini API key is missing or
    not configured.")."""
    return isinstance(exc, RequestError) and exc.code == AUTH_REQUIRED


def error_text(exc: RequestError) -> str:
    """The agent's error with what its ``data`` adds (``details``, ``message``)."""
    text = str(exc)
    data = exc.data
    if isinstance(data, dict):
        extra = [str(data[k]) for k in ("details", "message") if isinstance(data.get(k), str)]
        extra = [e for e in extra if e and e not in text]
        if extra:
            text = f"{text} ({'; '.join(extra)})"
    return text[:MAX_TEXT]


def agent_env(spec_env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment the agent process gets (as AcpAgent.start builds it)."""
    return {**os.environ, **spec_env, **extra}


def env_method(found: list[dict[str, Any]], env: Mapping[str, str]) -> dict[str, Any] | None:
    """The first ``env_var`` method whose required variables are all set (non-empty)."""
    for method in found:
        if method["type"] != "env_var" or not method["vars"]:
            continue
        required = [v for v in method["vars"] if v not in method["optional_vars"]]
        if required and all(env.get(v) for v in required):
            return method
    return None


def _offered(found: list[dict[str, Any]]) -> str:
    parts = []
    for method in found:
        text = str(method["name"] or method["id"])
        if method["type"] == "env_var" and method["vars"]:
            text += f" (set {' or '.join(method['vars'])})"
        elif method["description"]:
            text += f" ({method['description']})"
        parts.append(text)
    return "; ".join(parts)


def login_reason(
    *,
    label: str,
    hint: str,
    found: list[dict[str, Any]],
    exc: RequestError,
    when: str,
    tried: str | None = None,
) -> str:
    """``needs login: …``: what the agent said, how to log in (the registry's hint), the
    methods it offers, and the env method tried, if one was."""
    reason = f"needs login: {label} answered {when} with {error_text(exc)!r}"
    if tried:
        reason += f" even after authenticate with {tried}"
    if hint:
        reason += f"; to log in: {hint}"
    offered = _offered(found)
    if offered:
        reason += f"; it offers: {offered}"
    return reason + "; then create the agent again"


def refused_reason(exc: RequestError, env: Mapping[str, str]) -> str:
    """A session refused for another reason, with a hint where the cause is known."""
    text = error_text(exc)
    reason = f"the agent refused to start a session: {text}"
    sandbox = env.get("IS_SANDBOX")
    if _CLOSED in text and _is_root() and sandbox and sandbox != "1":
        reason += (
            f"; as root, Claude Code exits at once when IS_SANDBOX is set to anything but 1 "
            f'(it is {sandbox!r} here): set env = {{IS_SANDBOX = "1"}} in [agents.<name>] '
            "of config.toml, or unset it"
        )
    return reason


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
