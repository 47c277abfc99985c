"""How ``run()`` learns that a command finished, and its exit code, from the pane's shell.

The command is typed as one line that any POSIX shell (bash, zsh, dash/sh, ksh)
runs the same way:

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

fish and other non-POSIX shells are not supported by ``run()``.
"""

from __future__ import annotations

import re
import secrets

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
