"""The method table: named async handlers shared by the Neovim host and JSON-RPC.

A handler takes ``(core, params)`` and returns something JSON-serialisable.
``dispatch`` is the one choke point where any exception becomes an
``OrchflowError`` dict: callers never see a traceback.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from orchflow_core.errors import (
    InvalidArgumentError,
    MethodNotFoundError,
    OrchflowError,
    UnavailableError,
)

if TYPE_CHECKING:
    from orchflow_core.core import Core

log = logging.getLogger(__name__)

Params = dict[str, Any]
Handler = Callable[["Core", Params], Awaitable[Any]]
T = TypeVar("T")

_MISSING = object()


class MethodTable:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lazy: dict[str, str] = {}  # method-name prefix -> module that registers it

    def lazy(self, prefix: str, module: str) -> None:
        """Import ``module`` on the first call of a method named ``prefix...``.

        Keeps the Neovim host's start cheap: aiosqlite, rapidfuzz and the ripgrep
        runner load when first used, not when the host starts.
        """
        self._lazy[prefix] = module

    def method(self, name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if name in self._handlers:
                raise ValueError(f"method {name!r} registered twice")
            self._handlers[name] = fn
            return fn

        return register

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def known(self, name: str) -> bool:
        """Whether ``name`` is registered, or would be by a lazy module."""
        return name in self._handlers or any(name.startswith(p) for p in self._lazy)

    def get(self, name: str) -> Handler:
        """The handler for ``name``, importing its lazy module first if need be.

        Raises ``MethodNotFoundError`` (-32601) for a name nobody registers, and
        ``UnavailableError`` naming the import error, on every call, while the module
        that should register it fails to import.
        """
        handler = self._handlers.get(name)
        if handler is None:
            for prefix, module in list(self._lazy.items()):
                if name.startswith(prefix):
                    self._import(prefix, module)
            handler = self._handlers.get(name)
        if handler is None:
            raise MethodNotFoundError(f"unknown method {name!r}", method=name)
        return handler

    def _import(self, prefix: str, module: str) -> None:
        # The prefix stays lazy until its module imports: a failed import is reported
        # again by the next call instead of turning into "unknown method".
        before = set(self._handlers)
        try:
            importlib.import_module(module)
        except Exception as exc:
            # A module that failed half-way registered some names; forget them so that
            # the next attempt does not trip over "registered twice".
            for added in set(self._handlers) - before:
                del self._handlers[added]
            log.exception("cannot load %s (for %s* methods)", module, prefix)
            raise UnavailableError(
                f"{prefix}* methods could not be loaded: {type(exc).__name__}: {exc}"
                "; see :Orchflow log",
                module=module,
            ) from exc
        self._lazy.pop(prefix, None)


METHODS = MethodTable()


def param(
    params: Params, name: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING
) -> T:
    """Fetch ``params[name]`` checked against ``kind``; errors name the parameter."""
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise InvalidArgumentError(f"missing parameter {name!r}", param=name)
        return default  # type: ignore[no-any-return]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise InvalidArgumentError(
            f"parameter {name!r} must be {expected}, got {type(value).__name__}", param=name
        )
    return value  # type: ignore[return-value]


async def dispatch(core: Core, method: str, params: Params) -> tuple[bool, Any]:
    """Run ``method``; returns ``(True, result)`` or ``(False, error_dict)``."""
    try:
        if not isinstance(params, dict):
            raise InvalidArgumentError("params must be a table/object")
        from orchflow_core.modules.gate import resolve

        handler = await resolve(core, method, METHODS.known(method))
        result = await (handler or METHODS.get(method))(core, params)
        return True, result
    except OrchflowError as exc:
        log.info("%s failed: %s", method, exc.message)
        return False, exc.to_dict()
    except Exception:
        log.exception("internal error in %s", method)
        return False, {"code": -32603, "message": f"internal error in {method}; see :Orchflow log"}
