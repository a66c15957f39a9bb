from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from targeting.pmt import assign_deciles, load_programs
from targeting.pmt.borderline import (
    STATUSES,
    borderline,
    desil_boundaries,
    p_other_side,
    programme_cuts,
    share_cut,
    status,
)
from targeting.pmt.intervals import WelfareIntervals


def test_desil_boundaries_by_hand():
    pred = np.arange(1.0, 11.0)[::-1]  # one household per desil, given richest first
    np.testing.assert_array_equal(desil_boundaries(pred), np.arange(1.5, 10.0))


def test_adjacent_predictions_still_get_a_separating_boundary():
    # 1.0 and the next float have no midpoint; the boundary must still put 1.0 below it.
    pred = np.array([1.0, np.nextafter(1.0, 2.0)])
    b = desil_boundaries(pred, n_groups=2)
    assert pred[0] < b[0] <= pred[1]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=12, max_size=80, unique=True),
    st.integers(0, 10**6),
)
def test_prediction_below_a_boundary_is_exactly_the_lower_desils(values, seed):
    pred = np.asarray(values)
    pop = np.random.default_rng(seed).integers(1, 8, pred.size).astype(float)
    b = desil_boundaries(pred, pop)
    desil = assign_deciles(pred, pop)
    for d in range(1, 10):
        if np.isfinite(b[d - 1]):
            np.testing.assert_array_equal(pred < b[d - 1], desil <= d)


def test_programme_cuts_from_the_shipped_programmes():
    b = np.arange(1.5, 10.0)
    cuts = programme_cuts(b, load_programs().programs)
    assert cuts["pkh"] == (-np.inf, 4.5)
    assert cuts["sembako"] == (-np.inf, 5.5)


def test_status_and_p_other_side_by_hand():
    low = np.array([0.0, 0.0, 2.0, 1.0, 0.5])
    high = np.array([0.9, 1.5, 3.0, 1.2, 0.9])
    got = status(low, high, 1.0)
    assert list(got) == ["clearly_in", "borderline", "clearly_out", "clearly_out", "clearly_in"]
    assert list(got.categories) == list(STATUSES)
    # A range programme (desil 2..4 between cuts 0.6 and 1.0): the last one now straddles 0.6.
    assert list(status(low, high, (0.6, 1.0)))[-1] == "borderline"
    np.testing.assert_allclose(p_other_side([0.9, 0.9, 0.2], [True, False, False]), [0.1, 0.9, 0.2])


@pytest.fixture(scope="module")
def normal_cal() -> WelfareIntervals:
    r = norm.ppf((np.arange(100_000) + 0.5) / 100_000) * 0.4  # an exact N(0, 0.4) sample
    return WelfareIntervals(()).fit(r)


def test_share_cut_with_identical_households_is_the_normal_quantile(normal_cal):
    pred = np.zeros(1000)
    c = share_cut(normal_cal, pred, None, 0.4)
    assert c == pytest.approx(0.4 * norm.ppf(0.4), abs=2e-3)


def test_share_cut_matches_the_true_population_quantile():
    rng = np.random.default_rng(7)
    n = 200_000
    g = pd.DataFrame({"urban": rng.random(n) < 0.4})
    sd = np.where(g["urban"], 0.25, 0.5)
    cal = WelfareIntervals([("urban",)]).fit(rng.normal(0, sd), g)
    pred = rng.normal(0, 0.5, n)
    pop = rng.integers(1, 7, n).astype(float)
    y = pred + rng.normal(0, sd)
    c = share_cut(cal, pred, g, 0.4, pop)
    order = np.argsort(y)
    truth = y[order][np.searchsorted(np.cumsum(pop[order]), 0.4 * pop.sum())]
    assert c == pytest.approx(truth, abs=0.01)
    # The predicted 40th percentile is higher: predictions are less dispersed than welfare.
    assert desil_boundaries(pred, pop)[3] > c + 0.02


def test_borderline_table_is_consistent(normal_cal):
    pred = np.linspace(-1.5, 1.5, 301)
    cut = 0.0
    selected = pred < cut
    t = borderline(normal_cal, pred, None, cut, selected, level=0.9)
    assert list(t.columns) == ["interval_low", "interval_high", "p_eligible", "p_other_side", "status"]
    # At the cut the decision is a coin flip; the interval is ±1.645 sd wide.
    mid = np.argmin(np.abs(pred))
    assert t["p_eligible"][mid] == pytest.approx(0.5, abs=0.01)
    assert t["interval_high"][mid] - t["interval_low"][mid] == pytest.approx(2 * 1.645 * 0.4, rel=0.01)
    clearly_in = (t["status"] == "clearly_in").to_numpy()
    clearly_out = (t["status"] == "clearly_out").to_numpy()
    assert np.all(t["p_eligible"][clearly_in] >= 0.95 - 0.005)
    assert np.all(t["p_eligible"][clearly_out] <= 0.05 + 0.005)
    # Borderline exactly where the 90 % interval straddles the cut: |pred| < 1.645 x 0.4.
    border = (t["status"] == "borderline").to_numpy()
    np.testing.assert_array_equal(border[np.abs(np.abs(pred) - 0.658) > 0.01],
                                  (np.abs(pred) < 0.658)[np.abs(np.abs(pred) - 0.658) > 0.01])
    assert np.all(t["p_other_side"] <= 0.5 + 0.01)  # selected by the same cut: never worse than a coin
    # A programme open at the top selects everyone with certainty.
    everyone = borderline(normal_cal, pred, None, np.inf, np.ones(pred.size, bool))
    assert np.all(everyone["p_eligible"] == 1.0) and set(everyone["status"]) == {"clearly_in"}
