"""config.toml loading and validation against the shared schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchflow_core import config
from orchflow_core.errors import ConfigError


def test_defaults_follow_the_schema() -> None:
    d = config.defaults()
    assert d["tmux"] == {"socket": "orchflow", "binary": "tmux", "config_file": None}
    assert d["orchestrator"]["mode"] == "embedded"


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    assert config.load(path=tmp_path / "absent.toml") == config.defaults()


def test_precedence_defaults_file_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[tmux]\nsocket = "file"\nbinary = "/usr/bin/tmux"\n')
    cfg = config.load({"tmux": {"socket": "setup"}}, path=f)
    assert cfg["tmux"] == {"socket": "setup", "binary": "/usr/bin/tmux", "config_file": None}


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[log]\nlevel = 'info'\nlevel = 'debug'\n")
    with pytest.raises(ConfigError) as exc:
        config.load(path=f)
    assert str(f) in exc.value.message
    assert exc.value.data["line"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[tmux]\nsockett = 'a'\n",
            "unknown key 'tmux.sockett'; valid here: binary, config_file, socket",
        ),
        ("[nope]\n", "unknown key 'nope'"),
        (
            "[log]\nlevel = 'loud'\n",
            'log.level: got "loud", expected one of "debug", "info", "warning", "error"',
        ),
        ("[tmux]\nsocket = 3\n", "tmux.socket: got 3, expected string"),
        ("[orchestrator]\nurl = true\n", "orchestrator.url: got true, expected string or null"),
        (
            "keymaps = true\n",
            "'keymaps' is a Neovim-side option; set it in setup(), not config.toml",
        ),
        ("tmux = 'x'\n", "tmux must be a table"),
        (
            "[executor]\nkind = 'rya'\n",
            'executor.kind: got "rya", expected one of "local", "ray"',
        ),
        (
            "[executor]\nmax_restarts = -1\n",
            "executor.max_restarts: got -1, expected integer, >= 0",
        ),
        (
            "[swarm]\npane_idle_s = 0\n",
            "swarm.pane_idle_s: got 0, expected number or null, >= 0.1, <= 86400",
        ),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, expected: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        config.load(path=f)
    assert expected in exc.value.message
    assert exc.value.message.startswith(str(f))


def test_setup_overrides_are_validated_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"setup\(\): unknown key 'tmux\.x'"):
        config.load({"tmux": {"x": 1}}, path=tmp_path / "absent.toml")


def test_booleans_are_not_numbers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"float\.width"):
        config.load({"float": {"width": True}}, path=tmp_path / "absent.toml")
