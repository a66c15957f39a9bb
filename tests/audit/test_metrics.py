from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import r2_score, roc_auc_score

from targeting.audit import (
    auc_weighted,
    cgh_indicator,
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    poor_coverage_rate,
    r2_weighted,
    spearman_weighted,
    targeting_differential,
    weighted_midranks,
)

# Hand-worked case: weights 1,2,1,1,3,2; P∧S = 1+1 = 2, P∧¬S = 2, ¬P∧S = 1, ¬P∧¬S = 5.
POOR = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
SEL = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
W = np.array([1.0, 2, 1, 1, 3, 2])

RATES = [
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    coverage_rate,
    poor_coverage_rate,
]


@pytest.mark.parametrize(
    ("metric", "weighted", "unweighted"),
    [
        (exclusion_error_rate, 2 / 4, 1 / 3),
        (inclusion_error_rate, 1 / 3, 1 / 3),
        (inclusion_error_rate_nonpoor, 1 / 6, 1 / 3),
        (coverage_rate, 3 / 10, 3 / 6),
        (poor_coverage_rate, 2 / 4, 2 / 3),
        (targeting_differential, 2 / 4 - 1 / 6, 2 / 3 - 1 / 3),
    ],
)
def test_rates_hand_worked(metric, weighted, unweighted):
    assert metric(POOR, SEL, sample_weight=W) == pytest.approx(weighted)
    assert metric(POOR, SEL) == pytest.approx(unweighted)


def test_rates_accept_zero_one_ints_and_series():
    got = exclusion_error_rate(pd.Series(POOR.astype(int)), SEL.astype(float), sample_weight=W)
    assert got == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("poor", "sel", "metric"),
    [
        ([0, 0], [1, 0], exclusion_error_rate),  # no poor
        ([1, 0], [0, 0], inclusion_error_rate),  # nobody selected
        ([1, 1], [1, 0], inclusion_error_rate_nonpoor),  # no non-poor
        ([], [], coverage_rate),
    ],
)
def test_undefined_rates_are_nan(poor, sel, metric):
    assert np.isnan(metric(np.array(poor, bool), np.array(sel, bool)))


@pytest.mark.parametrize(
    ("poor", "sel", "weight", "msg"),
    [
        ([1, 0], [1], None, "entries"),
        ([1, 2], [1, 0], None, "boolean"),
        ([1, 0], [1, 0], [1.0, -1.0], "non-negative"),
        ([1, 0], [1, 0], [1.0], "entries"),
    ],
)
def test_rates_reject_bad_input(poor, sel, weight, msg):
    with pytest.raises(ValueError, match=msg):
        exclusion_error_rate(np.array(poor), np.array(sel), sample_weight=weight)


@st.composite
def targeting_outcomes(draw):
    n = draw(st.integers(1, 40))
    poor = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    sel = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    w = draw(st.lists(st.floats(0.0, 100.0), min_size=n, max_size=n))
    return np.array(poor), np.array(sel), np.array(w)


@settings(max_examples=150, deadline=None)
@given(targeting_outcomes())
def test_rates_lie_in_unit_interval(case):
    poor, sel, w = case
    for metric in RATES:
        v = metric(poor, sel, sample_weight=w)
        assert np.isnan(v) or -1e-12 <= v <= 1 + 1e-12
    td = targeting_differential(poor, sel, sample_weight=w)
    assert np.isnan(td) or -1 - 1e-12 <= td <= 1 + 1e-12
    ee = exclusion_error_rate(poor, sel, sample_weight=w)
    pc = poor_coverage_rate(poor, sel, sample_weight=w)
    assert np.isnan(ee) or ee + pc == pytest.approx(1.0)


@st.composite
def selections_as_large_as_the_poor(draw):
    """Correct rows (S = P) plus swap pairs: a missed poor row and a selected non-poor row of
    equal weight, so the weighted number selected equals the weighted number poor."""
    correct = draw(st.lists(st.tuples(st.booleans(), st.integers(1, 9)), min_size=1, max_size=20))
    swaps = draw(st.lists(st.integers(1, 9), max_size=10))
    poor = [p for p, _ in correct] + [True] * len(swaps) + [False] * len(swaps)
    sel = [p for p, _ in correct] + [False] * len(swaps) + [True] * len(swaps)
    w = [v for _, v in correct] + swaps + swaps
    order = draw(st.permutations(range(len(poor))))
    idx = np.array(order)
    return np.array(poor)[idx], np.array(sel)[idx], np.array(w, float)[idx]


@settings(max_examples=150, deadline=None)
@given(selections_as_large_as_the_poor())
def test_inclusion_equals_exclusion_when_selected_equals_poor(case):
    poor, sel, w = case
    assert w[sel].sum() == pytest.approx(w[poor].sum())
    ee = exclusion_error_rate(poor, sel, sample_weight=w)
    ie = inclusion_error_rate(poor, sel, sample_weight=w)
    if np.isnan(ee):
        assert np.isnan(ie)
    else:
        assert ie == pytest.approx(ee)


@settings(max_examples=150, deadline=None)
@given(targeting_outcomes(), st.lists(st.booleans(), min_size=40, max_size=40))
def test_widening_a_selection_never_raises_exclusion_error(case, extra):
    poor, sel, w = case
    wider = sel | np.array(extra[: len(sel)])
    narrow = exclusion_error_rate(poor, sel, sample_weight=w)
    wide = exclusion_error_rate(poor, wider, sample_weight=w)
    if not np.isnan(narrow):
        assert wide <= narrow + 1e-12


