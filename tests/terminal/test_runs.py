"""Runs and shell integration against a real tmux server and real bash, zsh and fish.

Each test gets its own tmux server whose panes start with a private HOME holding the
user's rc files, so what the shells read (and write: history) is under the test's control.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.core import Core
from orchflow_core.errors import ConflictError, InvalidArgumentError
from orchflow_core.events import Event
from tests.harness.tmux import TmuxServer

SHELLS = ["bash", "zsh", "fish"]

# What each shell reads as "the user's own" rc files; they set a variable, so a test can
# see that they were sourced, and send history to a known file.
RC_FILES = {
    "bash": {
        ".bash_profile": 'export ORCHFLOW_TEST_RC=bash\nHISTFILE="$HOME/hist"\nHISTSIZE=1000\n'
        "HISTFILESIZE=1000\nunset HISTCONTROL\n"
        "PROMPT_COMMAND='true;'\n",  # a user PROMPT_COMMAND that ends with ';'
    },
    "zsh": {
        ".zshrc": 'export ORCHFLOW_TEST_RC=zsh\nHISTFILE="$HOME/hist"\nSAVEHIST=1000\n'
        "HISTSIZE=1000\nsetopt INC_APPEND_HISTORY\nPS1='%# '\n",
    },
    "fish": {
        ".config/fish/config.fish": "set -gx ORCHFLOW_TEST_RC fish\n",
    },
}


def shell_or_skip(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "user-home"
    h.mkdir()
    return h


async def start_core(isolated: Path, home: Path, shell: str) -> Core:
    path = shell_or_skip(shell)
    for rel, text in RC_FILES[shell].items():
        f = home / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    conf = home.parent / f"tmux-{shell}.conf"
    conf.write_text(
        f"set -g default-shell {path}\n"
        f'set-environment -g HOME "{home}"\n'
        f'set-environment -g XDG_DATA_HOME "{home}/.local/share"\n'
        f'set-environment -g XDG_CONFIG_HOME "{home}/.config"\n'
        "set -g status off\nset -g history-limit 10000\n"
    )
    core = Core({"tmux": {"config_file": str(conf)}}, project_root=isolated)
    await core.start()
    return core


@pytest.fixture(params=SHELLS)
async def shell_core(
    request: pytest.FixtureRequest, isolated: Path, private_tmux: TmuxServer, home: Path
) -> AsyncIterator[tuple[str, Core]]:
    core = await start_core(isolated, home, request.param)
    yield request.param, core
    await core.close()


@pytest.fixture
async def core_bash(isolated: Path, private_tmux: TmuxServer, home: Path) -> AsyncIterator[Core]:
    core = await start_core(isolated, home, "bash")
    yield core
    await core.close()


def collect(core: Core, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def on(event: Event) -> None:
        seen.append(event.data)

    core.events.subscribe(on, kinds=(kind,))
    return seen


async def until(check: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll what a user would look at (a screen, a file) until ``check`` holds."""
    async with asyncio.timeout(within):
        while not (value := check()):  # noqa: ASYNC110 - polling tmux and files, no event
            await asyncio.sleep(0.02)
        return value


async def new_shell(core: Core) -> dict[str, Any]:
    tm = await core.terminals()
    pane = await tm.new_pane(name="sh")
    await tm.run_tracker.wait_prompt(pane["id"], timeout_s=15)
    return pane


async def test_pane_run_types_the_command_and_cd_stays(
    shell_core: tuple[str, Core], private_tmux: TmuxServer
) -> None:
    shell, core = shell_core
    tm = await core.terminals()
    pane = await new_shell(core)
    assert pane["shell_integration"] == shell
    run = await tm.run("sh", "cd /tmp")
    done = await tm.run_tracker.wait(run["id"], timeout_s=10)
    assert (done["state"], done["exit_code"], done["source"]) == ("finished", 0, "run")
    run = await tm.run("sh", "pwd")
    done = await tm.run_tracker.wait(run["id"], timeout_s=10)
    assert done["cwd"] == "/tmp"  # the shell's own directory when it started the command
    screen = private_tmux.run("capture-pane", "-p", "-t", pane["pane_id"])
    assert "trap" not in screen and "7717" not in screen and "eval" not in screen
    assert "/tmp\n" in screen + "\n"


