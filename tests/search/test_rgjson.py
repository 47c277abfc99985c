"""The ripgrep --json parser, fed recorded message lines (pure, no process)."""

from __future__ import annotations

import base64

import orjson

from orchflow_core.search.rgjson import RgJsonParser


def msg(kind: str, **data: object) -> bytes:
    return orjson.dumps({"type": kind, "data": data})


def line(kind: str, n: int, text: str, subs: tuple[tuple[int, int], ...] = ()) -> bytes:
    return msg(
        kind,
        path={"text": "./f.txt"},
        lines={"text": text + "\n"},
        line_number=n,
        submatches=[{"match": {"text": text[s:e]}, "start": s, "end": e} for s, e in subs],
    )


def test_match_without_context_comes_out_at_once() -> None:
    p = RgJsonParser()
    assert p.feed(msg("begin", path={"text": "./f.txt"})) == []
    (m,) = p.feed(line("match", 3, "a hit", ((2, 5),)))
    assert (m.path, m.line, m.column, m.text, m.submatches) == ("f.txt", 3, 3, "a hit", ((2, 5),))
    p.feed(msg("end", path={"text": "./f.txt"}, stats={"matched_lines": 1}))
    p.feed(msg("summary", stats={"matches": 1}, elapsed_total={"secs": 0, "nanos": 2_000_000}))
    assert p.files_with_matches == 1 and p.stats is not None and p.stats.elapsed_ms == 2.0


def test_context_is_shared_between_neighbouring_matches() -> None:
    p = RgJsonParser(context=1)
    out = []
    for raw in (
        line("context", 1, "c1"),
        line("match", 2, "m2", ((0, 2),)),
        line("context", 3, "c3"),
        line("match", 4, "m4", ((0, 2),)),
        line("context", 5, "c5"),
    ):
        out += p.feed(raw)
    out += p.feed(msg("end", path={"text": "./f.txt"}, stats={"matched_lines": 2}))
    assert [(m.line, m.context_before, m.context_after) for m in out] == [
        (2, ("c1",), ("c3",)),
        (4, ("c3",), ("c5",)),
    ]


def test_non_utf8_path_and_text_and_long_lines() -> None:
    p = RgJsonParser(max_line_bytes=8)
    raw = msg(
        "match",
        path={"bytes": base64.b64encode(b"./caf\xe9.txt").decode()},
        lines={"bytes": base64.b64encode(b"x\xff hit\n").decode()},
        line_number=1,
        submatches=[{"match": {"text": "hit"}, "start": 3, "end": 6}],
    )
    (m,) = p.feed(raw)
    assert m.path == "caf\udce9.txt" and m.text == "x\ufffd hit"
    (long,) = p.feed(line("match", 2, "0123456789abcdef", ((2, 4), (6, 12), (12, 14))))
    assert long.text == "01234567" and long.submatches == ((2, 4), (6, 8))
