r"""How orchflow learns what a pane's shell runs, and each command's exit code.

Two ways, both reported by the shell itself, never guessed from output:

1. **Shell integration** (panes orchflow starts with bash, zsh or fish): an rc shim
   (``orchflow_core/terminal/shell/``) that sources the user's own files first, then adds
   hooks printing OSC 133 marks (``A`` prompt, ``C`` command start, ``D;<status>`` end)
   and orchflow's own marks, which carry what OSC 133 does not::

       ESC ] 7717;orchflow;C;<shell pid>;<seq>;<cwd>;<command line> BEL   command starts
       ESC ] 7717;orchflow;D;<shell pid>;<seq>;<exit status>;<µs> BEL     command ended
       ESC ] 7717;orchflow;P;<shell pid>;<seq>;<shell name>;<n> BEL       prompt n shown

   ``seq`` counts the commands of one shell, so ``<pane>-<pid>-<seq>`` names a command
   the same way for every process that reads the marks; ``µs`` is the command's duration
   as the shell measured it (empty where the shell cannot tell); ``n`` counts prompts, so
   a prompt drawn again (a redraw) is told from a new one. Fields escape ``\\``, ``\;``,
   ``\n``, ``\r``, ``\a`` and ``\e``. ``ShellMarkScanner`` parses them;
   ``integrated_launch`` gives the argv that starts a shell with the shim.

2. **The wrapper** (fallback for panes orchflow did not start, or with another shell):
   ``run()`` types the command as one line that any POSIX shell (bash, zsh, dash/sh,
   ksh) runs the same way:

    ( trap 'exit 130' INT; eval '<cmd>' ); printf '\\033]7717;orchflow-done;<token>;%s\\007' "$?"

- ``eval '<cmd>'`` runs the text exactly as typed (pipes, ``&&``, comments, several
  lines), quoted so nothing in it can reach the wrapper.
- The subshell with ``trap 'exit 130' INT`` is what makes C-c work: an interactive
  shell abandons the rest of a command line when its foreground job dies *of* SIGINT,
  so without it the completion marker would never be printed. Hence ``run()``
  commands do not change the pane shell's state (``cd``, ``export``); type those
  with ``send_text``.
- ``printf`` writes a private OSC sequence carrying a random token and ``$?``.
  Terminals (tmux included) ignore unknown OSC sequences, so nothing shows on
  screen; the raw byte stream carries it to ``CompletionScanner``. The echoed
  command line holds ``\\033`` as four characters, never the ESC byte, so the
  echo cannot be mistaken for the marker: completion is reported by the shell,
  never guessed from output. The marker stays in the raw stream subscribers see.

The wrapper is for POSIX shells (bash, zsh, dash/sh, ksh); fish gets shell integration.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MARKER_PREFIX = b"\x1b]7717;orchflow-done;"
_MARKER = re.compile(rb"\x1b\]7717;orchflow-done;([0-9a-f]{1,64});(-?\d{1,5})\x07")
_MAX_MARKER = len(MARKER_PREFIX) + 64 + 1 + 6 + 1


def new_token() -> str:
    return secrets.token_hex(8)


def wrap_command(cmd: str, token: str) -> str:
    """The line to type so the shell runs ``cmd`` and then reports ``token`` and ``$?``."""
    if not re.fullmatch(r"[0-9a-f]{1,64}", token):
        raise ValueError(f"token must be lowercase hex, got {token!r}")
    quoted = "'" + cmd.replace("'", "'\\''") + "'"
    return (
        f"( trap 'exit 130' INT; eval {quoted} ); "
        f"printf '\\033]7717;orchflow-done;{token};%s\\007' \"$?\""
    )


_ECHOED = re.compile(
    r"\( trap 'exit 130' INT; eval '((?:[^']|'\\'')*)' \); "
    r"printf '\\033\]7717;orchflow-done;[0-9a-f]{1,64};%s\\007' \"\$\?\""
)


def unwrap_echo(line: str) -> str:
    """A screen line with the shell's echo of ``wrap_command`` shows just the command
    again (``$ ( trap … eval 'make' ); printf …`` -> ``$ make``), for summaries such as
    the dashboard's last line. Any other line comes back unchanged."""
    return _ECHOED.sub(lambda m: m[1].replace("'\\''", "'"), line)


