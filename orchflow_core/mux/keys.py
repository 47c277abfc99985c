"""Special keys a client may send to a pane: only these, never a free-form key string.

The value of each member is the tmux key name (``send-keys`` without ``-l``).
Other backends translate the same names to bytes with ``KEY_BYTES`` (what an
xterm-like terminal sends in normal cursor-key mode).
"""

from __future__ import annotations

from enum import StrEnum


class Key(StrEnum):
    ENTER = "Enter"
    ESCAPE = "Escape"
    TAB = "Tab"
    BTAB = "BTab"
    BSPACE = "BSpace"
    SPACE = "Space"
    UP = "Up"
    DOWN = "Down"
    LEFT = "Left"
    RIGHT = "Right"
    HOME = "Home"
    END = "End"
    PAGE_UP = "PageUp"
    PAGE_DOWN = "PageDown"
    INSERT = "IC"
    DELETE = "DC"
    F1 = "F1"
    F2 = "F2"
    F3 = "F3"
    F4 = "F4"
    F5 = "F5"
    F6 = "F6"
    F7 = "F7"
    F8 = "F8"
    F9 = "F9"
    F10 = "F10"
    F11 = "F11"
    F12 = "F12"
    C_A = "C-a"
    C_B = "C-b"
    C_C = "C-c"
    C_D = "C-d"
    C_E = "C-e"
    C_F = "C-f"
    C_K = "C-k"
    C_L = "C-l"
    C_N = "C-n"
    C_P = "C-p"
    C_R = "C-r"
    C_U = "C-u"
    C_W = "C-w"
    C_Z = "C-z"
    C_BACKSLASH = "C-\\"


def _ctrl(letter: str) -> bytes:
    return bytes([ord(letter.upper()) - 64])


KEY_BYTES: dict[Key, bytes] = {
    Key.ENTER: b"\r",
    Key.ESCAPE: b"\x1b",
    Key.TAB: b"\t",
    Key.BTAB: b"\x1b[Z",
    Key.BSPACE: b"\x7f",
    Key.SPACE: b" ",
    Key.UP: b"\x1b[A",
    Key.DOWN: b"\x1b[B",
    Key.RIGHT: b"\x1b[C",
    Key.LEFT: b"\x1b[D",
    Key.HOME: b"\x1b[1~",
    Key.END: b"\x1b[4~",
    Key.PAGE_UP: b"\x1b[5~",
    Key.PAGE_DOWN: b"\x1b[6~",
    Key.INSERT: b"\x1b[2~",
    Key.DELETE: b"\x1b[3~",
    Key.F1: b"\x1bOP",
    Key.F2: b"\x1bOQ",
    Key.F3: b"\x1bOR",
    Key.F4: b"\x1bOS",
    Key.F5: b"\x1b[15~",
    Key.F6: b"\x1b[17~",
    Key.F7: b"\x1b[18~",
    Key.F8: b"\x1b[19~",
    Key.F9: b"\x1b[20~",
    Key.F10: b"\x1b[21~",
    Key.F11: b"\x1b[23~",
    Key.F12: b"\x1b[24~",
    Key.C_BACKSLASH: b"\x1c",
    **{k: _ctrl(k.value[-1]) for k in Key if k.value.startswith("C-") and k.value[-1].isalpha()},
}


def parse_key(name: str) -> Key:
    """The ``Key`` for a member name (``C_C``) or tmux name (``C-c``); else InvalidArgumentError."""
    from orchflow_core.errors import InvalidArgumentError

    for key in Key:
        if name in (key.value, key.name):
            return key
    known = ", ".join(k.value for k in Key)
    raise InvalidArgumentError(f"unknown key {name!r}; expected one of: {known}", key=name)
