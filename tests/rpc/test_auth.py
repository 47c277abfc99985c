"""Token, Origin and Host rules as pure functions (no sockets)."""

from __future__ import annotations

import pytest

from orchflow_core.errors import InvalidArgumentError, PermissionDeniedError
from orchflow_core.rpc.auth import (
    ListenAddress,
    Refusal,
    allowed_hosts_for,
    check_request,
    new_token,
    parse_bearer,
    parse_listen,
    token_matches,
)

TOKEN = new_token()
TCP = allowed_hosts_for(ListenAddress(host="127.0.0.1", port=4242))


def test_tokens_are_256_bit_and_fresh() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, base64url without padding


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"  Bearer   {TOKEN}  ", TOKEN),
        (TOKEN, None),
        (f"Basic {TOKEN}", None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Bearer {TOKEN} extra", None),
        (None, None),
    ],
)
def test_parse_bearer(header: str | None, expected: str | None) -> None:
    assert parse_bearer(header) == expected


def test_token_matches() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN, TOKEN[:-1])
    assert not token_matches(TOKEN, TOKEN + "x")
    assert not token_matches(TOKEN, None)
    assert not token_matches(TOKEN, "")
    assert not token_matches("", "")
    assert not token_matches(TOKEN, "ünïcödé\udc80")  # non-ASCII never raises


def _check(**overrides: list[str]) -> Refusal | None:
    headers = {
        "hosts": ["127.0.0.1:4242"],
        "origins": [],
        "authorizations": [f"Bearer {TOKEN}"],
    }
    headers.update(overrides)
    return check_request(token=TOKEN, allowed_hosts=TCP, **headers)


def test_good_request_passes() -> None:
    assert _check() is None
    assert _check(hosts=["localhost:4242"]) is None
    assert _check(hosts=["LOCALHOST:4242"]) is None
    assert _check(hosts=["[::1]:4242"]) is None


@pytest.mark.parametrize(
    "hosts",
    [
        ["evil.example:4242"],
        ["evil.example"],
        ["127.0.0.1:4243"],
        ["127.0.0.1"],
        [""],
        [":4242"],  # ollama#17721
        [],
        ["127.0.0.1:4242", "evil.example"],
        ["0.0.0.0:4242"],
    ],
)
def test_foreign_host_is_403(hosts: list[str]) -> None:
    assert _check(hosts=hosts) == Refusal(403, "Host not allowed\n")


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:4242", ""])
def test_any_origin_is_403_even_with_the_token(origin: str) -> None:
    refusal = _check(origins=[origin])
    assert refusal is not None and refusal.status == 403


@pytest.mark.parametrize(
    "authorizations",
    [
        [],
        ["Bearer wrong"],
        [TOKEN],
        [f"Bearer {TOKEN}", f"Bearer {TOKEN}"],
        [f"Bearer {TOKEN[:-2]}"],
    ],
)
def test_missing_or_wrong_token_is_401(authorizations: list[str]) -> None:
    refusal = _check(authorizations=authorizations)
    assert refusal is not None and refusal.status == 401
    assert TOKEN not in refusal.reason


def test_unix_socket_hosts() -> None:
    hosts = allowed_hosts_for(ListenAddress(path="/run/x.sock"))
    assert hosts == {"localhost"}


def test_extra_hosts_for_remote_setups() -> None:
    hosts = allowed_hosts_for(
        ListenAddress(host="0.0.0.0", port=9000), ["box.lan", "box.lan:80", "[fd00::1]"]
    )
    assert {"box.lan:9000", "box.lan:80", "[fd00::1]:9000", "127.0.0.1:9000"} <= hosts
    assert "0.0.0.0:9000" not in hosts


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:0", ListenAddress(host="127.0.0.1", port=0)),
        ("localhost:8080", ListenAddress(host="localhost", port=8080)),
        ("[::1]:7", ListenAddress(host="::1", port=7)),
        ("127.0.0.5:7", ListenAddress(host="127.0.0.5", port=7)),
        ("unix:/tmp/o.sock", ListenAddress(path="/tmp/o.sock")),
    ],
)
def test_parse_listen(listen: str, expected: ListenAddress) -> None:
    assert parse_listen(listen) == expected
    assert str(parse_listen(listen)) == listen


@pytest.mark.parametrize("listen", ["0.0.0.0:80", "192.168.1.2:9000", "[::]:1", "example.com:1"])
def test_non_loopback_needs_allow_remote(listen: str) -> None:
    with pytest.raises(PermissionDeniedError, match="allow_remote"):
        parse_listen(listen)
    assert parse_listen(listen, allow_remote=True).port is not None


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:x", ":80", "unix:rel.sock", "1:99999"])
def test_malformed_listen(listen: str) -> None:
    with pytest.raises(InvalidArgumentError, match="listen"):
        parse_listen(listen)
