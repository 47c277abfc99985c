"""Fuzzy ranking of paths (pure; rapidfuzz)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orchflow_core.files.frecency import FrecencyIndex
from orchflow_core.files.ranking import PathRanker, _subsequence_pattern, match_positions, rank
from tests.search.treegen import synthetic_paths

NOISE = synthetic_paths(3000, seed=7)


def test_exact_basename_beats_scattered_match() -> None:
    paths = [*NOISE, "m/a/i/n/x.py", "lib/domain.py", "very/deep/tree/of/dirs/main.py"]
    top = [r.path for r in rank("main.py", paths, limit=3)]
    assert top[0] == "very/deep/tree/of/dirs/main.py"
    assert "m/a/i/n/x.py" not in top[:1]


def test_path_queries_and_in_order_letters() -> None:
    paths = [*NOISE, "orchflow_core/search/ripgrep.py", "orchflow_core/files/ranking.py"]
    assert rank("search/rip", paths, limit=1)[0].path == "orchflow_core/search/ripgrep.py"
    assert rank("rnkng", paths, limit=1)[0].path == "orchflow_core/files/ranking.py"


def test_frecency_lifts_a_file() -> None:
    paths = ["a/config.py", "b/config.py", "c/config.py"]
    f = FrecencyIndex(None)
    assert rank("config", paths, limit=1)[0].path == "a/config.py"
    for _ in range(3):
        f.record_open("c/config.py")
    assert rank("config", paths, limit=1, frecency=f)[0].path == "c/config.py"
    # empty query: frecent first, then the list in order
    assert [r.path for r in PathRanker(paths).rank("", frecency=f)] == [
        "c/config.py", "a/config.py", "b/config.py",
    ]  # fmt: skip


def test_highlight_positions_are_byte_offsets() -> None:
    assert match_positions("main", "src/main.py") == (4, 5, 6, 7)
    assert match_positions("mn", "src/main.py") == (4, 7)
    assert match_positions("é", "café/é.txt") == (6,)  # "é" is 2 bytes in UTF-8


CHARS = "ab^]-\\.[x/é"


@settings(max_examples=500)
@given(st.text(alphabet=CHARS, min_size=1, max_size=5), st.text(alphabet=CHARS, max_size=15))
def test_subsequence_pattern_matches_exactly_the_in_order_texts(q: str, text: str) -> None:
    it = iter(text)
    in_order = all(ch in it for ch in q)
    assert (_subsequence_pattern(q).search(text) is not None) == in_order