class CompletionScanner:
    """Finds completion markers in one pane's raw output, across chunk boundaries."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[tuple[str, int]]:
        """(token, exit_code) for each complete marker in ``data`` (plus what came before)."""
        buf = self._tail + data if self._tail else data
        found: list[tuple[str, int]] = []
        end = 0
        for match in _MARKER.finditer(buf):
            found.append((match[1].decode(), int(match[2])))
            end = match.end()
        rest = buf[end:]
        # Keep only what could be the start of a marker cut off by the chunk boundary.
        cut = rest.rfind(b"\x1b", max(0, len(rest) - _MAX_MARKER))
        self._tail = rest[cut:] if cut >= 0 else b""
        return found


# -- shell integration --------------------------------------------------------------------

SHIM_DIR = Path(__file__).resolve().parent.parent / "terminal" / "shell"
INTEGRATED_SHELLS = ("bash", "zsh", "fish")

SHELL_MARK_PREFIX = b"\x1b]7717;orchflow;"
MAX_SHELL_MARK = 256 * 1024  # a longer command line is not reported (its run is not recorded)
_SHELL_MARK = re.compile(
    rb"\x1b\]7717;orchflow;([CDP]);(\d{1,10});(\d{1,12})((?:;(?:\\.|[^;\\\x07])*)*)\x07", re.S
)
_FIELD = re.compile(rb";((?:\\.|[^;\\\x07])*)", re.S)
_UNESCAPE = re.compile(rb"\\(.)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"a": b"\x07", b"e": b"\x1b"}


@dataclass(frozen=True, slots=True)
class ShellMark:
    """One mark from an integrated shell (see the module docstring)."""

    kind: Literal["C", "D", "P"]
    shell_pid: int
    seq: int
    cwd: str | None = None  # C
    command: str | None = None  # C
    exit_code: int | None = None  # D
    duration_s: float | None = None  # D, when the shell measured it
    shell: str | None = None  # P
    prompt: int | None = None  # P: the shell's prompt count


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start an integrated shell: the argv and the environment it needs."""

    argv: list[str]
    env: dict[str, str]
    shell: str


def integrated_launch(shell_path: str, *, shim_dir: Path = SHIM_DIR) -> Launch | None:
    """argv + env that start ``shell_path`` as a login shell with orchflow's marks, or None
    for a shell that has no shim (it then starts plainly and ``run()`` uses the wrapper)."""
    name = os.path.basename(shell_path)
    if name == "bash":
        rc = str(shim_dir / "orchflow.bash")
        return Launch([shell_path, "--rcfile", rc, "-i"], {"ORCHFLOW_SHELL_LOGIN": "1"}, name)
    if name == "zsh":
        env = {"ZDOTDIR": str(shim_dir / "zsh")}
        env["ORCHFLOW_USER_ZDOTDIR"] = os.environ.get("ZDOTDIR", "")
        return Launch([shell_path, "-l"], env, name)
    if name == "fish":
        script = str(shim_dir / "orchflow.fish").replace("'", "\\'")
        return Launch([shell_path, "-l", "--init-command", f"source '{script}'"], {}, name)
    return None


def _unescape(raw: bytes) -> str:
    text = _UNESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[1]), raw)
    return text.decode("utf-8", "replace")


def parse_shell_mark(match: re.Match[bytes]) -> ShellMark | None:
    kind = match[1].decode()
    pid, seq = int(match[2]), int(match[3])
    fields = [f for f in _FIELD.findall(match[4])]
    if kind == "C" and len(fields) == 2:
        return ShellMark("C", pid, seq, cwd=_unescape(fields[0]), command=_unescape(fields[1]))
    if kind == "D" and 1 <= len(fields) <= 2 and fields[0].lstrip(b"-").isdigit():
        us = fields[1] if len(fields) == 2 else b""
        duration = int(us) / 1e6 if us.isdigit() else None
        return ShellMark("D", pid, seq, exit_code=int(fields[0]), duration_s=duration)
    if kind == "P" and 1 <= len(fields) <= 2:
        n = fields[1] if len(fields) == 2 else b""
        return ShellMark(
            "P", pid, seq, shell=_unescape(fields[0]), prompt=int(n) if n.isdigit() else None
        )
    return None


class ShellMarkScanner:
    """Finds shell-integration marks in one pane's raw output, across chunk boundaries.

    Pure and bounded: a mark cut by a chunk boundary is held (at most ``MAX_SHELL_MARK``
    bytes); anything else is forgotten as soon as it is scanned.
    """

    def __init__(self, *, max_mark: int = MAX_SHELL_MARK) -> None:
        self._tail = b""
        self._max = max_mark

    def feed(self, data: bytes) -> list[ShellMark]:
        buf = self._tail + data if self._tail else data
        self._tail = b""
        if b"\x1b" not in buf:
            return []
        found: list[ShellMark] = []
        end = 0
        for match in _SHELL_MARK.finditer(buf):
            mark = parse_shell_mark(match)
            if mark is not None:
                found.append(mark)
            end = match.end()
        rest = buf[end:]
        start = rest.rfind(SHELL_MARK_PREFIX)
        if start >= 0 and b"\x07" not in rest[start:]:
            held = rest[start:]
            self._tail = held if len(held) <= self._max else b""
        else:
            # The start of a prefix cut off by the chunk boundary ("\x1b]77", ...).
            esc = rest.rfind(b"\x1b", max(0, len(rest) - len(SHELL_MARK_PREFIX) + 1))
            if esc >= 0 and SHELL_MARK_PREFIX.startswith(rest[esc:]):
                self._tail = rest[esc:]
        return found
