from __future__ import annotations

import pytest

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.mux.keys import KEY_BYTES, Key, parse_key


def test_every_key_has_bytes_for_non_tmux_backends() -> None:
    assert set(KEY_BYTES) == set(Key)
    assert KEY_BYTES[Key.C_C] == b"\x03"
    assert KEY_BYTES[Key.C_Z] == b"\x1a"
    assert KEY_BYTES[Key.ENTER] == b"\r"


def test_parse_key_accepts_tmux_and_member_names() -> None:
    assert parse_key("C-c") is Key.C_C
    assert parse_key("PAGE_UP") is Key.PAGE_UP


def test_parse_key_names_the_bad_key() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown key 'C-c; kill-server'"):
        parse_key("C-c; kill-server")
