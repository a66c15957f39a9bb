from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.audit.metrics import exclusion_error_rate, inclusion_error_rate
from targeting.audit.ranking import decile_confusion, targeting_curve, welfare_deciles
from tests.audit.factory import make_decisions


def households(frame):
    """Hand-worked numbers here count households (survey weight only), not persons."""
    from targeting.audit.decisions import AuditData

    return AuditData.from_frame(frame, unit="household")


def test_true_deciles_hold_equal_population_shares():
    rng = np.random.default_rng(0)
    welfare = rng.lognormal(13, 0.5, 5000)
    w = rng.uniform(1, 3, 5000)
    size = rng.integers(1, 7, 5000).astype(float)
    d = welfare_deciles(welfare, w, size)
    shares = np.bincount(d, weights=w * size, minlength=11)[1:] / (w * size).sum()
    np.testing.assert_allclose(shares, 0.1, atol=0.003)
    assert d[np.argmin(welfare)] == 1 and d[np.argmax(welfare)] == 10


def test_decile_confusion_is_diagonal_for_a_perfect_model():
    frame = make_decisions(1000, seed=4)
    frame["predicted_welfare"] = frame["welfare_true"]
    frame["desil"] = welfare_deciles(
        frame["welfare_true"].to_numpy(),
        frame["weight"].to_numpy(),
        frame["household_size"].to_numpy(dtype=float),
    )
    table = decile_confusion(frame)
    assert table.shape == (10, 10)
    persons = (frame["weight"] * frame["household_size"]).sum()
    assert table.to_numpy().sum() == pytest.approx(persons)
    assert np.trace(table.to_numpy()) == pytest.approx(table.to_numpy().sum())


def test_decile_confusion_without_welfare_is_empty():
    assert decile_confusion(make_decisions(100, truth=False)).to_numpy().sum() == 0


def test_curve_matches_the_metrics_at_an_exact_cut():
    frame = make_decisions(200, seed=8)
    frame["weight"] = 1.0
    curve = targeting_curve(households(frame), points=201)  # coverage steps of 1/200 = one household
    order = np.argsort(frame["predicted_welfare"].to_numpy(), kind="stable")
    poor = frame["poor_true"].to_numpy(dtype=bool)
    for k in (20, 50, 120):
        sel = np.zeros(200, dtype=bool)
        sel[order[:k]] = True
        row = curve.iloc[k]
        assert row["coverage"] == pytest.approx(k / 200)
        assert row["exclusion_error"] == pytest.approx(exclusion_error_rate(poor, sel))
        assert row["inclusion_error"] == pytest.approx(inclusion_error_rate(poor, sel))
    poverty = poor.mean()
    at_poverty = np.interp(poverty, curve["coverage"], curve["poor_coverage_perfect"])
    assert at_poverty == pytest.approx(1.0)
    assert curve["poor_coverage"].iloc[-1] == pytest.approx(1.0)


def test_curve_without_truth_is_empty():
    assert targeting_curve(make_decisions(50, truth=False)).empty


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_curve_is_monotone_and_below_the_perfect_one(seed):
    frame = make_decisions(120, seed=seed)
    curve = targeting_curve(households(frame), points=41)
    assert np.all(np.diff(curve["poor_coverage"]) >= -1e-12)
    assert np.all(curve["poor_coverage"] <= curve["poor_coverage_perfect"] + 1e-9)
    assert curve["poor_coverage"].between(0, 1).all()
