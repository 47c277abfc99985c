"""Session templates against a real tmux (private sockets) and the real ``tmuxp load``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from orchflow_core.errors import InvalidArgumentError
from orchflow_core.registry import load_methods
from orchflow_core.templates import load
from tests.harness.editor import ROOT
from tests.harness.tmux import TmuxServer

load_methods()
CONF = str(ROOT / "tests" / "tmux.conf")
DATA = Path(__file__).parent / "data"
TMUXP = str(Path(sys.executable).with_name("tmuxp"))


@pytest.fixture
async def core(isolated: Path, private_tmux: TmuxServer) -> AsyncIterator[Core]:
    c = Core({"tmux": {"config_file": CONF}}, project_root=isolated)
    await c.start()
    yield c
    await c.close()


@pytest.fixture
def other_tmux() -> Iterator[TmuxServer]:
    """A second private server, for `tmuxp load` to build the reference session in."""
    server = TmuxServer()
    yield server
    server.kill()


def tmuxp_load(server: TmuxServer, path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    proc = subprocess.run(
        [TMUXP, "load", "-d", "-y", "-L", server.socket, "-f", CONF, str(path)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def shape(server: TmuxServer, session: str) -> list[tuple[str, int, list[str]]]:
    """tmux's own view: (window name, pane count, pane cwds) per window, in index order."""
    out = server.run(
        "list-panes", "-s", "-t", f"={session}:",
        "-F", "#{window_index}\t#{window_name}\t#{pane_index}\t#{pane_current_path}",
    )  # fmt: skip
    windows: dict[int, tuple[str, list[str]]] = {}
    for line in out.splitlines():
        wi, name, _, cwd = line.split("\t")
        windows.setdefault(int(wi), (name, []))[1].append(os.path.realpath(cwd))
    return [(name, len(cwds), cwds) for _, (name, cwds) in sorted(windows.items())]


def pane_ids(server: TmuxServer) -> list[str]:
    return server.run("list-panes", "-a", "-F", "#{pane_id}").split()


# -- reading files --------------------------------------------------------------------


def test_shorthands_expand_as_tmuxp_expands_them() -> None:
    tpl = load(DATA / "project.yaml")
    assert tpl.session == "tpl-project"
    assert [w.name for w in tpl.windows] == ["editor", "logs", "plain", "env"]
    assert [len(w.panes) for w in tpl.windows] == [3, 2, 1, 1]
    editor = tpl.windows[0]
    # shell_command_before trickles in front of every pane's commands, blanks stay blank
    assert [c.cmd for c in editor.panes[0].commands] == ["echo before", "echo one"]
    assert [(c.cmd, c.enter) for c in editor.panes[1].commands] == [
        ("echo before", True), ("echo two", True), ("echo typed-not-run", False),
    ]  # fmt: skip
    assert [c.cmd for c in tpl.windows[1].panes[0].commands] == ["echo before"]
    # start_directory: ./ is the file's dir; a relative window one joins the session's
    assert tpl.cwd == str(DATA)
    assert tpl.windows[1].cwd == str(DATA / "sub")
    assert tpl.windows[2].panes[0].cwd == str(DATA)
    # environment: session values, overridden by the window's
    assert tpl.windows[0].panes[0].env == {"ORCHFLOW_TPL": "session-value"}
    assert tpl.windows[3].panes[0].env == {"ORCHFLOW_TPL": "window-value"}
    assert tpl.windows[3].panes[0].focus


def test_tmuxinator_project_is_read() -> None:
    tpl = load(DATA / "project.tmuxinator.yml")
    assert tpl.session == "tpl-mux"
    assert [(w.name, len(w.panes), w.layout) for w in tpl.windows] == [
        ("editor", 2, "even-horizontal"), ("server", 1, None), ("shell", 1, None),
    ]  # fmt: skip
    assert [c.cmd for c in tpl.windows[0].panes[1].commands] == ["echo pre", "echo right"]


def test_yaml_error_names_file_and_line() -> None:
    with pytest.raises(InvalidArgumentError) as err:
        load(DATA / "bad-yaml.yaml")
    assert str(DATA / "bad-yaml.yaml") in str(err.value)
    assert "line 5" in str(err.value)


def test_unknown_key_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown key layuot in window 1"):
        load(DATA / "unknown-key.yaml")


def test_missing_start_directory_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="/nonexistent/orchflow-tpl"):
        load(DATA / "missing-dir.json")


def test_code_outside_panes_is_refused_by_name(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("session_name: s\nbefore_script: ./boot.sh\nwindows: [{window_name: w}]\n")
    with pytest.raises(InvalidArgumentError, match="before_script"):
        load(f)


# -- applying -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "session", "windows", "panes"),
    [("project.yaml", "tpl-project", 4, 7), ("keys.json", "tpl-keys", 3, 7)],
)
async def test_apply_makes_what_tmuxp_load_makes(
    core: Core,
    private_tmux: TmuxServer,
    other_tmux: TmuxServer,
    file: str,
    session: str,
    windows: int,
    panes: int,
) -> None:
    """Same windows (names, index order), same panes (count, cwd) as `tmuxp load`."""
    tmuxp_load(other_tmux, DATA / file)
    ok, res = await dispatch(core, "template.apply", {"path": str(DATA / file)})
    assert ok, res
    assert res["created"] == {"windows": windows, "panes": panes}
    assert res["existing"] == {"windows": 0, "panes": 0}
    assert res["drift"] == []
    assert shape(private_tmux, session) == shape(other_tmux, session)
    for server in (private_tmux, other_tmux):  # session options, window options_after
        assert server.run("show-options", "-t", f"={session}:", "-v", "display-time") == (
            "1500\n" if file == "keys.json" else ""
        )


