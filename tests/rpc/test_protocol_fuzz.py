"""Hypothesis fuzzing of RpcDispatcher: any frame gets a valid JSON-RPC reply or
nothing, never an exception or a hang (B.4 of style_security.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchflow_core.rpc.protocol import RpcDispatcher
from tests.rpc.handlers import HANDLERS

FRAME_TIMEOUT = 5.0  # seconds; a hang fails the example instead of the whole run
MAX_BATCH = 8

any_char = st.characters(exclude_categories=())  # includes lone surrogates
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: 5000-digit literals too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(any_char, max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.one_of(
    st.just(None),
    st.integers(),
    st.text(any_char, max_size=10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
methods = st.sampled_from(["echo", "boom", "missing", "need_int", "subtract", "nope", "sleep"]) | (
    json_scalars
)
MISSING = object()
request_objects = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2.0]),
        "method": methods,
        "params": st.one_of(
            st.lists(json_values, max_size=3),
            st.dictionaries(st.text(max_size=6), json_values),
            json_scalars,
        ),
        "id": ids,
    },
).map(lambda d: {**d, "params": {"seconds": 0}} if d.get("method") == "sleep" else d)
batches = st.lists(request_objects | json_values, max_size=MAX_BATCH + 3)


def _nested(opening: str, closing: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(1, 3000), st.booleans()).map(
        lambda t: opening * t[0] + (closing * t[0] if t[1] else "")
    )


def _dumps(value: Any) -> str:
    # stdlib json emits NaN, Infinity, huge integers and lone surrogates as given.
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


frames = st.one_of(
    st.binary(max_size=300),
    st.text(any_char, max_size=300),
    json_values.map(_dumps),
    request_objects.map(_dumps),
    batches.map(_dumps),
    _nested("[", "]"),
    _nested('{"a":', "}"),
    # Number literals past every limit: 6000 digits, huge exponents, as ids too.
    st.tuples(st.integers(20, 6000), st.sampled_from(["{}", "-{}", "{}e999", "0.{}", "[{}]"])).map(
        lambda t: t[1].format("7" * t[0])
    ),
    st.integers(20, 6000).map(lambda n: '{"jsonrpc":"2.0","method":"echo","id":%s}' % ("9" * n)),
    st.sampled_from(
        ["NaN", "[Infinity]", "-Infinity", "1e999", "-0", "[]", "{}", "null", '"\\ud800"']
    ),
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _is_id(value: Any) -> bool:
    return value is None or (type(value) in (int, float, str))


def _check_response(obj: Any) -> None:
    assert isinstance(obj, dict)
    assert obj["jsonrpc"] == "2.0"
    assert "id" in obj and _is_id(obj["id"])
    assert ("result" in obj) != ("error" in obj)
    if "error" in obj:
        error = obj["error"]
        assert type(error["code"]) is int
        assert isinstance(error["message"], str) and error["message"]
        assert set(error) <= {"code", "message", "data"}
        assert "Traceback" not in error["message"]


def _answered(item: Any) -> bool:
    """Spec model: is this batch item answered? (Only valid notifications are not.)"""
    if not isinstance(item, dict) or "id" in item:
        return True
    valid = (
        item.get("jsonrpc") == "2.0"
        and isinstance(item.get("method"), str)
        and ("params" not in item or isinstance(item["params"], list | dict))
    )
    return not valid


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_any_frame_gets_a_valid_reply_or_nothing(
    loop: asyncio.AbstractEventLoop, frame: str | bytes
) -> None:
    dispatcher = RpcDispatcher(HANDLERS.get, max_batch=MAX_BATCH)
    reply = loop.run_until_complete(asyncio.wait_for(dispatcher.handle_frame(frame), FRAME_TIMEOUT))
    if reply is None:
        return
    assert isinstance(reply, str)
    decoded = json.loads(reply)  # always valid JSON (and orjson never emits NaN)
    if isinstance(decoded, list):
        assert decoded, "a batch never gets []"
        for obj in decoded:
            _check_response(obj)
    else:
        _check_response(decoded)


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(request_objects, min_size=1, max_size=MAX_BATCH))
def test_batches_answer_exactly_the_requests(
    loop: asyncio.AbstractEventLoop, batch: list[dict[str, Any]]
) -> None:
    frame = json.dumps(batch, allow_nan=False)
    dispatcher = RpcDispatcher(HANDLERS.get, max_batch=MAX_BATCH)
    reply = loop.run_until_complete(asyncio.wait_for(dispatcher.handle_frame(frame), FRAME_TIMEOUT))
    try:
        json.dumps(batch, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate somewhere: the whole frame is not JSON
        assert json.loads(reply or "")["error"]["code"] == -32700
        return
    expected = [item for item in batch if _answered(item)]
    if not expected:
        assert reply is None  # all notifications: nothing at all
        return
    responses = json.loads(reply or "")
    assert isinstance(responses, list) and len(responses) == len(expected)
    for response, item in zip(responses, expected, strict=True):
        _check_response(response)
        sent_id = item.get("id")
        if response["id"] is not None:
            assert response["id"] == sent_id