async def test_typed_commands_become_runs_with_exit_code(
    shell_core: tuple[str, Core], private_tmux: TmuxServer
) -> None:
    shell, core = shell_core
    tm = await core.terminals()
    finished = collect(core, "run.finished")
    pane = await new_shell(core)
    # typed by hand: tmux send-keys, outside orchflow
    private_tmux.run("send-keys", "-t", pane["pane_id"], "false", "Enter")
    run = await until(lambda: next((r for r in finished if r["command"] == "false"), None))
    assert (run["exit_code"], run["source"], run["state"]) == (1, "typed", "finished")
    assert run["duration_s"] is not None and run["duration_s"] >= 0
    await tm.run_tracker.wait_prompt(pane["id"], timeout_s=10)
    rows = await tm.run_tracker.list(pane="sh")
    assert [(r["command"], r["exit_code"], r["source"]) for r in rows] == [("false", 1, "typed")]
    # the user's rc files were read, and $? still reaches the user's next command
    private_tmux.run("send-keys", "-t", pane["pane_id"], "echo rc=$ORCHFLOW_TEST_RC", "Enter")
    screen = lambda: private_tmux.run("capture-pane", "-p", "-t", pane["pane_id"])  # noqa: E731
    await until(lambda: f"rc={shell}" in screen())
    # the screen can run ahead of the marks orchflow reads: the typed run ends first
    await until(lambda: any(r["command"].startswith("echo rc=") for r in finished))
    run = await tm.run("sh", "false")
    await tm.run_tracker.wait(run["id"], timeout_s=10)
    check = await tm.run("sh", "echo status=$status" if shell == "fish" else "echo status=$?")
    await tm.run_tracker.wait(check["id"], timeout_s=10)
    screen = private_tmux.run("capture-pane", "-p", "-t", pane["pane_id"])
    assert "status=1" in screen


async def test_a_command_the_shell_rejects_is_reported_not_waited_for(
    shell_core: tuple[str, Core],
) -> None:
    shell, core = shell_core
    tm = await core.terminals()
    await new_shell(core)
    bad = {"bash": "ls )", "zsh": "ls )", "fish": "echo $?"}[shell]
    with pytest.raises(InvalidArgumentError, match="did not run"):
        await tm.run("sh", bad)
    run = await tm.run("sh", "true")  # the pane is usable at once
    assert (await tm.run_tracker.wait(run["id"], timeout_s=10))["exit_code"] == 0


async def test_an_unfinished_line_is_taken_back(shell_core: tuple[str, Core]) -> None:
    _shell, core = shell_core
    tm = await core.terminals()
    tm.run_tracker.start_timeout_s = 1.0
    await new_shell(core)
    with pytest.raises(InvalidArgumentError, match="waits for more input"):
        await tm.run("sh", "echo 'open quote")
    await tm.run_tracker.wait_prompt("sh", timeout_s=10)
    run = await tm.run("sh", "echo closed")
    done = await tm.run_tracker.wait(run["id"], timeout_s=10)
    assert (done["command"], done["exit_code"]) == ("echo closed", 0)


