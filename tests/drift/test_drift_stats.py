"""Weighted PSI, bins and two-sample tests: hand-worked cases, SciPy with unit weights, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from targeting.drift import (
    adjust_pvalues,
    kish_effective_size,
    population_stability_index,
    psi_null_mean,
    quantile_edges,
    weighted_chi2_2samp,
    weighted_ks_2samp,
    weighted_shares,
)
from targeting.drift._stats import numeric_bin_codes, numeric_bin_labels

# ---- PSI -------------------------------------------------------------------------------------------


def test_psi_hand_worked_half_to_quarter():
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5 = 0.25 ln 3
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3))
    assert 0.25 * math.log(3) == pytest.approx(0.274653, abs=1e-6)


def test_psi_empty_bin_is_floored_at_epsilon():
    # A code nobody had (share 0 -> 1e-4) now held by 1%:
    # (-0.01) ln(0.99) + (0.01 - 0.0001) ln(0.01 / 0.0001) = 0.000100503 + 0.0099 ln 100 = 0.045692
    psi = population_stability_index([1.0, 0.0], [0.99, 0.01], epsilon=1e-4)
    assert psi == pytest.approx(0.01 * -math.log(0.99) + 0.0099 * math.log(100))
    assert psi == pytest.approx(0.045692, abs=1e-6)


def test_psi_refuses_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        population_stability_index([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        population_stability_index([0.5, 0.5], [1.5, -0.5])
    with pytest.raises(ValueError, match="epsilon"):
        population_stability_index([0.5, 0.5], [0.5, 0.5], epsilon=0)


shares = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=12).filter(lambda v: sum(v) > 0)


@given(shares, st.data())
def test_psi_is_non_negative_symmetric_and_zero_for_identical(r, data):
    r = np.array(r) / sum(r)
    c = np.array(data.draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=len(r), max_size=len(r))))
    c = c / c.sum() if c.sum() > 0 else r
    assert population_stability_index(r, c) >= 0
    assert population_stability_index(r, r) == 0
    assert population_stability_index(r, c) == pytest.approx(population_stability_index(c, r))


def test_psi_null_mean_is_bins_minus_one_times_inverse_sizes():
    assert psi_null_mean(10, 200, 200) == pytest.approx(9 * (1 / 200 + 1 / 200))
    assert psi_null_mean(10, 200, 200) == pytest.approx(0.09)
    assert math.isnan(psi_null_mean(10, 0, 5))


# ---- shares and bins ----------------------------------------------------------------------------------


def test_weighted_shares_hand_worked():
    # bins 0, 0, 1, 2 with weights 1, 1, 2, 4: totals 2, 2, 4 of 8
    np.testing.assert_allclose(weighted_shares([0, 0, 1, 2], [1, 1, 2, 4], 4), [0.25, 0.25, 0.5, 0.0])
    with pytest.raises(ValueError, match="0..2"):
        weighted_shares([0, 3], None, 3)


def test_kish_effective_size():
    assert kish_effective_size([1, 1, 1, 1]) == 4
    # (3 + 1)^2 / (9 + 1) = 1.6
    assert kish_effective_size([3, 1]) == pytest.approx(1.6)
    assert kish_effective_size([0, 0]) == 0


def test_quantile_edges_unit_weights_quartiles():
    # cumulative weights 1, 2, 3, 4: the quartiles 1, 2, 3 are the first values reaching 1, 2, 3
    np.testing.assert_array_equal(quantile_edges([4, 3, 2, 1], None, 4), [1, 2, 3])


def test_quantile_edges_follow_the_weights():
    # weights 3, 1, 1, 1 of 6: half the weight sits on value 1, so the median is 1
    np.testing.assert_array_equal(quantile_edges([1, 2, 3, 4], [3, 1, 1, 1], 2), [1])


def test_quantile_edges_merge_equal_quantiles_and_drop_the_maximum():
    # 70% zeros: every decile up to 0.7 is 0, the rest are 1 (the maximum): one edge, two bins
    x = np.array([0.0] * 7 + [1.0] * 3)
    np.testing.assert_array_equal(quantile_edges(x, None, 10), [0])
    assert quantile_edges([np.nan, np.nan], None, 10).size == 0


def test_numeric_bins_are_right_closed_with_a_missing_bin():
    edges = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(numeric_bin_codes([0.5, 1, 1.5, 2, 3, 3.5, np.nan], edges),
                                  [0, 0, 1, 1, 2, 3, 4])
    assert numeric_bin_labels(edges) == ["<= 1", "(1, 2]", "(2, 3]", "> 3", "missing"]


# ---- Kolmogorov-Smirnov ----------------------------------------------------------------------------------


def test_weighted_ks_hand_worked():
    # F_x: 1/3, 2/3, 1, 1 at 1, 2, 3, 4; F_y: 0, 1/3, 2/3, 1: the largest gap is 1/3
    res = weighted_ks_2samp([1, 2, 3], [2, 3, 4])
    assert res.statistic == pytest.approx(1 / 3)
    # weights 3,1 vs 1,3 on the values 1, 2: F_x(1) = 0.75, F_y(1) = 0.25
    res = weighted_ks_2samp([1, 2], [1, 2], reference_weight=[3, 1], current_weight=[1, 3])
    assert res.statistic == pytest.approx(0.5)
    assert res.n_reference == pytest.approx(1.6)
    # n m / (n + m) = 0.8 rounds to 1; one observation's D is max(U, 1 - U) >= 0.5, so P(D > 0.5) = 1
    assert res.pvalue == pytest.approx(1.0)


def test_weighted_ks_leaves_missing_values_out():
    with_nan = weighted_ks_2samp([1, 2, np.nan], [2, 3, 4, np.nan])
    without = weighted_ks_2samp([1, 2], [2, 3, 4])
    assert with_nan == without


# At least two values a side: with one each, n m / (n + m) = 0.5 rounds to 0 and SciPy itself divides by 0.
samples = st.lists(st.integers(0, 30), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_weighted_ks_with_unit_weights_is_scipy(x, y):
    ours = weighted_ks_2samp(np.array(x, float), np.array(y, float))
    theirs = stats.ks_2samp(x, y, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.pvalue == pytest.approx(theirs.pvalue, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(samples, samples, st.data())
def test_integer_weights_are_replication_and_scale_free(x, y, data):
    wx = data.draw(st.lists(st.integers(1, 4), min_size=len(x), max_size=len(x)))
    wy = data.draw(st.lists(st.integers(1, 4), min_size=len(y), max_size=len(y)))
    weighted = weighted_ks_2samp(x, y, reference_weight=wx, current_weight=wy)
    replicated = weighted_ks_2samp(np.repeat(x, wx), np.repeat(y, wy))
    assert weighted.statistic == pytest.approx(replicated.statistic, abs=1e-12)
    scaled = weighted_ks_2samp(x, y, reference_weight=np.array(wx) * 7.5, current_weight=np.array(wy) / 3)
    assert scaled.statistic == pytest.approx(weighted.statistic, abs=1e-12)
    assert scaled.pvalue == pytest.approx(weighted.pvalue, abs=1e-12)


# ---- chi-square ------------------------------------------------------------------------------------------


def test_weighted_chi2_hand_worked():
    # counts [[2, 2], [1, 3]], expected [[1.5, 2.5], [1.5, 2.5]]:
    # 2 x 0.25/1.5 + 2 x 0.25/2.5 = 1/3 + 1/5 = 8/15
    res = weighted_chi2_2samp([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert res.statistic == pytest.approx(8 / 15)
    assert res.dof == 1
    assert res.pvalue == pytest.approx(stats.chi2.sf(8 / 15, 1))


def test_weighted_chi2_leaves_bins_empty_on_both_sides_out():
    res = weighted_chi2_2samp([0, 0, 1, 1], [0, 1, 1, 1], 5)
    assert res.dof == 1
    assert res.statistic == pytest.approx(8 / 15)
    same = weighted_chi2_2samp([2, 2], [2, 2, 2], 3)
    assert (same.statistic, same.pvalue, same.dof) == (0.0, 1.0, 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=2, max_size=50), st.lists(st.integers(0, 3), min_size=2,
                                                                       max_size=50))
def test_weighted_chi2_with_unit_weights_is_scipy(a, b):
    ours = weighted_chi2_2samp(a, b, 4)
    table = np.vstack([np.bincount(a, minlength=4), np.bincount(b, minlength=4)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        assert ours.pvalue == 1.0
        return
    theirs = stats.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-9, abs=1e-12)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-12)
    assert ours.dof == theirs.dof


def test_weighted_chi2_uses_effective_counts():
    # Same shares as the hand-worked case, but the current sample's weights are unequal: its Kish size
    # is (1+1+1+3)^2 / (1+1+1+9) = 3, so its effective counts are 3 x (1/6, 5/6) = (0.5, 2.5).
    res = weighted_chi2_2samp([0, 0, 1, 1], [0, 1, 1, 1], 2, current_weight=[1, 1, 1, 3])
    table = np.array([[2.0, 2.0], [0.5, 2.5]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert res.n_current == pytest.approx(3.0)
    assert res.statistic == pytest.approx(((table - expected) ** 2 / expected).sum())


# ---- multiple testing ------------------------------------------------------------------------------------


def test_benjamini_hochberg_hand_worked_with_missing():
    # sorted 0.01, 0.03, 0.04 of m = 3: 0.03, 0.045, 0.04 -> monotone from the top: 0.03, 0.04, 0.04
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03, np.nan]), [0.03, 0.04, 0.04, np.nan])
    assert adjust_pvalues([np.nan]).tolist() != [0.0]
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03], "by"),
                               stats.false_discovery_control([0.01, 0.04, 0.03], method="by"))
