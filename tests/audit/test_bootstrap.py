from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.audit import bootstrap as bs
from targeting.audit.metrics import (
    auc_weighted,
    cgh_indicator,
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    poor_coverage_rate,
    spearman_weighted,
    targeting_differential,
)

RATES = {
    "exclusion_error": exclusion_error_rate,
    "inclusion_error": inclusion_error_rate,
    "inclusion_error_nonpoor": inclusion_error_rate_nonpoor,
    "coverage": coverage_rate,
    "poor_coverage": poor_coverage_rate,
    "targeting_differential": targeting_differential,
}


@pytest.fixture
def sample():
    rng = np.random.default_rng(3)
    n = 400
    welfare = np.round(rng.lognormal(13.5, 0.5, n), -4)  # rounded: many ties
    pred = np.round(welfare * rng.lognormal(0, 0.4, n), -4)
    poor = welfare < np.quantile(welfare, 0.3)
    sel = pred < np.quantile(pred, 0.25)
    weight = rng.uniform(10, 90, n)
    size = rng.integers(1, 8, n).astype(float)
    W = next(bs.replicate_blocks(weight, n_boot=6, seed=1))
    return welfare, pred, poor, sel, weight, size, W


def test_rate_kernel_equals_metric_functions_on_every_replicate(sample):
    _, _, poor, sel, _, _, W = sample
    cells = bs.code_sums(W, bs.onehot(bs.confusion_codes(poor, sel, np.ones_like(poor)), bs.N_CELLS))
    rates = bs.rates_from_cells(cells)
    for r in range(W.shape[0]):
        for name, fn in RATES.items():
            assert rates[name][r] == pytest.approx(fn(poor, sel, sample_weight=W[r]), rel=1e-12)


def test_unknown_truth_cell_is_ignored(sample):
    _, _, poor, sel, weight, _, _ = sample
    known = np.arange(poor.size) % 3 > 0
    cells = bs.code_sums(weight[None, :], bs.onehot(bs.confusion_codes(poor, sel, known), bs.N_CELLS))
    got = bs.rates_from_cells(cells)["exclusion_error"][0]
    assert got == pytest.approx(exclusion_error_rate(poor[known], sel[known], sample_weight=weight[known]))


def test_rank_kernels_equal_metric_functions(sample):
    welfare, pred, poor, sel, _, size, W = sample
    sp = bs.spearman_block(W, bs.tie_groups(welfare), bs.tie_groups(pred))
    auc = bs.auc_block(W, poor, bs.tie_groups(pred))
    benefits = np.stack([sel, poor]).astype(float)
    cgh = bs.cgh_block(W, bs.tie_groups(welfare), benefits, size, 0.4)
    for r in range(W.shape[0]):
        assert sp[r] == pytest.approx(spearman_weighted(welfare, pred, sample_weight=W[r]), rel=1e-10)
        assert auc[r] == pytest.approx(auc_weighted(poor, pred, sample_weight=W[r]), rel=1e-10)
        for j in range(2):
            expected = cgh_indicator(
                welfare, benefits[j], sample_weight=W[r], household_size=size, bottom_share=0.4
            )
            assert cgh[r, j] == pytest.approx(expected, rel=1e-10)


def test_replicates_do_not_depend_on_block_size():
    weight = np.linspace(1, 2, 50)
    one = np.concatenate(list(bs.replicate_blocks(weight, n_boot=7, seed=5, max_block_cells=10_000)))
    small = list(bs.replicate_blocks(weight, n_boot=7, seed=5, max_block_cells=100))
    assert [b.shape[0] for b in small] == [2, 2, 2, 1]
    np.testing.assert_array_equal(one, np.concatenate(small))
    other = np.concatenate(list(bs.replicate_blocks(weight, n_boot=7, seed=6)))
    assert not np.array_equal(one, other)


def test_cluster_bootstrap_resamples_whole_clusters():
    weight = np.array([2.0, 2.0, 3.0, 3.0, 3.0, 5.0])
    cluster = np.array(["x", "x", "y", "y", "y", "z"])
    W = np.concatenate(list(bs.replicate_blocks(weight, n_boot=50, seed=0, cluster=cluster)))
    mult = W / weight
    assert np.all(mult[:, 0] == mult[:, 1])
    assert np.all((mult[:, 2] == mult[:, 3]) & (mult[:, 3] == mult[:, 4]))
    assert not np.all(mult[:, 0] == mult[:, 5])


