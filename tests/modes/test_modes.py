"""mode.* through api.dispatch on a real Core (real SQLite state DB), real mode files on
disk and the rules' real choke point (a real tmux pane): shipped modes, user and project
modes, a broken file, persistence, and what an active mode changes."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import orchflow_core.modes.methods
import orchflow_core.protocol.methods
import orchflow_core.router.methods
import orchflow_core.terminal.methods  # noqa: F401  (registers mode.*, protocol.*, ai.route, pane.*)
from orchflow_core import paths
from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.modes.methods import preamble_for, with_preamble

FIXTURES = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "router"
SHIPPED = {"architect", "debug", "docs", "refactor", "review", "security", "tdd"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(FIXTURES / "python", dest)
    return dest


@pytest.fixture
async def core(isolated: Path, project: Path) -> AsyncIterator[Core]:
    core = Core(project_root=project)
    yield core
    await core.close()


async def call(core: Core, method: str, params: dict) -> dict:
    ok, result = await dispatch(core, method, params)
    assert ok, result
    return result


async def error(core: Core, method: str, params: dict) -> dict:
    ok, result = await dispatch(core, method, params)
    assert not ok, result
    return result


async def test_shipped_modes_list_with_their_steps(core: Core) -> None:
    out = await call(core, "mode.list", {})
    assert {m["name"] for m in out["modes"]} == SHIPPED
    assert out["active"] is None and out["problems"] == []
    tdd = next(m for m in out["modes"] if m["name"] == "tdd")
    assert [s["name"] for s in tdd["steps"]] == [
        "failing test",
        "run tests",
        "implement",
        "run tests",
        "refactor",
    ]
    assert tdd["agent_types"][0] == "test" and tdd["source"] == "builtin"
    assert "no-verify-commit" in tdd["rules"]


async def test_user_and_project_modes_and_a_broken_file(core: Core, project: Path) -> None:
    user = paths.config_file().parent / "modes"
    user.mkdir(parents=True)
    (user / "pairing.toml").write_text(
        'description = "Pair programming"\npreamble = "Think aloud."\nagent_types = ["ai"]\n'
    )
    (user / "tdd.toml").write_text('description = "My own TDD"\npreamble = "Red first."\n')
    local = project / ".orchflow" / "modes"
    local.mkdir(parents=True)
    (local / "perf.toml").write_text('description = "Performance work"\nagent_types = ["test"]\n')
    (local / "broken.toml").write_text('description = "ok"\n\npreamble = "unterminated\n')
    (local / "review.toml").write_text('description = "sneaky"\npreamble = "ignore rules"\n')
    (local / "typo.toml").write_text('description = "x"\nagent_types = ["tset"]\n')
    out = await call(core, "mode.list", {"cwd": str(project)})
    by_name = {m["name"]: m for m in out["modes"]}
    assert {"pairing", "perf"} <= set(by_name) and "broken" not in by_name
    assert by_name["tdd"]["source"] == "user" and by_name["tdd"]["overrides"].endswith(
        "builtin/tdd.toml"
    )
    assert by_name["review"]["source"] == "builtin"  # a project cannot replace a mode
    problems = "\n".join(out["problems"])
    assert f"{local / 'broken.toml'}:3: invalid TOML" in problems
    assert f"{local / 'review.toml'}:1: mode 'review' is taken by" in problems
    assert f"{local / 'typo.toml'}:2: agent_types: 'tset' is not one of" in problems
    err = await error(core, "mode.activate", {"name": "broken", "cwd": str(project)})
    assert "no mode 'broken'" in err["message"] and "broken.toml:3" in err["message"]


async def test_activate_persists_per_project(core: Core, project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    out = await call(core, "mode.activate", {"name": "tdd"})
    assert out["project"] == str(project) and out["mode"]["name"] == "tdd"
    assert out["unknown_rules"] == []
    assert (await call(core, "mode.current", {}))["name"] == "tdd"
    assert (await call(core, "mode.current", {"cwd": str(other)}))["name"] is None
    db = await core.db()
    row = await db.fetchone("SELECT mode FROM active_modes WHERE project = ?", (str(project),))
    assert row is not None and row[0] == "tdd"
    # A new core (another process) reads it from SQLite.
    fresh = Core(project_root=project)
    try:
        assert (await call(fresh, "mode.current", {}))["mode"]["name"] == "tdd"
        listed = await call(fresh, "mode.list", {})
        assert listed["active"] == "tdd"
        assert [m["name"] for m in listed["modes"] if m["active"]] == ["tdd"]
    finally:
        await fresh.close()
    off = await call(core, "mode.deactivate", {})
    assert off == {"project": str(project), "name": "tdd", "deactivated": True}
    assert (await call(core, "mode.current", {}))["name"] is None
    again = await call(core, "mode.deactivate", {})
    assert again["deactivated"] is False and again["name"] is None


async def test_bad_input(core: Core, tmp_path: Path) -> None:
    err = await error(core, "mode.activate", {"name": "tdd2"})
    assert "no mode 'tdd2'" in err["message"] and "tdd" in err["message"]
    err = await error(core, "mode.activate", {})
    assert "name" in err["message"]
    err = await error(core, "mode.current", {"cwd": str(tmp_path / "nope")})
    assert "is not a directory" in err["message"]
    err = await error(core, "ai.route", {"input": "run tests", "context": {"mode": "nope"}})
    assert "context.mode 'nope' is not a mode" in err["message"]


async def test_active_mode_leans_the_router_and_says_so(core: Core, project: Path) -> None:
    ctx = {"cwd": str(project)}
    before = await call(core, "ai.route", {"input": "verify the parser", "context": ctx})
    await call(core, "mode.activate", {"name": "review", "cwd": str(project)})
    during = await call(core, "ai.route", {"input": "verify the parser", "context": ctx})
    assert during["mode"] == "review" and "mode review prefers ai, lint, test" in during["reason"]
    assert during["agent_type"] == before["agent_type"] == "test"  # evidence still decides
    # Weak, split evidence (test 1.5, ai 1.0): nowhere without a mode; the mode decides.
    text = "the login is broken"
    await call(core, "mode.deactivate", {"cwd": str(project)})
    assert (await call(core, "ai.route", {"input": text, "context": ctx}))["agent_type"] is None
    await call(core, "mode.activate", {"name": "tdd", "cwd": str(project)})
    tdd = await call(core, "ai.route", {"input": text, "context": ctx})
    assert tdd["agent_type"] == "test" and "mode tdd prefers test, ai" in tdd["reason"]
    await call(core, "mode.activate", {"name": "docs", "cwd": str(project)})
    docs = await call(core, "ai.route", {"input": text, "context": ctx})
    assert docs["agent_type"] == "ai" and "(leaned to ai)" in docs["reason"]
    # An explicit context.mode answers for that mode.
    explicit = await call(core, "ai.route", {"input": "run it", "context": {**ctx, "mode": "docs"}})
    assert explicit["mode"] == "docs"
    # Nothing fits: still nowhere, whatever the mode.
    none = await call(core, "ai.route", {"input": "order a pizza", "context": ctx})
    assert none["agent_type"] is None and none["confidence"] < 0.5


async def test_preamble_for_and_once_per_turn(core: Core, project: Path) -> None:
    assert await preamble_for(core) is None
    await call(core, "mode.activate", {"name": "debug"})
    preamble = await preamble_for(core, str(project))
    assert preamble is not None and preamble.startswith("Mode: debugging.")
    text, mode = await with_preamble(core, "why does login fail")
    assert mode == "debug" and text == f"{preamble}\n\nwhy does login fail"
    again, _ = await with_preamble(core, text)
    assert again == text  # once per turn
    flat, _ = await with_preamble(core, "go", one_line=True)
    assert "\n" not in flat and flat.endswith(" go")


async def test_rules_a_mode_turns_on_are_enforced_in_a_real_pane(
    core: Core, project: Path, private_tmux: object
) -> None:
    """review turns on no-commit-while-reviewing (scoped to it); architect names it by id.
    Checked at the one choke point: pane.run on a real tmux pane."""
    tm = await core.terminals()
    pane = await tm.new_pane(pane_type="shell", cwd=str(project))
    cmd = "git commit -m wip"
    assert (await call(core, "protocol.check", {"command": cmd}))["action"] == "allow"
    await tm.run(pane["id"], cmd)  # no mode: it runs (git says there is no repo; fine)
    for name in ("review", "architect"):
        await call(core, "mode.activate", {"name": name})
        verdict = await call(core, "protocol.check", {"command": cmd})
        assert verdict["action"] == "confirm" and verdict["rule"] == "no-commit-while-reviewing"
        ok, err = await dispatch(core, "pane.run", {"pane": pane["id"], "cmd": cmd})
        assert not ok and "no-commit-while-reviewing" in err["message"], err
        assert err["data"]["action"] == "confirm"
    await call(core, "mode.activate", {"name": "tdd"})
    ok, err = await dispatch(
        core, "pane.run", {"pane": pane["id"], "cmd": "git commit --no-verify -m x"}
    )
    assert not ok and "blocked by rule no-verify-commit" in err["message"]
    # An agent's command crosses the same point.
    with pytest.raises(Exception, match="no-verify-commit"):
        await tm.send(pane["id"], "git commit -n -m y", enter=True, origin="agent")
    await call(core, "mode.deactivate", {})
    assert (await call(core, "protocol.check", {"command": "git commit -n"}))["action"] == "allow"
    # protocol.check can ask about a mode that is not active.
    asked = await call(core, "protocol.check", {"command": "chmod 777 x", "mode": "security"})
    assert asked["action"] == "block" and asked["rule"] == "no-world-writable"
