"""``[mcp.servers.<name>]`` in config.toml: one checked ``ServerSpec`` per configured server.

    [mcp.servers.github]                      # stdio: a command orchflow starts
    command = "github-mcp-server"
    args = ["stdio"]
    env = { GITHUB_TOKEN = "${GITHUB_TOKEN}" }
    cwd = "~/src"                             # optional
    timeout_s = 60                            # each call (default 60)
    start_timeout_s = 30                      # starting it (default 30)
    enabled = true                            # default true

    [mcp.servers.docs]                        # Streamable HTTP
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ${DOCS_TOKEN}" }

``${NAME}`` in ``env`` and ``headers`` values is the orchestrator's environment variable
(an unset one is an error naming it). Every field is checked; a bad one is an error naming
``mcp.servers.<name>.<field>`` and what it allows — for that server only, the others work.
``public()`` is what may be shown or logged: header and env *names*, never their values.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

OURS = "orchflow"  # our own server's name in mcp.list_servers (reserved)
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_START_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 86400.0
MIN_TIMEOUT_S = 0.1
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STDIO_ONLY = ("command", "args", "env", "cwd")
_HTTP_ONLY = ("url", "headers")
FIELDS = (*_STDIO_ONLY, *_HTTP_ONLY, "timeout_s", "start_timeout_s", "enabled")


class SpecError(ValueError):
    """A configured server's bad field; the message names it."""


@dataclass(frozen=True)
class ServerSpec:
    name: str
    transport: str  # "stdio" | "http"
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # expanded: secrets, never shown
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # expanded: secrets, never shown
    timeout_s: float = DEFAULT_TIMEOUT_S
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """What may be shown and logged: no env or header values."""
        out: dict[str, Any] = {"transport": self.transport, "enabled": self.enabled}
        if self.transport == "stdio":
            out.update(command=self.command, args=list(self.args), cwd=self.cwd)
            out["env"] = sorted(self.env)
        else:
            out.update(url=_strip_userinfo(self.url), headers=sorted(self.headers))
        out.update(timeout_s=self.timeout_s, start_timeout_s=self.start_timeout_s)
        return out


def _strip_userinfo(url: str) -> str:
    """``https://user:secret@host/x`` shown as ``https://***@host/x``."""
    return re.sub(r"^([a-z]+://)[^/@]*@", r"\1***@", url)


def _key(name: str, *parts: str) -> str:
    return ".".join(("mcp.servers", name, *parts))


def _expand(value: str, key: str, environ: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        var = m.group(1)
        if var not in environ:
            raise SpecError(
                f"{key}: ${{{var}}} is not set in the orchestrator's environment "
                "(set it before starting the orchestrator, or write the value)"
            )
        return environ[var]

    return _VAR.sub(sub, value)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{key}: got {json.dumps(value)[:100]}, expected a list of strings")
    return tuple(value)


def _table(value: Any, key: str, environ: dict[str, str]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SpecError(f'{key}: expected a table of strings (NAME = "value")')
    out = {}
    for k, v in value.items():
        if not isinstance(v, str):
            # the value may be a secret: say its type, not its value
            raise SpecError(f"{key}.{k}: expected a string, got {type(v).__name__}")
        out[str(k)] = _expand(v, f"{key}.{k}", environ)
    return out


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{key}: got {json.dumps(value)[:100]}, expected a number of seconds")
    if not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S:
        raise SpecError(f"{key}: got {value}, expected >= {MIN_TIMEOUT_S} and <= {MAX_TIMEOUT_S:g}")
    return float(value)


def parse(name: str, raw: Any, environ: dict[str, str] | None = None) -> ServerSpec:
    """One ``[mcp.servers.<name>]`` table, checked; SpecError naming the bad field."""
    env_now = dict(os.environ) if environ is None else environ
    if not _NAME.fullmatch(name):
        raise SpecError(
            f"mcp.servers.{name[:64]!r}: a server name uses letters, digits, - and _ (1-64)"
        )
    if name == OURS:
        raise SpecError(f"{_key(name)}: {OURS!r} is orchflow's own server; pick another name")
    if not isinstance(raw, dict):
        raise SpecError(f"{_key(name)}: expected a table ([mcp.servers.{name}])")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise SpecError(
            f"{_key(name, unknown[0])}: unknown field; valid: {', '.join(sorted(FIELDS))}"
        )
    has_command, has_url = "command" in raw, "url" in raw
    if has_command == has_url:
        raise SpecError(
            f"{_key(name)}: give either command (a stdio server) or url (Streamable HTTP)"
            + (", not both" if has_command else "")
        )
    common: dict[str, Any] = {}
    if "timeout_s" in raw:
        common["timeout_s"] = _seconds(raw["timeout_s"], _key(name, "timeout_s"))
    if "start_timeout_s" in raw:
        common["start_timeout_s"] = _seconds(raw["start_timeout_s"], _key(name, "start_timeout_s"))
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            raise SpecError(
                f"{_key(name, 'enabled')}: got {json.dumps(raw['enabled'])[:100]}, "
                "expected true or false"
            )
        common["enabled"] = raw["enabled"]
    if has_command:
        wrong = [k for k in _HTTP_ONLY if k in raw]
        if wrong:
            raise SpecError(f"{_key(name, wrong[0])}: only for url servers (this one has command)")
        command = raw["command"]
        if not isinstance(command, str) or not command.strip():
            raise SpecError(
                f"{_key(name, 'command')}: got {json.dumps(command)[:100]}, expected the "
                "executable (a non-empty string; arguments go in args)"
            )
        cwd = raw.get("cwd")
        if cwd is not None and (not isinstance(cwd, str) or not cwd):
            raise SpecError(f"{_key(name, 'cwd')}: got {json.dumps(cwd)[:100]}, expected a path")
        return ServerSpec(
            name=name,
            transport="stdio",
            command=command,
            args=_strings(raw.get("args", []), _key(name, "args")),
            env=_table(raw.get("env", {}), _key(name, "env"), env_now),
            cwd=os.path.expanduser(cwd) if cwd else None,
            **common,
        )
    wrong = [k for k in _STDIO_ONLY if k in raw]
    if wrong:
        raise SpecError(f"{_key(name, wrong[0])}: only for command servers (this one has url)")
    url = raw["url"]
    if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
        raise SpecError(
            f"{_key(name, 'url')}: got {json.dumps(_strip_userinfo(str(url)))[:100]}, "
            "expected an http:// or https:// URL"
        )
    return ServerSpec(
        name=name,
        transport="http",
        url=url,
        headers=_table(raw.get("headers", {}), _key(name, "headers"), env_now),
        **common,
    )


def parse_all(
    servers: Any, environ: dict[str, str] | None = None
) -> tuple[dict[str, ServerSpec], dict[str, str]]:
    """(specs by name, errors by name) of ``mcp.servers``: a bad server is reported, the
    others are used."""
    specs: dict[str, ServerSpec] = {}
    errors: dict[str, str] = {}
    if not isinstance(servers, dict):
        return {}, {"": "mcp.servers: expected a table of [mcp.servers.<name>] tables"}
    for name, raw in servers.items():
        try:
            specs[str(name)] = parse(str(name), raw, environ)
        except SpecError as exc:
            errors[str(name)] = str(exc)
    return specs, errors
