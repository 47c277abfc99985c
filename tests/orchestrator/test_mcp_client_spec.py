"""[mcp.servers.<name>] checking: every bad field is named, secrets are expanded from the
environment and never part of what is shown (pure data: no process is started)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.mcp.client.spec import SpecError, parse, parse_all

ENV = {"TOKEN": "t0ps3cret"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "mcp.servers.s: give either command (a stdio server) or url (Streamable HTTP)"),
        ({"command": "x", "url": "http://h"}, "give either command (a stdio server) or url"),
        ({"command": "x", "comand": "y"}, "mcp.servers.s.comand: unknown field; valid: args,"),
        ({"command": ""}, 'mcp.servers.s.command: got "", expected the executable'),
        ({"command": ["a", "b"]}, 'mcp.servers.s.command: got ["a", "b"], expected the'),
        ({"command": "x", "args": "a b"}, 'mcp.servers.s.args: got "a b", expected a list'),
        ({"command": "x", "env": {"A": 1}}, "mcp.servers.s.env.A: expected a string, got int"),
        ({"command": "x", "env": {"A": "${NOPE}"}}, "mcp.servers.s.env.A: ${NOPE} is not set"),
        ({"command": "x", "headers": {}}, "mcp.servers.s.headers: only for url servers"),
        ({"url": "h", "args": []}, "mcp.servers.s.args: only for command servers"),
        ({"url": "ftp://h"}, 'mcp.servers.s.url: got "ftp://h", expected an http:// or'),
        ({"url": "http://h", "timeout_s": 0}, "mcp.servers.s.timeout_s: got 0, expected >= 0.1"),
        ({"url": "http://h", "timeout_s": True}, "mcp.servers.s.timeout_s: got true, expected"),
        ({"url": "http://h", "enabled": "yes"}, 'mcp.servers.s.enabled: got "yes", expected'),
        ({"url": "http://h", "cwd": "/"}, "mcp.servers.s.cwd: only for command servers"),
    ],
)
def test_a_bad_field_is_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse("s", raw, ENV)
    assert message in str(err.value)


def test_names_and_the_reserved_one() -> None:
    with pytest.raises(SpecError, match="'orchflow' is orchflow's own server"):
        parse("orchflow", {"command": "x"}, ENV)
    with pytest.raises(SpecError, match="letters, digits, - and _"):
        parse("a b", {"command": "x"}, ENV)


def test_secrets_are_expanded_but_never_shown() -> None:
    spec = parse(
        "web",
        {
            "url": "https://user:pw@h.example/mcp",
            "headers": {"Authorization": "Bearer ${TOKEN}"},
        },
        ENV,
    )
    assert spec.headers == {"Authorization": "Bearer t0ps3cret"}
    shown = spec.public()
    assert shown["headers"] == ["Authorization"]
    assert shown["url"] == "https://***@h.example/mcp"
    assert "t0ps3cret" not in repr(shown) and "pw" not in repr(shown)
    with pytest.raises(SpecError) as err:
        parse("web", {"url": "http://h", "headers": {"X": 5}}, ENV)
    assert str(err.value) == "mcp.servers.web.headers.X: expected a string, got int"


def test_one_bad_server_leaves_the_others() -> None:
    specs, errors = parse_all(
        {"good": {"command": "x", "timeout_s": 5}, "bad": {"command": "x", "timeout_s": "5"}},
        ENV,
    )
    assert list(specs) == ["good"] and specs["good"].timeout_s == 5.0
    assert errors == {"bad": 'mcp.servers.bad.timeout_s: got "5", expected a number of seconds'}
