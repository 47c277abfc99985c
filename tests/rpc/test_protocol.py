"""RpcDispatcher without sockets: the JSON-RPC 2.0 spec, §7 examples first."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from orchflow_core.errors import (
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TmuxUnavailableError,
    UnavailableError,
)
from orchflow_core.rpc.protocol import (
    InternalError,
    MethodNotFoundError,
    RpcDispatcher,
    error_classes,
    error_from_wire,
    notification,
)
from tests.rpc.handlers import HANDLERS

NOTHING = None

# (name, request frame, expected response or NOTHING) from jsonrpc.org §7.
# Error messages are ours; codes, ids, results and shapes are the spec's.
SPEC_EXAMPLES: list[tuple[str, str, Any]] = [
    (
        "positional params",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        {"jsonrpc": "2.0", "result": 19, "id": 1},
    ),
    (
        "positional params reversed",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        {"jsonrpc": "2.0", "result": -19, "id": 2},
    ),
    (
        "named params",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42},'
        ' "id": 3}',
        {"jsonrpc": "2.0", "result": 19, "id": 3},
    ),
    (
        "named params reordered",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23},'
        ' "id": 4}',
        {"jsonrpc": "2.0", "result": 19, "id": 4},
    ),
    (
        "notification",
        '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}',
        NOTHING,
    ),
    ("notification of unknown method", '{"jsonrpc": "2.0", "method": "foobar"}', NOTHING),
    (
        "non-existent method",
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        {"jsonrpc": "2.0", "error": {"code": -32601}, "id": "1"},
    ),
    (
        "invalid JSON",
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        {"jsonrpc": "2.0", "error": {"code": -32700}, "id": None},
    ),
    (
        "invalid request object",
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        {"jsonrpc": "2.0", "error": {"code": -32600}, "id": None},
    ),
    (
        "batch, invalid JSON",
        '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
        '{"jsonrpc": "2.0", "method"]',
        {"jsonrpc": "2.0", "error": {"code": -32700}, "id": None},
    ),
    ("empty array", "[]", {"jsonrpc": "2.0", "error": {"code": -32600}, "id": None}),
    (
        "invalid batch, not empty",
        "[1]",
        [{"jsonrpc": "2.0", "error": {"code": -32600}, "id": None}],
    ),
    (
        "invalid batch",
        "[1,2,3]",
        [{"jsonrpc": "2.0", "error": {"code": -32600}, "id": None}] * 3,
    ),
    (
        "mixed batch",
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
        [
            {"jsonrpc": "2.0", "result": 7, "id": "1"},
            {"jsonrpc": "2.0", "result": 19, "id": "2"},
            {"jsonrpc": "2.0", "error": {"code": -32600}, "id": None},
            {"jsonrpc": "2.0", "error": {"code": -32601}, "id": "5"},
            {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
        ],
    ),
    (
        "batch of notifications",
        '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
        NOTHING,
    ),
]


def _matches(actual: Any, expected: Any) -> bool:
    """``expected`` error objects list only the code; every other field must be equal."""
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if set(actual) != set(expected):
        return False
    for key, value in expected.items():
        if key == "error":
            if actual["error"]["code"] != value["code"] or not actual["error"]["message"]:
                return False
        elif actual[key] != value or type(actual[key]) is not type(value):
            return False
    return True


@pytest.fixture
def dispatcher() -> RpcDispatcher:
    return RpcDispatcher(HANDLERS.get)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [(f, e) for _, f, e in SPEC_EXAMPLES],
    ids=[n for n, _, _ in SPEC_EXAMPLES],
)
async def test_spec_examples(dispatcher: RpcDispatcher, frame: str, expected: Any) -> None:
    reply = await dispatcher.handle_frame(frame)
    if expected is NOTHING:
        assert reply is None
    else:
        assert reply is not None
        assert _matches(json.loads(reply), expected), reply


async def test_bytes_frames_are_answered_like_text(dispatcher: RpcDispatcher) -> None:
    reply = await dispatcher.handle_frame(b'{"jsonrpc":"2.0","method":"echo","params":[1],"id":7}')
    assert json.loads(reply or "") == {"jsonrpc": "2.0", "result": [1], "id": 7}


@pytest.mark.parametrize(
    "frame",
    [
        "NaN",
        '{"jsonrpc":"2.0","method":"echo","params":[NaN],"id":1}',
        "[Infinity]",
        "-Infinity",
        "1e999",
        "",
        "   ",
        '"\\ud800"',
        "[1,]",
        "{'single': 1}",
    ],
)
async def test_parse_errors(dispatcher: RpcDispatcher, frame: str) -> None:
    reply = json.loads(await dispatcher.handle_frame(frame) or "")
    assert reply["error"]["code"] == -32700
    assert reply["id"] is None


async def test_invalid_utf8_and_surrogates_are_parse_errors(dispatcher: RpcDispatcher) -> None:
    for frame in (b"\xff\xfe", "\ud800".encode("utf-8", "surrogatepass"), '"\udc00"'):
        reply = json.loads(await dispatcher.handle_frame(frame) or "")
        assert reply["error"]["code"] == -32700


async def test_deep_nesting_is_a_parse_error_and_cheap(dispatcher: RpcDispatcher) -> None:
    for frame in ("[" * 200_000, "[" * 1000 + "]" * 1000, '{"a":' * 100_000):
        reply = json.loads(await dispatcher.handle_frame(frame) or "")
        assert reply == {
            "jsonrpc": "2.0",
            "error": {"code": -32700, "message": reply["error"]["message"]},
            "id": None,
        }
    deep_params = '{"jsonrpc":"2.0","method":"echo","params":' + "[" * 70 + "]" * 70 + ',"id":1}'
    reply = json.loads(await dispatcher.handle_frame(deep_params) or "")
    assert reply["error"]["code"] == -32700
    assert "nesting deeper than 64" in reply["error"]["message"]


async def test_wide_but_shallow_frames_are_fine(dispatcher: RpcDispatcher) -> None:
    wide: list[Any] = [[{"k": []}] for _ in range(500)]
    frame = json.dumps({"jsonrpc": "2.0", "method": "echo", "params": wide, "id": 1})
    assert json.loads(await dispatcher.handle_frame(frame) or "")["result"] == wide


@pytest.mark.parametrize(
    ("request_obj", "why"),
    [
        ({"jsonrpc": "1.0", "method": "echo", "id": 1}, '"jsonrpc"'),
        ({"method": "echo", "id": 1}, '"jsonrpc"'),
        ({"jsonrpc": 2.0, "method": "echo", "id": 1}, '"jsonrpc"'),
        ({"jsonrpc": "2.0", "method": "echo", "id": [1]}, '"id"'),
        ({"jsonrpc": "2.0", "method": "echo", "id": {"a": 1}}, '"id"'),
        ({"jsonrpc": "2.0", "method": "echo", "id": True}, '"id"'),
        ({"jsonrpc": "2.0", "method": None, "id": 1}, '"method"'),
        ({"jsonrpc": "2.0", "id": 1}, '"method"'),
        ({"jsonrpc": "2.0", "method": "echo", "params": "x", "id": 1}, '"params"'),
        ({"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 1}, '"params"'),
        ({"jsonrpc": "2.0", "method": "echo", "params": None, "id": 1}, '"params"'),
    ],
)
async def test_invalid_requests(dispatcher: RpcDispatcher, request_obj: Any, why: str) -> None:
    reply = json.loads(await dispatcher.handle_frame(json.dumps(request_obj)) or "")
    assert reply["error"]["code"] == -32600
    assert why in reply["error"]["message"]
    # The id is echoed when it is a valid id, else null.
    assert reply["id"] == (1 if request_obj.get("id") == 1 and why != '"id"' else None)


async def test_invalid_notification_is_answered_but_valid_one_never(
    dispatcher: RpcDispatcher,
) -> None:
    reply = await dispatcher.handle_frame('{"jsonrpc": "2.0", "method": "echo", "params": 5}')
    assert json.loads(reply or "")["error"]["code"] == -32600
    for method in ("boom", "missing", "need_int", "nope"):
        assert await dispatcher.handle_frame(f'{{"jsonrpc":"2.0","method":"{method}"}}') is None


@pytest.mark.parametrize("id_", ["abc", "", 0, -1, 2**63 - 1, -(2**63), 1.5, None, "ünïcödé 🎉"])
async def test_ids_are_echoed_exactly(dispatcher: RpcDispatcher, id_: Any) -> None:
    frame = json.dumps({"jsonrpc": "2.0", "method": "echo", "id": id_})
    reply = json.loads(await dispatcher.handle_frame(frame) or "")
    assert reply == {"jsonrpc": "2.0", "result": {}, "id": id_}
    assert type(reply["id"]) is type(id_)


async def test_integer_ids_beyond_64_bits_are_refused_not_mangled(
    dispatcher: RpcDispatcher,
) -> None:
    # orjson would read this id as a float; echoing 1.2e+29 would not be exact.
    frame = '{"jsonrpc":"2.0","method":"echo","id":123456789012345678901234567890}'
    reply = json.loads(await dispatcher.handle_frame(frame) or "")
    assert reply["error"]["code"] == -32600 and reply["id"] is None


async def test_invalid_params_names_the_parameter(dispatcher: RpcDispatcher) -> None:
    frame = '{"jsonrpc":"2.0","method":"need_int","params":{"count":"x"},"id":1}'
    reply = json.loads(await dispatcher.handle_frame(frame) or "")
    assert reply["error"] == {
        "code": -32602,
        "message": "parameter 'count' must be an integer, got str",
        "data": {"param": "count"},
    }


async def test_application_errors_use_to_dict(dispatcher: RpcDispatcher) -> None:
    reply = json.loads(
        await dispatcher.handle_frame('{"jsonrpc":"2.0","method":"missing","id":1}') or ""
    )
    assert reply["error"] == {"code": -32002, "message": "no pane %99", "data": {"pane_id": "%99"}}
    reply = json.loads(
        await dispatcher.handle_frame('{"jsonrpc":"2.0","method":"unavailable","id":2}') or ""
    )
    assert reply["error"]["code"] == -32003
    assert reply["error"]["message"] == "unavailable: orchestrator not running"


async def test_internal_errors_hide_details_but_log_them(
    dispatcher: RpcDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="orchflow_core.rpc.protocol"):
        reply = await dispatcher.handle_frame('{"jsonrpc":"2.0","method":"boom","id":1}')
    assert reply is not None
    assert "secret" not in reply and "Traceback" not in reply
    assert json.loads(reply)["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": {"method": "boom"},
    }
    assert "secret-internal-detail" in caplog.text  # the server log keeps the traceback


async def test_unserialisable_result_is_an_internal_error(dispatcher: RpcDispatcher) -> None:
    reply = await dispatcher.handle_frame('{"jsonrpc":"2.0","method":"unserialisable","id":4}')
    assert json.loads(reply or "")["error"]["code"] == -32603
    assert json.loads(reply or "")["id"] == 4


async def test_broken_lookup_is_an_internal_error() -> None:
    def lookup(name: str) -> Any:
        raise KeyError(name)

    reply = await RpcDispatcher(lookup).handle_frame('{"jsonrpc":"2.0","method":"x","id":1}')
    assert json.loads(reply or "")["error"]["code"] == -32603


async def test_batch_limit(dispatcher: RpcDispatcher) -> None:
    item = {"jsonrpc": "2.0", "method": "echo", "id": 1}
    reply = json.loads(await dispatcher.handle_frame(json.dumps([item] * 1000)) or "")
    assert reply["error"]["code"] == -32600
    assert "1000 items, at most 64" in reply["error"]["message"]
    assert len(json.loads(await dispatcher.handle_frame(json.dumps([item] * 64)) or "")) == 64


async def test_handler_gets_context_and_missing_params_as_empty_object() -> None:
    seen: list[Any] = []

    async def record(params: Any, ctx: Any) -> Any:
        seen.append((params, ctx))
        return "ok"

    dispatcher = RpcDispatcher({"record": record}.get)
    await dispatcher.handle_frame('{"jsonrpc":"2.0","method":"record","id":1}', "CTX")
    assert seen == [({}, "CTX")]


def test_notification_frames() -> None:
    assert json.loads(notification("pane.output", {"id": "%1"})) == {
        "jsonrpc": "2.0",
        "method": "pane.output",
        "params": {"id": "%1"},
    }
    assert json.loads(notification("ping")) == {"jsonrpc": "2.0", "method": "ping"}


def test_error_codes_map_back_to_the_hierarchy() -> None:
    table = error_classes()
    assert table[-32602] is InvalidArgumentError
    assert table[-32002] is NotFoundError
    assert table[-32005] is TmuxUnavailableError
    assert table[-32601] is MethodNotFoundError
    assert table[-32603] is InternalError
    assert table[-32000] is OrchflowError

    exc = error_from_wire({"code": -32003, "message": "unavailable: no tmux", "data": {"x": 1}})
    assert type(exc) is UnavailableError
    assert exc.message == "unavailable: no tmux"  # not prefixed twice
    assert exc.data == {"x": 1}
    unknown = error_from_wire({"code": 4242, "message": "custom", "data": "text"})
    assert type(unknown) is OrchflowError
    assert unknown.data == {"data": "text", "remote_code": 4242}
    # to_dict() -> wire -> exception -> to_dict() is the identity for known codes.
    original = NotFoundError("no pane %7", pane_id="%7")
    assert error_from_wire(original.to_dict()).to_dict() == original.to_dict()