def test_weighted_midranks_ties_and_weights():
    # values 5, 1, 5, 3 with weights 1, 2, 1, 4 (total 8): 1 -> (0+1)/8, 3 -> (2+2)/8, 5s -> (6+1)/8
    got = weighted_midranks([5, 1, 5, 3], [1, 2, 1, 4])
    np.testing.assert_allclose(got, [7 / 8, 1 / 8, 7 / 8, 4 / 8])


def test_spearman_matches_scipy_and_expanded_rows():
    rng = np.random.default_rng(0)
    t = rng.normal(size=60)
    p = t + rng.normal(size=60)
    p[:10] = p[10]  # ties
    assert spearman_weighted(t, p) == pytest.approx(spearmanr(t, p).statistic, abs=1e-12)
    w = rng.integers(1, 5, size=60)
    expanded = spearmanr(np.repeat(t, w), np.repeat(p, w)).statistic
    assert spearman_weighted(t, p, sample_weight=w) == pytest.approx(expanded, abs=1e-12)
    assert spearman_weighted(np.exp(t), p, sample_weight=w) == pytest.approx(expanded, abs=1e-12)


def test_spearman_perfect_and_reversed():
    x = np.arange(10.0)
    assert spearman_weighted(x, 2 * x + 1) == pytest.approx(1.0)
    assert spearman_weighted(x, -x) == pytest.approx(-1.0)
    assert np.isnan(spearman_weighted(x, np.ones(10)))


def test_auc_hand_worked_and_matches_sklearn():
    # poor at predicted 1 and 3, non-poor at 2 and 4: pairs (1<2, 1<4, 3>2, 3<4) -> 3/4
    assert auc_weighted([1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.75)
    # a tie between a poor and a non-poor counts one half
    assert auc_weighted([1, 0], [2.0, 2.0]) == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    poor = rng.random(200) < 0.3
    pred = np.round(rng.normal(size=200) - poor, 1)  # rounding makes ties
    w = rng.random(200) * 5
    want = roc_auc_score(poor, -pred, sample_weight=w)
    assert auc_weighted(poor, pred, sample_weight=w) == pytest.approx(want, abs=1e-12)
    assert np.isnan(auc_weighted([1, 1], [1.0, 2.0]))


def test_r2_matches_sklearn():
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    p = y + rng.normal(scale=0.5, size=50)
    w = rng.random(50)
    assert r2_weighted(y, p, sample_weight=w) == pytest.approx(r2_score(y, p, sample_weight=w), abs=1e-12)
    assert r2_weighted(y, y) == 1.0


@pytest.mark.parametrize(
    ("benefit", "kwargs", "want"),
    [
        ([1, 1, 0, 0, 1], {"bottom_share": 0.4}, (2 / 3) / 0.4),
        # cut-off at 1.5 households: household 2 counts half -> 1.5 of 3 units
        ([1, 1, 0, 0, 1], {"bottom_share": 0.3}, 0.5 / 0.3),
        ([1, 1, 1, 1, 1], {"bottom_share": 0.4}, 1.0),  # universal transfer is neutral
        ([2, 0, 0, 0, 0], {"bottom_share": 0.2}, 5.0),  # all to the poorest fifth: 1/q
        # persons: sizes 4,1,1,1,1 -> poorest household alone is half the population
        ([1, 1, 0, 0, 1], {"bottom_share": 0.5, "household_size": [4, 1, 1, 1, 1]}, (1 / 3) / 0.5),
        # weights: household 5 counts 3 times -> benefits 1+1+3 = 5, bottom 40% of 7 = 2.8 units
        ([1, 1, 0, 0, 1], {"bottom_share": 0.4, "sample_weight": [1, 1, 1, 1, 3]}, (2 / 5) / 0.4),
    ],
)
def test_cgh_indicator_hand_worked(benefit, kwargs, want):
    welfare = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert cgh_indicator(welfare, np.array(benefit, float), **kwargs) == pytest.approx(want)


def test_cgh_ties_do_not_depend_on_row_order():
    a = cgh_indicator([1.0, 1.0, 2.0, 3.0], [1, 0, 0, 0], bottom_share=0.25)
    b = cgh_indicator([1.0, 1.0, 2.0, 3.0], [0, 1, 0, 0], bottom_share=0.25)
    assert a == pytest.approx(b) == pytest.approx(2.0)  # half the tied pair's benefit, / 0.25


def test_metricframe_groups_weighted_metrics():
    from fairlearn.metrics import MetricFrame

    group = np.array(["a", "a", "a", "b", "b", "b"])
    poor = np.array([1, 1, 0, 1, 0, 0], bool)
    sel = np.array([1, 0, 1, 0, 1, 0], bool)
    w = np.array([1.0, 3, 2, 1, 1, 1])
    mf = MetricFrame(
        metrics={"exclusion": exclusion_error_rate, "inclusion": inclusion_error_rate},
        y_true=poor,
        y_pred=sel,
        sensitive_features=group,
        sample_params={"exclusion": {"sample_weight": w}, "inclusion": {"sample_weight": w}},
    )
    # group a: P = 1+3, missed 3 -> 0.75; S = 1+2, non-poor 2 -> 2/3
    # group b: P = 1, missed 1 -> 1.0; S = 1, non-poor 1 -> 1.0
    assert mf.by_group.loc["a", "exclusion"] == pytest.approx(0.75)
    assert mf.by_group.loc["a", "inclusion"] == pytest.approx(2 / 3)
    assert mf.by_group.loc["b", "exclusion"] == pytest.approx(1.0)
    assert mf.overall["exclusion"] == pytest.approx(4 / 5)
