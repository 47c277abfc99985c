"""The agent registry (orchestrator/agents/registry.py): the shipped file and the user's
[agents.<name>] tables, every bad field named."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.agents import registry
from orchflow_core.errors import ConfigError


def test_the_shipped_registry() -> None:
    specs = registry.load()
    assert set(specs) == {"aider", "claude", "codex", "gemini", "goose", "opencode"}
    claude = specs["claude"]
    assert claude.acp == ("claude-agent-acp",) and claude.command == ("claude",)
    assert claude.transport == "acp" and claude.file_ref == "@{path}#L{start}-{end}"
    assert specs["gemini"].acp == ("gemini", "--experimental-acp")
    assert specs["opencode"].acp == ("opencode", "acp")
    assert specs["goose"].acp == ("goose", "acp")
    assert specs["aider"].transport == "terminal" and specs["aider"].transports() == ["terminal"]


def test_a_user_agent_needs_only_command_and_transport() -> None:
    specs = registry.load({"mine": {"command": ["my-agent", "--acp"], "transport": "acp"}})
    mine = specs["mine"]
    assert mine.acp == ("my-agent", "--acp") and mine.transport == "acp"
    assert mine.source == "config" and mine.label == "mine"
    tui = registry.load({"tui": {"command": ["tui"], "transport": "terminal"}})["tui"]
    assert tui.command == ("tui",) and tui.acp == ()


def test_a_user_table_overrides_shipped_fields() -> None:
    claude = registry.load({"claude": {"acp": ["npx", "claude-agent-acp"], "env": {"A": "1"}}})[
        "claude"
    ]
    assert claude.acp == ("npx", "claude-agent-acp") and claude.command == ("claude",)
    assert claude.env == {"A": "1"} and claude.source == "registry+config"


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"x": {"command": "foo"}}, "agents.x.command must be a non-empty list of non-empty"),
        ({"x": {"command": []}}, "agents.x.command must be a non-empty list"),
        (
            {"x": {"command": ["a"], "transport": "ssh"}},
            "agents.x.transport must be one of acp, terminal, got 'ssh'",
        ),
        ({"x": {"command": ["a"], "colour": "red"}}, "unknown key 'agents.x.colour'; valid here:"),
        (
            {"x": {"command": ["a"], "init_timeout_s": 0}},
            "agents.x.init_timeout_s must be a number of seconds > 0",
        ),
        ({"x": {"command": ["a"], "env": {"A": 1}}}, "agents.x.env must be a table of strings"),
        ({"X!": {"command": ["a"]}}, "agent name 'X!' must use a-z, 0-9, - and _ only"),
        ({"x": "claude"}, "agents.x must be a table"),
        ({"aider": {"transport": "acp"}}, "agents.aider has transport 'acp' but no 'acp' command"),
        ({"x": {"label": "only a label"}}, "agents.x has transport 'terminal' but no 'command'"),
    ],
)
def test_bad_fields_are_named(user: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        registry.load(user)
    assert message in err.value.message
    assert err.value.message.startswith("config.toml: ")
