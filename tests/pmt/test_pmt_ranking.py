from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import SpecError
from targeting.pmt.ranking import (
    assign_deciles,
    below_poverty_line,
    population_shares,
    select_coverage,
    select_poorest,
)


def test_population_shares_hand_worked():
    # scores 3, 1, 2 with persons 2, 1, 1 (total 4): order 1 (0+0.5)/4, 2 (1+0.5)/4, 3 (2+1)/4
    np.testing.assert_allclose(population_shares([3.0, 1.0, 2.0], [2, 1, 1]), [0.75, 0.125, 0.375])


def test_deciles_ten_equal_households():
    np.testing.assert_array_equal(assign_deciles(np.arange(10.0)[::-1]), np.arange(10, 0, -1))


def test_deciles_follow_population_not_households():
    # One household of 5 persons is half the population: it fills deciles 1..5 by its mid-point 0.25
    # and sits in decile 3; the five singles (mid-points 0.55..0.95) take deciles 6, 7, 8, 9, 10.
    d = assign_deciles([0.0, 1, 2, 3, 4, 5], [5, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(d, [3, 6, 7, 8, 9, 10])


def test_ties_are_broken_by_tiebreak_then_row_order():
    score = [1.0, 1.0, 1.0, 1.0]
    np.testing.assert_array_equal(assign_deciles(score, n_groups=4), [1, 2, 3, 4])
    np.testing.assert_array_equal(
        assign_deciles(score, n_groups=4, tiebreak=["d", "c", "b", "a"]), [4, 3, 2, 1]
    )


def test_deciles_within_region():
    score = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0])
    region = np.array(["a", "a", "a", "b", "b", "b"])
    d = assign_deciles(score, by=region, n_groups=3)
    np.testing.assert_array_equal(d, [3, 1, 2, 2, 3, 1])


def test_coverage_k_over_ten_is_deciles_one_to_k():
    rng = np.random.default_rng(0)
    score = rng.normal(size=500)
    w = rng.integers(1, 9, size=500).astype(float)
    d = assign_deciles(score, w)
    for k in range(11):
        np.testing.assert_array_equal(select_coverage(score, w, k / 10), d <= k)


def test_select_poorest_counts_households_and_quota_per_region():
    score = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0])
    np.testing.assert_array_equal(select_poorest(score, 2), [0, 1, 0, 0, 0, 1])
    region = np.array(["a", "a", "a", "b", "b", "b"])
    got = select_poorest(score, {"a": 1, "b": 2}, by=region)
    np.testing.assert_array_equal(got, [0, 1, 0, 1, 0, 1])
    # weights: the poorest (weight 3) does not fit a quota of 2, and nobody after it is taken
    np.testing.assert_array_equal(select_poorest(score, 2, weight=[1, 1, 1, 1, 1, 3]), [0] * 6)


def test_select_poorest_refuses_missing_quota():
    with pytest.raises(SpecError, match="b"):
        select_poorest([1.0, 2.0], {"a": 1}, by=["a", "b"])
    with pytest.raises(SpecError, match="by"):
        select_poorest([1.0, 2.0], {"a": 1})


def test_below_poverty_line_compares_levels():
    got = below_poverty_line(np.log([800_000.0, 833_955.0, 900_000.0]), 833_955.0)
    np.testing.assert_array_equal(got, [True, False, False])


@pytest.mark.parametrize(
    ("call", "msg"),
    [
        (lambda: population_shares([1.0, np.nan]), "missing"),
        (lambda: population_shares([1.0, 2.0], [1.0]), "entries"),
        (lambda: population_shares([1.0, 2.0], [1.0, -1.0]), "non-negative"),
        (lambda: select_coverage([1.0], None, 1.5), "coverage"),
        (lambda: assign_deciles([1.0], by=[None]), "missing group"),
    ],
)
def test_bad_inputs_raise(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


@st.composite
def scored_population(draw):
    n = draw(st.integers(1, 60))
    # few distinct scores, so ties are common
    score = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    weight = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    region = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    return np.array(score, float), np.array(weight, float), np.array(region)


@settings(max_examples=200, deadline=None)
@given(scored_population(), st.floats(0, 1), st.floats(0, 1), st.booleans())
def test_widening_coverage_keeps_everyone_selected(pop, c1, c2, regional):
    score, w, region = pop
    by = region if regional else None
    lo, hi = sorted((c1, c2))
    narrow = select_coverage(score, w, lo, by=by)
    wide = select_coverage(score, w, hi, by=by)
    assert not np.any(narrow & ~wide)


@settings(max_examples=200, deadline=None)
@given(scored_population(), st.booleans())
def test_deciles_monotone_and_equal_population(pop, regional):
    score, w, region = pop
    by = region if regional else None
    d = assign_deciles(score, w, by=by)
    assert d.min() >= 1 and d.max() <= 10
    groups = np.unique(region) if regional else [None]
    for g in groups:
        m = np.ones(len(score), bool) if g is None else region == g
        s, dd, ww = score[m], d[m], w[m]
        # monotone: a strictly poorer household never sits in a higher decile
        order = np.argsort(s, kind="stable")
        assert np.all(np.diff(dd[order]) >= 0)
        # each decile holds 10% of the population to within one household's weight
        total = ww.sum()
        for k in range(1, 11):
            pop_k = ww[dd == k].sum()
            assert abs(pop_k - total / 10) <= ww.max() + 1e-9


def test_shares_and_quota_hand_worked_with_ties_and_groups() -> None:
    """Ties keep row order (the sorts are stable, no row key is needed) and groups restart the shares."""
    from targeting.pmt.ranking import population_shares, rank_order, select_poorest

    score = [2.0, 1.0, 1.0, 3.0, 1.0]
    weight = [1.0, 1.0, 2.0, 1.0, 0.0]
    # Sorted: row 1 (w 1), row 2 (w 2), row 4 (w 0), row 0 (w 1), row 3 (w 1); total 5.
    assert rank_order(score).tolist() == [1, 2, 4, 0, 3]
    assert population_shares(score, weight).tolist() == [3.5 / 5, 0.5 / 5, 2.0 / 5, 4.5 / 5, 3.0 / 5]
    by = ["b", "a", "b", "a", "a"]
    # a: rows 1 (w 1), 4 (w 0), 3 (w 1) -> total 2; b: rows 2 (w 2), 0 (w 1) -> total 3.
    assert rank_order(score, by=by).tolist() == [1, 4, 3, 2, 0]
    assert population_shares(score, weight, by=by).tolist() == [2.5 / 3, 0.5 / 2, 1.0 / 3, 1.5 / 2, 1.0 / 2]
    assert select_poorest(score, {"a": 1.0, "b": 2.0}, weight=weight, by=by).tolist() == [
        False, True, True, False, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([-1.0, -0.0, 0.0, 0.5, 2.0, 1e300]), st.integers(0, 3)),
                min_size=0, max_size=60))
def test_group_order_is_lexsorts_group_score_row_order(rows):
    """Rows by group, then score, then row (ties in both, signed zeros): exactly np.lexsort's order."""
    from targeting.pmt.ranking import rank_order

    score = np.array([r[0] for r in rows], dtype=np.float64)
    group = np.array([f"g{r[1]}" for r in rows], dtype=object)
    codes = np.searchsorted(np.unique(group), group) if len(rows) else np.zeros(0, dtype=np.intp)
    expected = np.lexsort((score, codes))
    assert rank_order(score, by=group).tolist() == expected.tolist()
