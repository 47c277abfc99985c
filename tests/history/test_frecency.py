"""The frecency formula, checked against its direct definition (pure math, no I/O)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchflow_core.history.frecency import EPOCH, FrecencyModel, logaddexp

DAY = 86_400.0
NOW = EPOCH + 400 * DAY


def direct(model: FrecencyModel, runs: list[tuple[float, int | None]], now: float) -> float:
    """The documented definition: sum of w_i * 2^(-(now - t_i)/h)."""
    h = model.half_life_days * DAY
    return sum(model.weight(code) * 2 ** (-(now - ts) / h) for ts, code in runs)


def test_one_run_halves_every_half_life() -> None:
    model = FrecencyModel()
    score = model.score_of([(NOW, 0)])
    assert model.frecency_at(score, NOW) == pytest.approx(1.0)
    assert model.frecency_at(score, NOW + 7 * DAY) == pytest.approx(0.5)
    assert model.frecency_at(score, NOW + 14 * DAY) == pytest.approx(0.25)


def test_failures_weigh_a_quarter_and_unknown_counts_as_success() -> None:
    model = FrecencyModel()
    assert model.frecency_at(model.score_of([(NOW, 2)]), NOW) == pytest.approx(0.25)
    assert model.frecency_at(model.score_of([(NOW, None)]), NOW) == pytest.approx(1.0)


runs_strategy = st.lists(
    st.tuples(
        st.floats(min_value=EPOCH - 3000 * DAY, max_value=NOW),
        st.one_of(st.none(), st.integers(min_value=0, max_value=255)),
    ),
    min_size=1,
    max_size=30,
)


@given(runs_strategy, st.floats(min_value=0.5, max_value=60))
def test_stored_score_equals_the_definition(runs: list[tuple[float, int | None]], h: float) -> None:
    model = FrecencyModel(half_life_days=h)
    expected = direct(model, runs, NOW)
    got = model.frecency_at(model.score_of(runs), NOW)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)


@given(runs_strategy, runs_strategy, st.floats(min_value=0, max_value=5000 * DAY))
def test_order_by_score_is_order_by_frecency_at_any_time(
    a: list[tuple[float, int | None]], b: list[tuple[float, int | None]], later: float
) -> None:
    model = FrecencyModel()
    sa, sb = model.score_of(a), model.score_of(b)
    for now in (NOW, NOW + later):
        fa, fb = direct(model, a, now), direct(model, b, now)
        if not math.isclose(fa, fb, rel_tol=1e-9) and fa > 0 and fb > 0:
            assert (sa > sb) == (fa > fb)


def test_logaddexp_never_overflows() -> None:
    assert logaddexp(1000.0, 1000.0) == pytest.approx(1000.0 + math.log(2))
    assert logaddexp(-math.inf, 3.0) == 3.0
    # 50 years after the epoch with a one-hour half-life: scores are big, sums still finite.
    model = FrecencyModel(half_life_days=1 / 24)
    far = EPOCH + 50 * 365 * DAY
    assert math.isfinite(model.score_of([(far, 0), (far, 0)]))


def test_frequent_beats_single_recent_only_until_it_decays() -> None:
    model = FrecencyModel()
    ten_old = model.score_of([(NOW - 14 * DAY, 0)] * 10)  # 10 runs two weeks ago -> 2.5
    one_new = model.score_of([(NOW, 0)])  # 1 run now -> 1
    assert ten_old > one_new
    four_weeks = model.score_of([(NOW - 28 * DAY, 0)] * 10)  # -> 0.625
    assert four_weeks < one_new


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_life_days": 0}, "half_life_days must be > 0"),
        ({"failure_weight": 0}, r"failure_weight must be in \(0, 1\]"),
        ({"failure_weight": 2}, r"failure_weight must be in \(0, 1\]"),
    ],
)
def test_model_validates(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrecencyModel(**kwargs)
