"""SearchOptions validation and the ripgrep flags they become (pure)."""

from __future__ import annotations

import pytest

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.search.options import SearchOptions, check_pattern


def test_defaults_map_to_smart_case_only() -> None:
    assert SearchOptions().rg_flags() == ["--smart-case"]


def test_every_option_becomes_a_flag() -> None:
    opts = SearchOptions(
        case="insensitive",
        whole_word=True,
        literal=True,
        include=("*.py",),
        exclude=("build/**", "!dist"),
        hidden=True,
        follow=True,
        context=2,
    )
    assert opts.rg_flags() == [
        "--ignore-case", "--word-regexp", "--fixed-strings",
        "--glob", "*.py", "--glob", "!build/**", "--glob", "!dist",
        "--hidden", "--follow", "--context", "2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"case": "upper"}, "case must be one of smart, sensitive, insensitive, got 'upper'"),
        ({"max_results": 0}, "max_results must be an integer from 1"),
        ({"context": 21}, "context must be an integer from 0 to 20, got 21"),
        ({"include": ("",)}, "include globs must be non-empty"),
        ({"hidden": "yes"}, "hidden must be true or false"),
    ],
)
def test_bad_values_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        SearchOptions(**kwargs)  # type: ignore[arg-type]
    assert message in err.value.message


def test_from_params_takes_a_lua_table() -> None:
    opts = SearchOptions.from_params(
        {"pattern": "x", "include": "*.lua", "exclude": ["a", "b"], "max_results": None}
    )
    assert opts.include == ("*.lua",) and opts.exclude == ("a", "b")
    assert opts.max_results == SearchOptions().max_results
    with pytest.raises(InvalidArgumentError, match="exclude must be a list of globs"):
        SearchOptions.from_params({"exclude": 3})


def test_pattern_checks() -> None:
    assert check_pattern("-x") == "-x"
    for bad in ("", "a\nb", None):
        with pytest.raises(InvalidArgumentError):
            check_pattern(bad)
