"""One exception hierarchy for everything orchflow reports to a user or a client.

    OrchflowError                    -32000  base; never raised bare by library code
    ├── ConfigError                  -32001  bad config.toml or setup() value (names key/file/line)
    ├── NotFoundError                -32002  unknown pane, session, agent, memory key ...
    ├── MethodNotFoundError          -32601  no method by that name (JSON-RPC's own code)
    ├── InvalidArgumentError         -32602  a parameter has the wrong type or value
    ├── UnavailableError             -32003  a feature cannot work here ("unavailable: <why>")
    │   └── ConnectionLost           -32003  our connection to a peer died (never from the wire)
    ├── BackendError                 -32004  tmux / ripgrep / sqlite failed
    │   └── TmuxUnavailableError     -32005  tmux binary missing or server gone
    ├── ConflictError                -32006  target exists, lock held, state forbids it
    ├── PermissionDeniedError        -32007  path outside the project root, auth refused
    └── TimeoutError_                -32008  a bounded wait ran out
        └── PatternTimeoutError      -32008  a user's regex ran past its time box

Foreign exceptions are translated into this hierarchy at one choke point per
boundary (the Neovim host, the JSON-RPC server), so users never see a traceback.
Structured fields (``pane_id=``, ``key=`` ...) travel in ``data`` on the wire.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OrchflowError(Exception):
    """Base of every error orchflow reports. ``code`` maps it to JSON-RPC."""

    code: ClassVar[int] = -32000

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` object for this exception (no traceback)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            out["data"] = self.data
        return out


class ConfigError(OrchflowError):
    code = -32001


class NotFoundError(OrchflowError):
    code = -32002


class MethodNotFoundError(OrchflowError):
    """-32601: no handler by that name (the Neovim host and the orchestrator alike)."""

    code = -32601


class InvalidArgumentError(OrchflowError):
    code = -32602


class UnavailableError(OrchflowError):
    code = -32003

    def __init__(self, why: str, **data: Any) -> None:
        super().__init__(f"unavailable: {why}", **data)


class ConnectionLost(UnavailableError):
    """The connection died (the peer exited, the socket closed), as opposed to the peer
    answering -32003. A request in flight may or may not have run: only idempotent ones
    may be sent again (``OrchestratorLink.call``). Raised locally by ``RpcClient``; a
    -32003 from the wire is always a plain ``UnavailableError``."""


class BackendError(OrchflowError):
    code = -32004


class TmuxUnavailableError(BackendError):
    code = -32005


class ConflictError(OrchflowError):
    code = -32006


class PermissionDeniedError(OrchflowError):
    code = -32007


class TimeoutError_(OrchflowError):
    code = -32008


class PatternTimeoutError(TimeoutError_):
    """A user's search pattern took longer than its time box (``pattern=``, ``timeout_s=``).

    Usually a regex that backtracks exponentially, such as ``(a+)+$``: asking again will
    not help, a simpler pattern or a literal search will. It keeps ``TimeoutError_``'s
    code, so on the wire it is a -32008 whose message names the pattern.
    """
