"""Invariants on random data: a survey against itself never drifts; round identities always hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from targeting.drift import DriftThresholds, compare_rounds, indicator_drift

from .factory import survey


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["earth", "tile", None]), st.integers(1, 6) | st.just(None),
                          st.sampled_from([0.0, 1.0]), st.floats(0.1, 10)), min_size=1, max_size=40))
def test_a_survey_compared_with_itself_has_no_drift(rows):
    floor, rooms, tv, w = zip(*rows, strict=True)
    data = survey("s", floor=floor, rooms=[np.nan if r is None else r for r in rooms], tv=tv, weight=w)
    res = indicator_drift(data, data, thresholds=DriftThresholds(numeric_bins=4))
    assert (res.table["psi"] == 0).all()
    assert (res.table["flag"] == "stable").all()
    assert ((res.bins["reference_share"] - res.bins["current_share"]).abs() == 0).all()
    # every bin's shares sum to one on each side (missing included)
    sums = res.bins.groupby("indicator")[["reference_share", "current_share"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)


def _round(ids, rng):
    n = len(ids)
    desil = rng.integers(1, 11, n)
    return pd.DataFrame({
        "household_id": ids, "weight": rng.uniform(0.5, 3, n), "household_size": rng.integers(1, 8, n),
        "desil": desil, "program_pkh": desil <= 4, "program_sembako": desil <= 5,
        "kecamatan": rng.choice(["a", "b", "c"], n),
    })


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 2**31),
       st.sampled_from(["count", "household", "person"]), st.sampled_from(["current", "previous"]))
def test_round_identities(n_both, n_gone, n_new, seed, unit, weight_from):
    assume(n_both + n_gone + n_new > 0)  # grouped flows of nobody have no rows to check
    rng = np.random.default_rng(seed)
    both = [f"h{i}" for i in range(n_both)]
    prev = _round(both + [f"g{i}" for i in range(n_gone)], rng)
    cur = _round(both + [f"n{i}" for i in range(n_new)], rng).sample(frac=1, random_state=seed % 1000)
    cmp = compare_rounds(prev, cur, unit=unit, weight_from=weight_from, by="kecamatan")
    assert cmp.presence_counts() == {"both": n_both, "previous_only": n_gone, "current_only": n_new}
    assert len(cmp.links) == n_both + n_gone + n_new  # nobody dropped
    # the matrix holds every household once
    assert int(cmp.transitions_count.to_numpy().sum()) == len(cmp.links)
    f = cmp.flows
    for s in ("", "_weighted"):
        np.testing.assert_allclose(f[f"in_previous{s}"], f[f"stayed{s}"] + f[f"left{s}"] + f[f"gone{s}"])
        np.testing.assert_allclose(f[f"in_current{s}"], f[f"stayed{s}"] + f[f"entered{s}"] + f[f"new_in{s}"])
    # by-kecamatan flows add up to the programme's
    totals = f.groupby("program")[["in_previous", "in_current", "left"]].sum()
    assert totals.loc["pkh", "in_previous"] == int(prev["program_pkh"].sum())
    assert totals.loc["pkh", "in_current"] == int(cur["program_pkh"].sum())
    # a household leaves sembako (desil 1-5) only if it also leaves or was never in pkh (desil 1-4)
    left = set(cmp.leavers.loc[cmp.leavers["program"] == "sembako", "household_id"])
    assert len(left) == int(f.loc[f["program"] == "sembako", "left"].sum())