def test_percentile_interval_all_nan_column_is_nan_without_warning():
    reps = np.array([[0.1, np.nan], [0.3, np.nan], [0.2, np.nan]])
    low, high = bs.percentile_interval(reps, 0.5)
    assert low[0] == pytest.approx(0.15) and high[0] == pytest.approx(0.25)
    assert np.isnan(low[1]) and np.isnan(high[1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=5, max_size=5).map(lambda c: np.array([c])))
def test_rates_stay_in_unit_interval(cells):
    cells = np.concatenate([cells, np.zeros((1, 0))], axis=1)
    for name, value in bs.rates_from_cells(cells).items():
        v = value[0]
        low = -1.0 if name == "targeting_differential" else 0.0
        assert np.isnan(v) or low - 1e-12 <= v <= 1 + 1e-12


def test_rank_kernels_on_multipliers_and_rows_equal_the_weighted_form(sample):
    """The engine's path (multipliers of every household, the family's rows and weights) = W[:, rows] * w."""
    welfare, pred, poor, sel, weight, size, _ = sample
    M = np.concatenate(list(bs.replicate_blocks(np.ones(poor.size), n_boot=5, seed=9)))
    rows = np.flatnonzero(np.arange(poor.size) % 4 > 0)
    W = M[:, rows] * weight[rows]
    tg, pg = bs.tie_groups(welfare[rows]), bs.tie_groups(pred[rows])
    w = weight[rows]
    np.testing.assert_array_equal(bs.spearman_block(M, tg, pg, rows=rows, weight=w),
                                  bs.spearman_block(W, tg, pg))
    np.testing.assert_array_equal(bs.auc_block(M, poor[rows], pg, rows=rows, weight=w),
                                  bs.auc_block(W, poor[rows], pg))
    ben = np.stack([sel[rows], poor[rows]]).astype(float)
    np.testing.assert_array_equal(bs.cgh_block(M, tg, ben, size[rows], 0.4, rows=rows, weight=w),
                                  bs.cgh_block(W, tg, ben, size[rows], 0.4))
    # And the numpy mid-ranks the compiled Spearman stands for.
    ref = bs._weighted_corr_rows(bs._midranks(W, *tg), bs._midranks(W, *pg), W)
    np.testing.assert_allclose(bs.spearman_block(W, tg, pg), ref, rtol=1e-12)


def test_unit_multipliers_are_the_expanded_blocks():
    weight = np.array([2.0, 2.0, 3.0, 3.0, 3.0, 5.0])
    cluster = np.array(["y", "y", "x", "x", "x", "z"])
    blocks = list(bs.replicate_blocks(weight, n_boot=9, seed=4, cluster=cluster, max_block_cells=24))
    units = list(bs.replicate_multipliers(6, n_boot=9, seed=4, cluster=cluster, max_block_cells=24))
    assert len(blocks) == len(units) == 3
    for W, (mult, unit_of) in zip(blocks, units, strict=True):
        assert unit_of.tolist() == [1, 1, 0, 0, 0, 2]  # units numbered in sorted order of the cluster values
        np.testing.assert_array_equal(W, mult[:, unit_of] * weight)
        sums = bs.unit_sums(weight, np.array([0, 1, 0, 1, 1, 0]), 2, unit_of)
        onehot = bs.onehot(np.array([0, 1, 0, 1, 1, 0]), 2).toarray()
        np.testing.assert_allclose(mult @ sums.toarray(), W @ onehot)


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30),
       st.floats(0.01, 0.99))
@settings(max_examples=60, deadline=None)
def test_percentile_interval_is_numpys_nanquantile(values, confidence):
    import warnings

    rng = np.random.default_rng(len(values))
    reps = np.array(values)[:, None].repeat(3, axis=1)
    reps[rng.random(reps.shape) < 0.3] = np.nan
    low, high = bs.percentile_interval(reps, confidence)
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(reps, [alpha, 1 - alpha], axis=0)
    np.testing.assert_array_equal(low, expected[0])
    np.testing.assert_array_equal(high, expected[1])
