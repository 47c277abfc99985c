"""Who may connect: token, Origin and Host checks, and where we may listen.

Pure functions, no I/O (the server calls them from ``process_request``).
The rules come from real incidents (shared/research/style_security.md B.2):

- a per-start 256-bit token in ``Authorization: Bearer``, compared in
  constant time; browsers cannot set that header, so this alone defeats
  cross-site WebSocket hijacking; a missing Origin is *not* trust (Vite
  CVE-2026-39363);
- any ``Origin`` header means a browser: 403 (browsers always send it on
  WebSocket, native clients do not);
- ``Host`` must be one of our loopback names with our port, exactly one
  header, never empty: DNS rebinding gets 403 (Node CVE-2018-7160,
  Jupyter #3714, ollama#17721);
- loopback or a Unix socket only, unless the caller opts in explicitly.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchflow_core.errors import InvalidArgumentError, PermissionDeniedError

__all__ = [
    "ListenAddress",
    "Refusal",
    "allowed_hosts_for",
    "check_request",
    "new_token",
    "parse_bearer",
    "parse_listen",
    "token_matches",
]

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    """A fresh 256-bit token, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def parse_bearer(value: str | None) -> str | None:
    """The token in ``Bearer <token>``, or ``None`` if the header is absent or malformed."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def token_matches(expected: str, presented: str | None) -> bool:
    """Constant-time comparison; ``None`` or an empty expected token never matches."""
    if presented is None or not expected:
        return False
    # compare_digest refuses non-ASCII str; bytes keep it constant-time for any input.
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """Where a server listens: TCP ``host``/``port`` or a Unix socket ``path``."""

    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_unspecified(host: str) -> bool:
    # 0.0.0.0 is never a name a legitimate client uses ("0.0.0.0 day" attacks did).
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def parse_listen(listen: str, *, allow_remote: bool = False) -> ListenAddress:
    """Parse ``"127.0.0.1:PORT"``, ``"[::1]:PORT"``, ``"localhost:PORT"`` or ``"unix:/path"``.

    Port 0 asks the OS for a free port. A non-loopback host raises
    ``PermissionDeniedError`` unless ``allow_remote`` is true.
    """
    if listen.startswith("unix:"):
        path = listen[len("unix:") :]
        if not path.startswith("/"):
            raise InvalidArgumentError(
                f"listen {listen!r}: a Unix socket path must be absolute, like 'unix:/run/x.sock'",
                param="listen",
            )
        return ListenAddress(path=path)
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidArgumentError(
            f"listen {listen!r}: expected 'HOST:PORT' (e.g. '127.0.0.1:0') or 'unix:/path'",
            param="listen",
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not allow_remote and not _is_loopback(host):
        raise PermissionDeniedError(
            f"listen {listen!r}: {host!r} is not a loopback address; use 127.0.0.1, ::1, "
            "localhost or a Unix socket, or pass allow_remote=True (token still required)",
            param="listen",
        )
    return ListenAddress(host=host, port=int(port_text))


def allowed_hosts_for(address: ListenAddress, extra: Iterable[str] = ()) -> frozenset[str]:
    """The exact ``Host`` header values accepted for a server bound to ``address``.

    ``address.port`` must be the real bound port (not 0). ``extra`` adds names
    for ``allow_remote`` setups, as ``name`` (any of our port) or ``name:port``.
    """
    if address.is_unix:
        hosts = {"localhost"}
    else:
        port = address.port
        hosts = {f"{name}:{port}" for name in _LOOPBACK_NAMES}
        if port == 80:  # clients omit the default port
            hosts.update(_LOOPBACK_NAMES)
        if address.host and not _is_unspecified(address.host):
            hosts.add(str(address).lower())  # e.g. 127.0.0.2:PORT or a LAN address
        for name in extra:
            name = name.lower()
            hosts.add(name if ":" in name.lstrip("[").split("]")[-1] else f"{name}:{port}")
    return frozenset(hosts)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP refusal: status and a short reason that never echoes secrets."""

    status: int
    reason: str


def check_request(
    *,
    hosts: Sequence[str],
    origins: Sequence[str],
    authorizations: Sequence[str],
    token: str,
    allowed_hosts: frozenset[str],
) -> Refusal | None:
    """``None`` if a handshake with these header values may proceed.

    Each argument is every value of that header in the request (so duplicated
    headers are seen and refused).
    """
    if len(hosts) != 1 or hosts[0].strip().lower() not in allowed_hosts:
        return Refusal(403, "Host not allowed\n")
    if origins:
        return Refusal(403, "browser origins are not allowed\n")
    if len(authorizations) != 1 or not token_matches(token, parse_bearer(authorizations[0])):
        return Refusal(401, "missing or wrong token (Authorization: Bearer <token>)\n")
    return None
