"""Per-agent hook wiring and the registry's hook/pattern fields (no processes)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from orchestrator.agents import hook_wiring, registry
from orchestrator.agents.screen_text import clean
from orchestrator.agents.state import AgentEvent, AgentState, route
from orchestrator.agents.terminal_ai import question_of
from orchflow_core.errors import ConfigError, ConflictError


def test_claude_settings_file_has_one_command_hook_per_event(tmp_path: Path) -> None:
    spec = registry.load()["claude"]
    w = hook_wiring.wire(
        spec, key="k1", agent_dir=tmp_path / "a", discovery_file=tmp_path / "d.json", environ={}
    )
    assert w.args == ["--settings", str(tmp_path / "a" / "claude-settings.json")]
    hooks = json.loads((tmp_path / "a" / "claude-settings.json").read_text())["hooks"]
    assert set(hooks) == {
        "SessionStart", "UserPromptSubmit", "PostToolUse", "PermissionRequest", "Notification",
        "Stop",
    }  # fmt: skip
    [group] = hooks["Notification"]  # no matcher: every notification type reaches the map
    assert "matcher" not in group and group["hooks"][0]["type"] == "command"
    assert " hook Notification --agent k1 --discovery-file " in group["hooks"][0]["command"]
    assert (tmp_path / "a").stat().st_mode & 0o077 == 0
    assert w.env["ORCHFLOW_AGENT"] == "k1" and "ORCHFLOW_LOG_DIR" in w.env


def test_codex_notify_is_one_toml_array_override(tmp_path: Path) -> None:
    w = hook_wiring.wire(
        registry.load()["codex"],
        key="k2",
        agent_dir=tmp_path / "a",
        discovery_file=tmp_path / "d.json",
        environ={},
    )
    assert w.args[0] == "-c" and w.files == []
    argv = tomllib.loads(w.args[1])["notify"]
    assert argv[-6:] == ["hook", "notify", "--agent", "k2", "--discovery-file",
                         str(tmp_path / "d.json")]  # fmt: skip


def test_gemini_keeps_the_system_defaults_it_would_have_read(tmp_path: Path) -> None:
    admin = tmp_path / "system-defaults.json"
    admin.write_text(json.dumps({"ui": {"theme": "corp"}, "hooks": {"AfterAgent": [{"x": 1}]}}))
    w = hook_wiring.wire(
        registry.load()["gemini"],
        key="k3",
        agent_dir=tmp_path / "a",
        discovery_file=tmp_path / "d.json",
        environ={"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(admin)},
    )
    written = json.loads(Path(w.env["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"]).read_text())
    assert written["ui"] == {"theme": "corp"}
    assert written["hooks"]["AfterAgent"][0] == {"x": 1}  # the admin's hook stays first
    assert written["hooks"]["AfterAgent"][1]["hooks"][0]["timeout"] == 5000  # ms
    assert json.loads(admin.read_text())["hooks"] == {"AfterAgent": [{"x": 1}]}  # untouched


def test_no_hooks_means_no_files(tmp_path: Path) -> None:
    w = hook_wiring.wire(
        registry.load()["goose"],
        key="k4",
        agent_dir=tmp_path / "a",
        discovery_file=tmp_path / "d.json",
        environ={},
    )
    assert (w.wiring, w.args, w.files) == ("none", [], []) and not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"hooks": {"wiring": "magic"}}, "agents.x.hooks.wiring must be one of none, "),
        ({"hooks": {"events": {"Stop": "done"}}}, "agents.x.hooks.events must be a table"),
        ({"hooks": {"when": 1}}, "unknown key 'agents.x.hooks.when'"),
        ({"patterns": {"busy": ["x"]}}, "unknown key 'agents.x.patterns.busy'"),
        ({"patterns": {"idle": ["(unclosed"]}}, "agents.x.patterns.idle: '(unclosed' is not a"),
        ({"quiet_s": 0}, "agents.x.quiet_s must be a number of seconds > 0"),
    ],
)
def test_bad_hook_fields_name_themselves(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        registry.load({"x": {"command": ["x"], **table}})


def test_route_walks_the_one_table() -> None:
    S, E = AgentState, AgentEvent
    assert route(S.STARTING, S.NEEDS_INPUT) == [E.READY, E.PROMPT, E.ASK]
    assert route(S.NEEDS_INPUT, S.WORKING) == [E.ANSWERED]
    assert route(S.IDLE, S.IDLE) == []
    with pytest.raises(ConflictError, match="exited cannot become idle"):
        route(S.EXITED, S.IDLE)


def test_questions_and_screen_text() -> None:
    assert question_of({"tool_name": "Bash", "tool_input": {"command": "make"}}) == "Bash: make"
    assert question_of({"message": "Claude needs your permission"}) == (
        "Claude needs your permission"
    )
    assert question_of({"hook_event_name": "Stop"}) is None
    assert clean("\x1b[1mDo\x1b[1Cyou\x1b[0m\r\nwant\x1b]0;title\x07") == "Do you\nwant"
