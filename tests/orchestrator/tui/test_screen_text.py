"""screen_text.py: how real TUIs' cursor moves read as text (no processes; the replays in
test_real_screens.py show the same through a pane and the orchestrator)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.agents.screen_text import ScreenText, clean

SCREENS = Path(__file__).with_name("real_screens")


def test_column_moves_between_words_are_spaces() -> None:
    # Claude Code 2.1.197 places words with CHA instead of writing spaces
    assert clean("\x1b[2Gesc\x1b[6Gto\x1b[9Ginterrupt") == " esc to interrupt"


def test_a_move_to_another_row_is_a_line_and_the_same_row_a_space() -> None:
    # Codex 0.171.0 places lines with CUP; opencode 1.18.33 words too, on one row
    text = clean("\x1b[1;1HWelcome\x1b[3;1HChoose\x1b[39;14Hesc \x1b[39;18Hinterrupt")
    assert text.splitlines() == ["", "Welcome", "Choose", "esc interrupt"]


def test_an_escape_sequence_or_character_cut_between_chunks_is_kept() -> None:
    screen = ScreenText()
    parts = [b"Do\x1b[", b"1Cyou \xe2\x9d", b"\xaf trust"]
    assert "".join(screen.feed(p) for p in parts) == "Do you \u276f trust"


def test_other_sequences_and_controls_are_dropped() -> None:
    assert clean("\x1b]0;title\x07\x1b(B\x1b[?25l\x1b[38;5;6mok\x1b[0m\x07\r\n") == "ok\n"


def test_real_streams_read_as_their_screens() -> None:
    def text(name: str) -> str:
        data = (SCREENS / f"{name}.raw").read_bytes()
        screen = ScreenText()
        return "".join(screen.feed(data[i : i + 512]) for i in range(0, len(data), 512))

    assert "Quick safety check: Is this a project you created" in text(
        "claude-2.1.197-trust-folder"
    )
    lines = [line.strip() for line in text("codex-0.171.0-sign-in").splitlines()]
    assert "Choose how you want to use Codex." in lines
    assert "esc interrupt" in text("opencode-1.18.33-working")
