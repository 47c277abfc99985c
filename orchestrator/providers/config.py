"""``[providers.<name>]`` tables of config.toml, checked field by field.

Each table names its ``kind`` and the fields of that kind::

    [providers.local]                      # Ollama, llama.cpp server, vLLM, LM Studio, OpenAI
    kind = "openai"
    base_url = "http://127.0.0.1:11434/v1"
    model = "qwen2.5-coder:7b"
    api_key_env = "OPENAI_API_KEY"         # optional: the NAME of the variable with the key

    [providers.claude-api]
    kind = "anthropic"
    model = "claude-sonnet-4-5"
    api_key_env = "ANTHROPIC_API_KEY"      # the default

    tools = true                           # offer the MCP servers' tools (default false)
    max_tool_rounds = 8                    # tool rounds before the answer must come

    [providers.claude-cli]
    kind = "cli"
    command = ["claude", "-p"]             # reads the prompt on stdin

    [providers.gemini-acp]
    kind = "acp"
    agent = "gemini"                       # a name of the agent registry

    [ai]
    default_provider = "local"

A key is never written in config.toml: only the name of the environment variable that
holds it. An unknown field (``api_key`` included) or a bad value is a ConfigError naming
``providers.<name>.<field>`` and what is allowed there; values are not echoed (a key put
in the wrong field must not reach a log). This module imports nothing heavy:
``:checkhealth`` calls ``health()``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from orchflow_core.errors import ConfigError

KINDS = ("openai", "anthropic", "cli", "acp")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

# Limits every kind has: (default, minimum, maximum, what it is).
DEFAULT_CONNECT_TIMEOUT_S = 10.0  # TCP + TLS connect
DEFAULT_FIRST_BYTE_TIMEOUT_S = 120.0  # request sent -> first answer (headers and first text)
DEFAULT_STALL_TIMEOUT_S = 60.0  # longest silence between two chunks of a stream
DEFAULT_TOTAL_TIMEOUT_S = 600.0  # the whole completion, retries included
DEFAULT_MAX_RETRIES = 2  # attempts after the first, before any text arrived
DEFAULT_RETRY_BACKOFF_S = 0.5  # first backoff; doubles each retry (with jitter)
DEFAULT_MAX_RETRY_WAIT_S = 60.0  # a Retry-After longer than this is not waited for
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_WINDOW_S = 60.0
DEFAULT_BREAKER_COOLDOWN_S = 30.0
DEFAULT_MAX_TOKENS = 4096
# Tools (openai and anthropic only): ``tools`` is what ai.complete offers when the call does
# not say: false (the default: a plain completion starts no MCP server and costs no schema
# tokens), true (every enabled [mcp.servers.*]) or a list of server names.
DEFAULT_TOOLS = False
DEFAULT_MAX_TOOL_ROUNDS = 8  # rounds of tool calls; then the completion ends (max_tool_rounds)
TOOL_KINDS = ("openai", "anthropic")

_NUMBERS: dict[str, tuple[float, float, float]] = {
    "connect_timeout_s": (DEFAULT_CONNECT_TIMEOUT_S, 0.01, 3600),
    "first_byte_timeout_s": (DEFAULT_FIRST_BYTE_TIMEOUT_S, 0.01, 86400),
    "stall_timeout_s": (DEFAULT_STALL_TIMEOUT_S, 0.01, 86400),
    "total_timeout_s": (DEFAULT_TOTAL_TIMEOUT_S, 0.01, 86400),
    "retry_backoff_s": (DEFAULT_RETRY_BACKOFF_S, 0.0, 3600),
    "max_retry_wait_s": (DEFAULT_MAX_RETRY_WAIT_S, 0.0, 86400),
    "breaker_window_s": (DEFAULT_BREAKER_WINDOW_S, 0.01, 86400),
    "breaker_cooldown_s": (DEFAULT_BREAKER_COOLDOWN_S, 0.01, 86400),
}
_INTEGERS: dict[str, tuple[int, int, int]] = {
    "max_retries": (DEFAULT_MAX_RETRIES, 0, 20),
    "breaker_failures": (DEFAULT_BREAKER_FAILURES, 1, 1000),
    "max_tokens": (DEFAULT_MAX_TOKENS, 1, 10_000_000),
    "max_tool_rounds": (DEFAULT_MAX_TOOL_ROUNDS, 1, 100),
}
_COMMON = ("kind", "model", *_NUMBERS, *(k for k in _INTEGERS if k != "max_tool_rounds"))
_FIELDS: dict[str, tuple[str, ...]] = {
    "openai": (*_COMMON, "base_url", "api_key_env", "tools", "max_tool_rounds"),
    "anthropic": (
        *_COMMON,
        "base_url",
        "api_key_env",
        "anthropic_version",
        "tools",
        "max_tool_rounds",
    ),
    "cli": (*_COMMON, "command"),
    "acp": (*_COMMON, "agent"),
}
DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str
    model: str = ""
    base_url: str = ""
    api_key_env: str | None = None
    anthropic_version: str = DEFAULT_ANTHROPIC_VERSION
    command: tuple[str, ...] = ()
    agent: str = ""
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    first_byte_timeout_s: float = DEFAULT_FIRST_BYTE_TIMEOUT_S
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S
    total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S
    breaker_failures: int = DEFAULT_BREAKER_FAILURES
    breaker_window_s: float = DEFAULT_BREAKER_WINDOW_S
    breaker_cooldown_s: float = DEFAULT_BREAKER_COOLDOWN_S
    max_tokens: int = DEFAULT_MAX_TOKENS
    tools: bool | tuple[str, ...] = DEFAULT_TOOLS
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS
    extra: dict[str, Any] = field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key from the environment (never stored, logged or shown)."""
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None

    def unavailable(self) -> str | None:
        """Why this provider cannot be used here, or None."""
        if self.api_key_env and not os.environ.get(self.api_key_env):
            return f"the environment variable {self.api_key_env} (api_key_env) is not set"
        if self.kind == "cli" and shutil.which(self.command[0]) is None:
            return f"{self.command[0]!r} is not on PATH (command = {list(self.command)})"
        return None

    def view(self) -> dict[str, Any]:
        """What ``ai.providers`` shows: never the key, only its variable's name."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "model": self.model or None}
        out["supports_tools"] = self.kind in TOOL_KINDS
        if self.kind in TOOL_KINDS:
            out["tools"] = list(self.tools) if isinstance(self.tools, tuple) else self.tools
            out["max_tool_rounds"] = self.max_tool_rounds
        if self.kind in ("openai", "anthropic"):
            out["base_url"] = self.base_url
            out["api_key_env"] = self.api_key_env
            out["api_key_set"] = bool(self.api_key_env and os.environ.get(self.api_key_env))
        elif self.kind == "cli":
            out["command"] = list(self.command)
        else:
            out["agent"] = self.agent
        return out


def _err(origin: str, key: str, what: str) -> ConfigError:
    return ConfigError(f"{origin}: {key} {what}", origin=origin, key=key)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def parse_one(name: str, raw: Any, *, origin: str = "config.toml") -> ProviderConfig:
    prefix = f"providers.{name}"
    if not name or not set(name) <= _NAME_CHARS:
        raise _err(origin, prefix, "is not a valid provider name: use a-z, 0-9, - and _ only")
    if not isinstance(raw, dict):
        raise _err(origin, prefix, f"must be a table, got {_type_name(raw)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        got = repr(kind) if isinstance(kind, str) else _type_name(kind) if kind else "nothing"
        raise _err(origin, f"{prefix}.kind", f"must be one of {', '.join(KINDS)}, got {got}")
    allowed = _FIELDS[kind]
    out: dict[str, Any] = {"name": name, "kind": kind}
    for key, value in raw.items():
        where = f"{prefix}.{key}"
        if key not in allowed:
            hint = (
                "; a key is never written here: put it in an environment variable and name"
                " that variable in api_key_env"
                if "key" in key or "token" in key or "secret" in key
                else ""
            )
            raise _err(
                origin,
                where,
                f"is not a field of a {kind} provider (valid: {', '.join(sorted(allowed))}){hint}",
            )
        if key in _NUMBERS:
            _, low, high = _NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _err(origin, where, f"must be a number of seconds, got {_type_name(value)}")
            if not low <= value <= high:
                raise _err(origin, where, f"must be between {low:g} and {high:g}, got {value}")
            out[key] = float(value)
        elif key in _INTEGERS:
            _, ilow, ihigh = _INTEGERS[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise _err(origin, where, f"must be an integer, got {_type_name(value)}")
            if not ilow <= value <= ihigh:
                raise _err(origin, where, f"must be between {ilow} and {ihigh}, got {value}")
            out[key] = value
        elif key == "command":
            if not (
                isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
            ):
                raise _err(origin, where, "must be a non-empty list of non-empty strings")
            out[key] = tuple(value)
        elif key == "tools":
            if isinstance(value, bool):
                out[key] = value
            elif isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                out[key] = tuple(value)
            else:
                raise _err(
                    origin,
                    where,
                    "must be true, false or a list of MCP server names, got " + _type_name(value),
                )
        elif key != "kind":
            if not isinstance(value, str) or not value.strip():
                raise _err(origin, where, f"must be a non-empty string, got {_type_name(value)}")
            if key == "base_url" and not value.startswith(("http://", "https://")):
                raise _err(origin, where, "must start with http:// or https://")
            if key == "base_url" and ("@" in value.split("/")[2] or "?" in value):
                raise _err(
                    origin,
                    where,
                    "must not carry credentials or a query: name the key's variable in "
                    "api_key_env instead",
                )
            if key == "api_key_env" and not value.replace("_", "").isalnum():
                raise _err(
                    origin,
                    where,
                    "must be the NAME of an environment variable (letters, digits, _), not a key",
                )
            out[key] = value.rstrip("/") if key == "base_url" else value
    if kind in ("openai", "anthropic"):
        out.setdefault("base_url", DEFAULT_BASE_URL[kind])
        if kind in DEFAULT_KEY_ENV:
            out.setdefault("api_key_env", DEFAULT_KEY_ENV[kind])
        if not out.get("model"):
            raise _err(origin, f"{prefix}.model", "is missing: name the model to ask")
    if kind == "cli" and not out.get("command"):
        raise _err(origin, f"{prefix}.command", 'is missing: e.g. command = ["claude", "-p"]')
    if kind == "acp" and not out.get("agent"):
        raise _err(origin, f"{prefix}.agent", "is missing: name an agent of the registry")
    return ProviderConfig(**out)


def parse(providers: Any, *, origin: str = "config.toml") -> dict[str, ProviderConfig]:
    """Every ``[providers.<name>]`` table, checked (ConfigError on the first bad one)."""
    if providers is None:
        return {}
    if not isinstance(providers, dict):
        raise _err(origin, "providers", "must be a table of [providers.<name>] tables")
    return {str(n): parse_one(str(n), raw, origin=origin) for n, raw in sorted(providers.items())}


def default_name(config: dict[str, Any], providers: dict[str, ProviderConfig]) -> str | None:
    """``[ai] default_provider``, else the only provider configured, else None."""
    name = (config.get("ai") or {}).get("default_provider")
    if name:
        return str(name)
    return next(iter(providers)) if len(providers) == 1 else None


def health(config: dict[str, Any]) -> dict[str, Any]:
    """For ``:checkhealth``: each provider, its kind and model, whether the variable
    named by api_key_env is set (never its value), and whether the MCP servers its
    ``tools`` names are configured (``tools_problem``)."""
    providers = parse(config.get("providers"))
    default = default_name(config, providers)
    servers = (config.get("mcp") or {}).get("servers")
    names = set(servers) if isinstance(servers, dict) else set()
    items = []
    for p in providers.values():
        item = {**p.view(), "unavailable": p.unavailable(), "default": p.name == default}
        item["tools_problem"] = _tools_problem(p, names)
        items.append(item)
    problem = None
    if default is not None and default not in providers:
        problem = f"ai.default_provider is {default!r}, but no [providers.{default}] table exists"
    return {"providers": items, "default": default, "problem": problem}


def _tools_problem(p: ProviderConfig, servers: set[str]) -> str | None:
    """Why ``tools`` cannot offer what it says (checked against config.toml only)."""
    if p.tools is True and not servers:
        return "tools = true, but no [mcp.servers.<name>] is configured"
    if isinstance(p.tools, tuple):
        missing = [n for n in p.tools if n not in servers and n != "orchflow"]
        if missing:
            return f"tools names {', '.join(missing)}, not in [mcp.servers.*]"
    return None
