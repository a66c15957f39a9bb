"""Community-based targeting: selection at a coverage per community."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.community import community_coverage, select_within_community


def _counts(selected, community):
    return pd.Series(selected).groupby(community).sum().to_dict()


def test_coverage_per_community_hand_worked():
    community = np.array(["A"] * 10 + ["B"] * 5)
    score = np.r_[np.arange(10.0), np.arange(5.0)]
    sel = select_within_community(score, community, 0.2)
    assert _counts(sel, community) == {"A": 2, "B": 1}
    assert sel[[0, 1, 10]].all() and sel.sum() == 3  # the poorest of each community
    # 0.3 x 5 = 1.5: halves round down (mid-point rule), 0.3 x 10 = 3 exactly.
    assert _counts(select_within_community(score, community, 0.3), community) == {"A": 3, "B": 1}
    per = select_within_community(score, community, {"A": 0.5, "B": 0.4})
    assert _counts(per, community) == {"A": 5, "B": 2}


def test_unranked_households_are_never_selected_and_take_no_share():
    community = np.array(["A"] * 4)
    score = np.array([0.1, np.nan, 0.5, 0.9])
    sel = select_within_community(score, community, 0.5)
    # Three ranked households: 0.5 x 3 = 1.5 -> one (the poorest).
    assert sel.tolist() == [True, False, False, False]


def test_weights_count_households_represented():
    sel = select_within_community([1.0, 2.0, 3.0], ["A"] * 3, 0.5, sample_weight=[3.0, 1.0, 1.0])
    # The poorest household is 60% of the community; its mid-point (0.3) is below 0.5.
    assert sel.tolist() == [True, False, False]


def test_coverage_errors():
    with pytest.raises(KeyError, match="no entry"):
        community_coverage({"A": 0.2}, ["A", "B"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        community_coverage(1.2, ["A"])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
def test_widening_coverage_never_drops_anyone_and_counts_follow_the_rule(sizes, low, high, seed):
    low, high = sorted((low, high))
    community = np.repeat(np.arange(len(sizes)), sizes)
    score = np.random.default_rng(seed).normal(size=community.size)
    a = select_within_community(score, community, low)
    b = select_within_community(score, community, high)
    assert not (a & ~b).any()
    for c, n in enumerate(sizes):  # i is selected iff (i - 0.5) / n < coverage
        expected = int(np.sum((np.arange(1, n + 1) - 0.5) / n < low))
        assert a[community == c].sum() == expected