async def test_ctrl_c_gives_130_and_cancel_ends_a_command_that_never_ends(
    shell_core: tuple[str, Core], private_tmux: TmuxServer
) -> None:
    _shell, core = shell_core
    tm = await core.terminals()
    pane = await new_shell(core)
    run = await tm.run("sh", "sleep 1000")
    # as a user would: C-c once sleep is what the pane runs
    await until(
        lambda: (
            private_tmux.run(
                "display", "-p", "-t", pane["pane_id"], "#{pane_current_command}"
            ).strip()
            == "sleep"
        )
    )
    private_tmux.run("send-keys", "-t", pane["pane_id"], "C-c")
    done = await tm.run_tracker.wait(run["id"], timeout_s=10)
    assert (done["state"], done["exit_code"]) == ("finished", 130)
    await tm.run_tracker.wait_prompt(pane["id"], timeout_s=10)
    run = await tm.run("sh", "sleep 1000")
    with pytest.raises(ConflictError, match="is running 'sleep 1000'"):
        await tm.run("sh", "true")
    cancelled = await tm.run_tracker.cancel(run["id"], timeout_s=10)
    assert (cancelled["state"], cancelled["exit_code"]) == ("cancelled", 130)
    db = await core.db()
    row = await db.fetchone("SELECT state, exit_code, source FROM runs WHERE id = ?", (run["id"],))
    assert row is not None and tuple(row) == ("cancelled", 130, "run")


async def test_history_holds_the_commands_as_typed_and_nothing_else(
    shell_core: tuple[str, Core], private_tmux: TmuxServer, home: Path
) -> None:
    shell, core = shell_core
    tm = await core.terminals()
    pane = await new_shell(core)
    commands = ["echo 'a;b'  \"$HOME\" \\\\x", "true", "cd /tmp"]
    for command in commands:
        run = await tm.run("sh", command)
        done = await tm.run_tracker.wait(run["id"], timeout_s=10)
        assert done["command"] == command
        await tm.run_tracker.wait_prompt(pane["id"], timeout_s=10)
    private_tmux.run("send-keys", "-t", pane["pane_id"], "exit", "Enter")
    if shell == "fish":
        path = home / ".local/share/fish/fish_history"
        await until(lambda: path.exists() and "exit" in path.read_text())
        lines = path.read_text().splitlines()
        typed = [line[len("- cmd: ") :] for line in lines if line.startswith("- cmd: ")]
        # fish stores a backslash doubled in its history file
        typed = [t.replace("\\\\", "\\") for t in typed]
    else:
        path = home / "hist"
        await until(lambda: path.exists() and "exit" in path.read_text())
        typed = path.read_text().splitlines()
    assert typed == [*commands, "exit"]


async def test_marks_of_two_managers_make_one_run(
    isolated: Path, private_tmux: TmuxServer, home: Path
) -> None:
    """The host and the orchestrator may both read one pane: one row per run."""
    first = await start_core(isolated, home, "bash")
    second = await start_core(isolated, home, "bash")
    try:
        tm1, tm2 = await first.terminals(), await second.terminals()
        pane = await new_shell(first)
        await tm2.refresh()
        seen2 = collect(second, "run.finished")
        run = await tm1.run("sh", "echo one")
        await tm1.run_tracker.wait(run["id"], timeout_s=10)
        await until(lambda: seen2)
        assert seen2[0]["id"] == run["id"]
        await tm2.run_tracker.list()
        db = await first.db()
        rows = await db.fetchall("SELECT id, source FROM runs")
        assert [tuple(r) for r in rows] == [(run["id"], "run")]
        assert pane["id"] == (await tm2.run_tracker.get(run["id"]))["pane"]
    finally:
        await first.close()
        await second.close()


async def test_pane_without_integration_uses_the_wrapper(
    isolated: Path, private_tmux: TmuxServer
) -> None:
    """tests/tmux.conf sets default-command: orchflow leaves it alone, and says so."""
    from tests.harness.editor import ROOT

    core = Core({"tmux": {"config_file": str(ROOT / "tests" / "tmux.conf")}}, project_root=isolated)
    await core.start()
    try:
        tm = await core.terminals()
        pane = await tm.new_pane(name="plain")
        assert pane["shell_integration"] is None
        run = await tm.run("plain", "exit 3")
        done = await tm.run_tracker.wait(run["id"], timeout_s=10)
        assert (done["state"], done["exit_code"], done["source"]) == ("finished", 3, "run")
        assert "default-command" in tm.backend.shell_integration  # type: ignore[attr-defined]
    finally:
        await core.close()


