"""The control-mode parser on recorded tmux 3.3a byte strings (no tmux needed)."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.mux.control import (
    ControlParser,
    Exit,
    LayoutChange,
    Notification,
    Output,
    PaneModeChanged,
    ProtocolError,
    Reply,
    SessionChanged,
    SessionRenamed,
    SessionsChanged,
    WindowAdd,
    WindowClose,
    WindowPaneChanged,
    WindowRenamed,
    encode_command,
    escape_output,
    format_escape,
    quote_arg,
    unescape_output,
)

# Recorded from `tmux -L x -C attach` (3.3a): the attach's own block (flags 0),
# then replies to two commands of ours, an error, output and notifications.
RECORDED = (
    b"%begin 1795291071 270 0\n%end 1795291071 270 0\n"
    b"%session-changed $0 a b\n"
    b'%begin 1795291071 276 1\nxA"y$HOME%0~;{\n%end 1795291071 276 1\n'
    b"%output %0 root@vm:/tmp# echo hello\\015\\012\\033[?2004l\\015\n"
    b"%begin 1795291072 277 1\n%end 1795291072 277 1\n"
    b"%begin 1795291072 278 1\nparse error: unknown command: bogus\n%error 1795291072 278 1\n"
    b"%window-add @3\n%unlinked-window-close @4\n%window-renamed @3 my name\n"
    b"%layout-change @3 b25f,80x24,0,0,2 b25f,80x24,0,0,2 *\n"
    b"%pane-mode-changed %2\n%window-pane-changed @3 %5\n%session-renamed $1 new name\n"
    b"%sessions-changed\n%client-detached /dev/pts/3\n"
    b"%exit\n"
)
EXPECTED = [
    SessionChanged("$0", "a b"),
    Reply(1, True, ('xA"y$HOME%0~;{',)),
    Output("%0", b"root@vm:/tmp# echo hello\r\n\x1b[?2004l\r"),
    Reply(2, True, ()),
    Reply(3, False, ("parse error: unknown command: bogus",)),
    WindowAdd("@3", unlinked=False),
    WindowClose("@4", unlinked=True),
    WindowRenamed("@3", "my name", unlinked=False),
    LayoutChange("@3", "b25f,80x24,0,0,2"),
    PaneModeChanged("%2"),
    WindowPaneChanged("@3", "%5"),
    SessionRenamed("$1", "new name"),
    SessionsChanged(),
    Notification("client-detached", ("/dev/pts/3",)),
    Exit(""),
]


def _parser_with(n: int) -> ControlParser:
    parser = ControlParser()
    for _ in range(n):
        parser.register()
    return parser


def test_recorded_session_parses_to_typed_events() -> None:
    assert _parser_with(3).feed(RECORDED) == EXPECTED


def test_any_split_of_the_stream_gives_the_same_events() -> None:
    for cut in range(0, len(RECORDED), 7):
        parser = _parser_with(3)
        assert parser.feed(RECORDED[:cut]) + parser.feed(RECORDED[cut:]) == EXPECTED


def test_byte_at_a_time() -> None:
    parser = _parser_with(3)
    events = []
    for i in range(len(RECORDED)):
        events += parser.feed(RECORDED[i : i + 1])
    assert events == EXPECTED


def test_end_line_with_another_tag_is_block_content() -> None:
    parser = _parser_with(1)
    data = b"%begin 5 9 1\n%end 5 8 1\n%output %1 x\n%end 5 9 1\n"
    assert parser.feed(data) == [Reply(1, True, ("%end 5 8 1", "%output %1 x"))]


def test_reply_nobody_asked_for_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no command is pending"):
        ControlParser().feed(b"%begin 1 2 1\n%end 1 2 1\n")


def test_exit_with_reason_and_fail_pending() -> None:
    parser = _parser_with(2)
    assert parser.feed(b"%exit server exited\n") == [Exit("server exited")]
    assert parser.fail_pending() == [1, 2]
    assert parser.pending == 0


def test_command_line_quotes_every_argument() -> None:
    seq, line = ControlParser().command("send-keys", "-l", "-t", "%3", "--", 'a;b "$c" ~\\\n\x7f')
    assert seq == 1
    assert line == b'send-keys "-l" "-t" "%3" "--" "a;b \\"\\$c\\" \\176\\\\\\012\\177"\n'


def test_nul_cannot_be_quoted_and_names_are_checked() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_arg("a\x00b")
    with pytest.raises(ValueError, match="not a tmux command name"):
        encode_command("kill-server;", "x")
    assert format_escape("a#{b}") == "a##{b}"


@given(st.binary(max_size=2000))
def test_escape_unescape_round_trip(data: bytes) -> None:
    escaped = escape_output(data)
    assert b"\n" not in escaped  # one %output line
    assert unescape_output(escaped) == data
    assert codecs.escape_decode(escaped)[0] == data


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=400))
def test_output_line_parses_at_any_split(data: bytes, cut: int) -> None:
    raw = b"%output %12 " + escape_output(data) + b"\n"
    parser = ControlParser()
    events = parser.feed(raw[:cut]) + parser.feed(raw[cut:])
    assert events == [Output("%12", data)]
