"""JSON-RPC 2.0 exactly per https://www.jsonrpc.org/specification, with no I/O.

Like websockets' Sans-I/O protocol objects, ``RpcDispatcher`` only turns an
incoming frame into the frame to send back (or ``None``); the transports in
``server.py`` and ``client.py`` pump bytes. That keeps every spec corner
(batches, notifications, the standard error codes) testable and fuzzable
without sockets.

Error codes on the wire come from one place: the standard ones below plus the
``OrchflowError`` hierarchy (``errors.py``), whose ``to_dict()`` is sent as is.
``error_from_wire`` maps a received error object back to that hierarchy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from orchflow_core.errors import MethodNotFoundError as MethodNotFoundError  # re-exported
from orchflow_core.errors import OrchflowError

log = logging.getLogger(__name__)

Params = dict[str, Any] | list[Any]
Handler = Callable[[Params, Any], Awaitable[Any]]
HandlerLookup = Callable[[str], Handler | None]

# Integral floats this large can only be integers past orjson's 64-bit range
# (parsed as lossy floats) or exponent notation: echoing them would not be exact.
_MAX_EXACT_ID = 2**63
_MISSING = object()


class ParseError(OrchflowError):
    """-32700: the frame is not JSON we accept (invalid, NaN, too deep)."""

    code = -32700


class InvalidRequestError(OrchflowError):
    """-32600: valid JSON, but not a JSON-RPC 2.0 request object."""

    code = -32600


class InternalError(OrchflowError):
    """-32603: an unexpected failure; the details stay in the server log."""

    code = -32603


def error_classes() -> dict[int, type[OrchflowError]]:
    """Code -> exception class, walked from the hierarchy at call time so a
    subclass defined in any module is mapped. Parents win over children that
    reuse their code."""
    table: dict[int, type[OrchflowError]] = {}
    pending: list[type[OrchflowError]] = [OrchflowError]
    while pending:
        cls = pending.pop(0)
        table.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return table


def error_from_wire(error: Any) -> OrchflowError:
    """The ``OrchflowError`` (subclass) for a received JSON-RPC ``error`` object.

    Unknown codes give a plain ``OrchflowError`` whose data carries ``remote_code``.
    """
    if not isinstance(error, dict):
        return InvalidRequestError(f"malformed error object from peer: {error!r:.200}")
    code = error.get("code")
    message = error.get("message")
    message = message if isinstance(message, str) else f"error {code!r}"
    raw = error.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else ({} if raw is None else {"data": raw})
    cls = None
    if isinstance(code, int) and not isinstance(code, bool):
        cls = error_classes().get(code)
    if cls is None:
        data = {**data, "remote_code": code}
        cls = OrchflowError
    # Bypass subclass __init__s (UnavailableError prefixes its message): the
    # peer already formatted the message.
    exc = cls.__new__(cls)
    OrchflowError.__init__(exc, message, **{str(k): v for k, v in data.items()})
    return exc


def notification(method: str, params: Params | None = None) -> str:
    """A JSON-RPC notification frame (no ``id``: the peer never answers it)."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return orjson.dumps(msg).decode()


def _fallback(value: Any) -> str:
    # Error data is diagnostic: a Path or an enum should not turn into -32603.
    return str(value)


