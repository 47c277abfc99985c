"""Shell history parsers and the JSON export codec (pure: bytes in, commands out)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.history.importers import (
    ShellCommand,
    decode_export,
    detect_format,
    encode_export,
    fill_missing_times,
    parse_bash,
    parse_fish,
    parse_shell,
    parse_zsh,
    unmetafy,
)


def cmds(result: object) -> list[tuple[str, float | None]]:
    return [(c.command, c.ts) for c in result.commands]  # type: ignore[attr-defined]


def test_bash_plain_lines() -> None:
    result = parse_bash(b"ls -la\n\ngit status\n  echo hi  \n")
    assert cmds(result) == [("ls -la", None), ("git status", None), ("echo hi", None)]
    assert result.skipped == 0


def test_bash_timestamps_and_multiline_records() -> None:
    data = b"#1700000000\nls\n#1700000005\nfor i in 1 2; do\n  echo $i\ndone\n#1700000009\npwd\n"
    result = parse_bash(data)
    assert cmds(result) == [
        ("ls", 1700000000.0),
        ("for i in 1 2; do\n  echo $i\ndone", 1700000005.0),
        ("pwd", 1700000009.0),
    ]
    assert result.skipped == 0


def test_bash_malformed_lines_are_counted() -> None:
    data = (
        b"#1700000000\nls\n"
        b"#17000x0000\n"  # timestamp-looking but not a number
        b"#1700000001\n"  # orphan: next line is another timestamp
        b"#99999999999\n"  # year 5138: corrupt
        b"#1700000002\n\xff\xfe bad utf8\n"  # record with undecodable bytes
        b"#1700000003\necho ok\n"
        b"#1700000004\n"  # orphan at end of file
    )
    result = parse_bash(data)
    assert cmds(result) == [("ls", 1700000000.0), ("echo ok", 1700000003.0)]
    assert result.skipped == 5


def test_zsh_extended_with_continuations() -> None:
    data = (
        b": 1700000000:0;git status\n"
        b": 1700000010:12;for f in *; do\\\n  echo $f\\\ndone\n"
        b": 1700000020:1;make\n"
    )
    result = parse_zsh(data)
    assert cmds(result) == [
        ("git status", 1700000000.0),
        ("for f in *; do\n  echo $f\ndone", 1700000010.0),
        ("make", 1700000020.0),
    ]
    assert [c.duration_s for c in result.commands] == [0.0, 12.0, 1.0]
    assert result.skipped == 0


def test_zsh_malformed_and_plain_lines() -> None:
    data = (
        b": 1700000000:0;ok\n"
        b": 17000x0000:0;bad ts\n"
        b": 1700000001;missing duration\n"
        b": 1700000002:0;\n"  # empty command
        b": 1700000003:0;bad\\\n\xff continued\n"  # continuation with undecodable bytes
        b"plain command\n"
    )
    result = parse_zsh(data)
    assert cmds(result) == [("ok", 1700000000.0), ("plain command", None)]
    assert result.skipped == 4


def test_zsh_metafied_bytes_are_decoded() -> None:
    # "é" is C3 A9; zsh writes A9 (a Meta-range byte) as 0x83, 0xA9 ^ 0x20.
    raw = b": 1700000000:0;echo \xc3\x83\x89\n"
    assert unmetafy(b"echo \xc3\x83\x89") == "echo é".encode()
    assert cmds(parse_zsh(raw)) == [("echo é", 1700000000.0)]


def test_fish_records() -> None:
    data = (
        b"- cmd: git status\n  when: 1700000000\n"
        b"- cmd: cp a b\n  when: 1700000005\n  paths:\n    - a\n    - b\n"
        b"- cmd: echo one\\ntwo \\\\ end\n  when: 1700000009\n"
    )
    result = parse_fish(data)
    assert cmds(result) == [
        ("git status", 1700000000.0),
        ("cp a b", 1700000005.0),
        ("echo one\ntwo \\ end", 1700000009.0),
    ]
    assert result.skipped == 0


def test_fish_malformed() -> None:
    data = (
        b"- cmd: good\n  when: 1700000000\n"
        b"- cmd: bad when\n  when: yesterday\n"
        b"- cmd:\n  when: 1700000001\n"  # empty command
        b"garbage line\n"
        b"- cmd: \xff\xfe\n  when: 1700000003\n"  # undecodable command
        b"- cmd: last\n  when: 1700000004\n"
    )
    result = parse_fish(data)
    assert cmds(result) == [("good", 1700000000.0), ("last", 1700000004.0)]
    # bad when, empty cmd, garbage line, undecodable command
    assert result.skipped == 4


def test_parse_shell_rejects_unknown_shell() -> None:
    with pytest.raises(ValueError, match="unknown shell 'tcsh'"):
        parse_shell(b"", "tcsh")


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        (".bash_history", b"ls\n", "bash"),
        (".zsh_history", b"ls\n", "zsh"),
        ("fish_history", b"", "fish"),
        ("export.json", b'  {"format": 1}', "json"),
        ("hist.txt", b"\n: 1700000000:0;ls\n", "zsh"),
        ("hist.txt", b"- cmd: ls\n", "fish"),
        ("hist.txt", b"#1700000000\nls\n", "bash"),
    ],
)
def test_detect_format(name: str, head: bytes, expected: str) -> None:
    assert detect_format(name, head) == expected


def test_fill_missing_times_keeps_file_order() -> None:
    filled = fill_missing_times(
        [
            ShellCommand("a", None),
            ShellCommand("b", None),
            ShellCommand("c", 1000.0),
            ShellCommand("d", None),
        ],
        end=5000.0,
    )
    assert [(c.command, c.ts) for c in filled] == [
        ("a", 998.0),
        ("b", 999.0),
        ("c", 1000.0),
        ("d", 1000.0),
    ]
    untimed = fill_missing_times([ShellCommand("x", None), ShellCommand("y", None)], end=50.0)
    assert [c.ts for c in untimed] == [49.0, 50.0]


def test_export_round_trip_and_bad_entries_counted() -> None:
    runs = [
        ("ls", "/a", "shell", 0, 0.5, 1700000000.0, "orchflow"),
        ("x", None, None, None, None, 1700000001.0, "bash"),
    ]
    data = encode_export(runs, exported_at=1.0)
    assert decode_export(data, "f.json") == (runs, 0)
    document = orjson.loads(data)
    document["entries"] += [
        {"command": "", "ts": 1700000000},
        {"command": "ok"},
        {"command": "neg", "ts": 1700000000, "duration_s": -1},
        {"command": "t", "ts": True},
        "not an object",
        {"command": "fine", "ts": 1700000002, "exit_code": 3},
    ]
    decoded, skipped = decode_export(orjson.dumps(document), "f.json")
    assert skipped == 5
    assert decoded[-1] == ("fine", None, None, 3, None, 1700000002.0, "json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"format": "orchflow-history",\n "entries": [1,,]}',
            r"f\.json: not valid JSON at line 2 column 16",
        ),
        (b"[]", "f.json: not an orchflow history export"),
        (
            b'{"format": "orchflow-history", "version": 9, "entries": []}',
            "export version 9 is not supported",
        ),
        (
            b'{"format": "orchflow-history", "version": 1, "entries": {}}',
            '"entries" must be a list',
        ),
    ],
)
def test_decode_export_errors_name_file_and_position(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        decode_export(data, "f.json")


@given(st.binary(max_size=400), st.sampled_from(["bash", "zsh", "fish"]))
def test_parsers_never_raise(data: bytes, shell: str) -> None:
    result = parse_shell(data, shell)
    assert result.skipped >= 0
    assert all(c.command and c.command == c.command.strip() for c in result.commands)