async def test_the_pty_backend_starts_integrated_shells_too(
    isolated: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """terminal.backend = "pty" (no tmux): the same marks, the same runs."""
    monkeypatch.setenv("SHELL", shell_or_skip("bash"))
    monkeypatch.setenv("HOME", str(home))
    (home / ".bash_profile").write_text(RC_FILES["bash"][".bash_profile"])
    core = Core({"terminal": {"backend": "pty"}}, project_root=isolated)
    await core.start()
    try:
        tm = await core.terminals()
        finished = collect(core, "run.finished")
        pane = await new_shell(core)
        assert pane["shell_integration"] == "bash"
        run = await tm.run("sh", "cd /tmp")
        assert (await tm.run_tracker.wait(run["id"], timeout_s=10))["exit_code"] == 0
        await tm.run_tracker.wait_prompt("sh", timeout_s=10)
        await tm.send("sh", "false", enter=True)
        typed = await until(lambda: next((r for r in finished if r["command"] == "false"), None))
        assert (typed["exit_code"], typed["source"], typed["cwd"]) == (1, "typed", "/tmp")
        screen = await tm.backend.capture(pane["pane_id"])
        assert "7717" not in screen and "trap" not in screen
    finally:
        await core.close()


async def test_a_command_with_tabs_runs_as_written(shell_core: tuple[str, Core]) -> None:
    """A tab would be completion if typed; it is pasted (bracketed) and runs as text."""
    shell, core = shell_core
    tm = await core.terminals()
    await new_shell(core)
    command = "printf '%s|\\n' 'a\tb'  'c  d'"
    if shell == "fish":
        with pytest.raises(InvalidArgumentError, match=r"fish .* cannot take a tab"):
            await tm.run("sh", command)
        return
    run = await tm.run("sh", command)
    done = await tm.run_tracker.wait(run["id"], timeout_s=10)
    assert (done["command"], done["exit_code"]) == (command, 0)
    screen = await tm.backend.capture(tm.resolve("sh").pane_id)
    assert "a\tb|" in screen.replace("a       b", "a\tb") or "a\tb|" in screen


async def test_a_line_that_starts_with_a_subshell_is_a_run_too(
    shell_core: tuple[str, Core], private_tmux: TmuxServer
) -> None:
    """bash's DEBUG trap never fires for "( … )": PS0 sees the line read instead."""
    shell, core = shell_core
    if shell == "fish":
        pytest.skip("fish has no ( … ) subshell syntax; its preexec event sees every line")
    finished = collect(core, "run.finished")
    pane = await new_shell(core)
    private_tmux.run("send-keys", "-t", pane["pane_id"], "(exit 4)", "Enter")
    run = await until(lambda: next(iter(finished), None))
    assert (run["command"], run["exit_code"], run["source"]) == ("(exit 4)", 4, "typed")


async def test_a_run_that_started_before_a_restart_ends_when_its_shell_says_so(
    isolated: Path, private_tmux: TmuxServer, home: Path
) -> None:
    """A new process (the orchestrator restarted, a new Neovim) did not see the start mark:
    the stored run still ends, with the shell's exit code, instead of staying "running"."""
    first = await start_core(isolated, home, "bash")
    tm = await first.terminals()
    pane = await new_shell(first)
    run = await tm.run("sh", "sleep 1.5; (exit 7)")
    await first.close()  # the process goes; the shell and its command go on
    second = await start_core(isolated, home, "bash")
    try:
        finished = collect(second, "run.finished")
        await second.terminals()  # reconciles: it finds the pane and reads its output
        ended = await until(lambda: next((r for r in finished if r["id"] == run["id"]), None))
        assert (ended["state"], ended["exit_code"]) == ("finished", 7)
        assert pane["id"] == ended["pane"]
    finally:
        await second.close()


async def test_two_panes_made_at_once_share_the_new_default_session(core_bash: Core) -> None:
    tm = await core_bash.terminals()
    made = await asyncio.gather(tm.new_pane(name="a"), tm.new_pane(name="b"))
    assert {p["session"] for p in made} == {"orchflow"}