def _dump_response(response: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(response)
    except TypeError:
        pass
    if "result" in response:
        log.error("result of request id=%r is not JSON-serialisable", response["id"])
        err = InternalError("Internal error: the result could not be encoded")
        return orjson.dumps({"jsonrpc": "2.0", "error": err.to_dict(), "id": response["id"]})
    try:
        return orjson.dumps(response, default=_fallback)
    except TypeError:
        error = response["error"]
        plain = {"code": error["code"], "message": str(error["message"])}
        return orjson.dumps({"jsonrpc": "2.0", "error": plain, "id": response["id"]})


def _error_response(exc: OrchflowError, id_: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": exc.to_dict(), "id": id_}


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests deeper than ``limit`` containers (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _valid_id(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and abs(value) < _MAX_EXACT_ID


class RpcDispatcher:
    """Turns one incoming frame into the frame to send back, or ``None``.

    ``handler_lookup(name)`` returns ``async def handler(params, ctx)`` or
    ``None`` for an unknown method. Batch items run concurrently (the spec
    allows it); responses keep the batch's order.
    """

    def __init__(
        self,
        handler_lookup: HandlerLookup,
        *,
        max_batch: int = 64,
        max_depth: int = 64,
    ) -> None:
        if max_batch < 1 or max_depth < 2:
            raise ValueError("max_batch must be >= 1 and max_depth >= 2")
        self._lookup = handler_lookup
        self.max_batch = max_batch
        self.max_depth = max_depth

    async def handle_frame(self, frame: str | bytes, ctx: Any = None) -> str | None:
        """Answer ``frame``; ``None`` means nothing is to be sent (notifications)."""
        try:
            message = self._parse(frame)
        except ParseError as exc:
            return _dump_response(_error_response(exc, None)).decode()
        if isinstance(message, list):
            return await self._handle_batch(message, ctx)
        response = await self._handle_one(message, ctx)
        return None if response is None else _dump_response(response).decode()

    def _parse(self, frame: str | bytes) -> Any:
        try:
            # orjson rejects NaN/Infinity, invalid UTF-8 and lone surrogates,
            # and stops at depth 1024 in C: no RecursionError can come from here.
            message = orjson.loads(frame)
        except (ValueError, RecursionError, TypeError) as exc:
            raise ParseError(f"Parse error: {exc}") from None
        if isinstance(frame, str):
            brackets = frame.count("[") + frame.count("{")
        else:
            brackets = frame.count(b"[") + frame.count(b"{")
        if brackets > self.max_depth and _depth_exceeds(message, self.max_depth):
            raise ParseError(f"Parse error: nesting deeper than {self.max_depth} levels")
        return message

    async def _handle_batch(self, batch: list[Any], ctx: Any) -> str | None:
        if not batch:
            exc = InvalidRequestError("Invalid Request: empty batch")
            return _dump_response(_error_response(exc, None)).decode()
        if len(batch) > self.max_batch:
            exc = InvalidRequestError(
                f"Invalid Request: batch of {len(batch)} items, at most {self.max_batch}",
                max_batch=self.max_batch,
            )
            return _dump_response(_error_response(exc, None)).decode()
        results = await asyncio.gather(*(self._handle_one(item, ctx) for item in batch))
        parts = [_dump_response(r) for r in results if r is not None]
        if not parts:
            return None  # a batch of notifications gets nothing, never "[]"
        return (b"[" + b",".join(parts) + b"]").decode()

    async def _handle_one(self, message: Any, ctx: Any) -> dict[str, Any] | None:
        """The response object for one request, or ``None`` for a notification."""
        if not isinstance(message, dict):
            return _error_response(InvalidRequestError("Invalid Request: expected an object"), None)
        id_ = message.get("id", _MISSING)
        is_notification = id_ is _MISSING
        reply_id = id_ if not is_notification and _valid_id(id_) else None
        problem = self._request_problem(message, id_)
        if problem is not None:
            # A malformed object is answered even without an id (spec §7).
            return _error_response(InvalidRequestError(f"Invalid Request: {problem}"), reply_id)
        method: str = message["method"]
        params: Params = message.get("params", {})
        try:
            handler = self._lookup(method)
            if handler is None:
                raise MethodNotFoundError(
                    f"Method not found: {method[:200]!r}", method=method[:200]
                )
            result = await handler(params, ctx)
        except OrchflowError as exc:
            log.debug("%s failed: %s", method[:200], exc.message)
            return None if is_notification else _error_response(exc, reply_id)
        except Exception:
            log.exception("internal error in %s", method[:200])
            internal = InternalError("Internal error", method=method[:200])
            return None if is_notification else _error_response(internal, reply_id)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "result": result, "id": reply_id}

    @staticmethod
    def _request_problem(message: dict[str, Any], id_: Any) -> str | None:
        if message.get("jsonrpc") != "2.0":
            return '"jsonrpc" must be exactly "2.0"'
        if id_ is not _MISSING and not _valid_id(id_):
            return '"id" must be a string, a number within the 64-bit range, or null'
        if not isinstance(message.get("method"), str):
            return '"method" must be a string'
        if "params" in message and not isinstance(message["params"], dict | list):
            return '"params" must be an array or an object'
        return None
