"""The run() completion marker: quoting of the command and scanning across chunk splits."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.mux.shell_integration import CompletionScanner, unwrap_echo, wrap_command


def test_marker_found_across_every_split() -> None:
    data = b"out\r\n\x1b]0;title\x07more\x1b]7717;orchflow-done;abc123;42\x07$ "
    for cut in range(len(data) + 1):
        scanner = CompletionScanner()
        assert scanner.feed(data[:cut]) + scanner.feed(data[cut:]) == [("abc123", 42)]


def test_echoed_command_line_is_not_a_marker() -> None:
    line = wrap_command("true", "abc123").encode()
    assert CompletionScanner().feed(line + b"\r\n") == []


def test_bad_token_rejected() -> None:
    with pytest.raises(ValueError, match="token"):
        wrap_command("true", "x'; rm -rf /")


@given(
    cmd=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=40,
    )
)
def test_wrapped_command_runs_the_text_verbatim_in_sh(cmd: str) -> None:
    # `printf %s <text>` inside the wrapper must print the text unchanged: quoting is airtight.
    inner = "printf '%s' " + "'" + cmd.replace("'", "'\\''") + "'"
    line = wrap_command(inner, "ab")
    out = subprocess.run(["sh", "-c", line], capture_output=True, timeout=10).stdout
    assert out == cmd.encode() + b"\x1b]7717;orchflow-done;ab;0\x07"


@given(cmd=st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40))
def test_the_echoed_wrapper_reads_back_as_the_command(cmd: str) -> None:
    assert unwrap_echo("~/src $ " + wrap_command(cmd, "ab12")) == "~/src $ " + cmd
    assert unwrap_echo("~/src $ " + cmd) == "~/src $ " + cmd  # anything else is left alone