async def test_tmuxinator_apply_matches_tmuxp_of_same_project(
    core: Core, private_tmux: TmuxServer
) -> None:
    ok, res = await dispatch(core, "template.apply", {"path": str(DATA / "project.tmuxinator.yml")})
    assert ok, res
    got = shape(private_tmux, "tpl-mux")
    assert [(n, c) for n, c, _ in got] == [("editor", 2), ("server", 1), ("shell", 1)]


async def test_applying_twice_duplicates_nothing_and_reports_drift(
    core: Core, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    ok, first = await dispatch(core, "template.apply", {"path": str(DATA / "project.yaml")})
    assert ok, first
    before = sorted(pane_ids(private_tmux))
    ok, again = await dispatch(core, "template.apply", {"path": str(DATA / "project.yaml")})
    assert ok, again
    assert again["created"] == {"windows": 0, "panes": 0}
    assert again["existing"] == {"windows": 4, "panes": 7}
    assert again["drift"] == [], again["drift"]
    assert sorted(pane_ids(private_tmux)) == before

    # The same session, a template that wants one pane more and another command
    changed = tmp_path / "changed.yaml"
    text = (DATA / "project.yaml").read_text().replace("- echo one", "- echo uno")
    text = text.replace("  - window_name: plain\n", "  - window_name: plain\n    panes: [a, b]\n")
    changed.write_text(text.replace("start_directory: ./", f"start_directory: {DATA}"))
    ok, third = await dispatch(
        core, "template.apply", {"path": str(changed), "session": "tpl-project"}
    )
    assert ok, third
    assert third["created"] == {"windows": 0, "panes": 1}
    assert len(pane_ids(private_tmux)) == len(before) + 1
    fields = {(d["window"], d["pane"], d["field"]) for d in third["drift"]}
    assert ("editor", 0, "command") in fields  # recorded: echo one; template: echo uno
    assert ("plain", 0, "command") in fields  # a blank pane; the template now runs "a"


async def test_commands_are_runs_with_env_and_cwd(core: Core, tmp_path: Path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text(
        "session_name: runs\nstart_directory: " + str(tmp_path) + "\n"
        "environment: {TPL_VAR: from-template}\n"
        "windows:\n  - window_name: w\n    panes:\n"
        '      - echo "$TPL_VAR" > out.txt; pwd >> out.txt\n'
    )
    ok, res = await dispatch(core, "template.apply", {"path": str(f)})
    assert ok, res
    out = tmp_path / "out.txt"
    tm = await core.terminals()
    ok, runs = await dispatch(core, "run.list", {})
    assert ok, runs
    import asyncio

    async with asyncio.timeout(20):
        while not (out.exists() and out.read_text().count("\n") == 2):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert out.read_text().splitlines() == ["from-template", os.path.realpath(tmp_path)]
    assert any(p["meta"].get("template") == "runs" for p in await tm.panes("runs"))


# -- freezing -------------------------------------------------------------------------


async def test_freezing_20_windows_gives_a_file_tmuxp_loads(
    core: Core, private_tmux: TmuxServer, other_tmux: TmuxServer, tmp_path: Path
) -> None:
    tm = await core.terminals()
    await tm.new_session("big", cwd=str(tmp_path))
    for i in range(20):
        await tm.new_pane(split="window", session="big", cwd=str(tmp_path))
        if i % 5 == 0:
            await tm.new_pane(split="vertical", session="big", cwd=str(tmp_path))
    frozen = tmp_path / "big.yaml"
    ok, res = await dispatch(core, "template.freeze", {"session": "big", "path": str(frozen)})
    assert ok, res
    want = shape(private_tmux, "big")
    assert res["windows"] == len(want) == 21  # new-session's own window and our 20
    tmuxp_load(other_tmux, frozen)
    got = shape(other_tmux, "big")
    assert [(n, c) for n, c, _ in got] == [(n, c) for n, c, _ in want]
    # and orchflow reads back what it wrote
    assert load(frozen).counts() == {"windows": 21, "panes": sum(c for _, c, _ in want)}


async def test_save_list_import(core: Core, tmp_path: Path) -> None:
    ok, imp = await dispatch(core, "template.import", {"path": str(DATA / "project.yaml")})
    assert ok, imp
    assert imp["name"] == "project" and imp["windows"] == 4
    ok, listed = await dispatch(core, "template.list", {})
    assert ok, listed
    assert [t["name"] for t in listed["templates"]] == ["project"]
    ok, res = await dispatch(core, "template.apply", {"name": "project"})
    assert ok, res
    assert res["created"] == {"windows": 4, "panes": 7}
    ok, saved = await dispatch(core, "template.save", {"session": "tpl-project", "name": "again"})
    assert ok, saved
    assert saved["windows"] == 4
    ok, missing = await dispatch(core, "template.apply", {"name": "nope"})
    assert not ok and "nope" in str(missing)


def test_tmuxp_is_installed() -> None:
    assert shutil.which(TMUXP) or Path(TMUXP).exists()
