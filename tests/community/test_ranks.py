"""Within-community rank percentiles, consensus of several informants, direction check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.community import (
    RankSpec,
    community_percentiles,
    consensus_percentile,
    direction_check,
    rank_percentiles,
)


@pytest.mark.parametrize(
    ("ranks", "poorer", "weights", "expected"),
    [
        ([1, 2, 3], "low", None, [1 / 6, 1 / 2, 5 / 6]),
        ([1, 2, 3], "high", None, [5 / 6, 1 / 2, 1 / 6]),
        # Ties share the mid-point of their slice: two households tied first hold 2/3 of the community.
        ([1, 1, 3], "low", None, [1 / 3, 1 / 3, 5 / 6]),
        # Weighted: the middle household represents two, (below + half own) / total.
        ([1, 2, 3], "low", [1, 2, 1], [0.5 / 4, 2 / 4, 3.5 / 4]),
        # A missing rank stays missing and takes no share of the community.
        ([1, np.nan, 3], "low", None, [0.25, np.nan, 0.75]),
        # Only the order counts, not the numbers (a community ranked out of 381 households).
        ([28, 39, 381], "high", None, [5 / 6, 1 / 2, 1 / 6]),
    ],
)
def test_rank_percentiles_hand_worked(ranks, poorer, weights, expected):
    out = rank_percentiles(np.array(ranks, dtype=float), ["a"] * 3, poorer=poorer, sample_weight=weights)
    np.testing.assert_allclose(out, expected, equal_nan=True)


def test_each_community_is_ranked_on_its_own():
    ranks = np.array([1, 2, 1, 2, 3])
    community = ["a", "a", "b", "b", "b"]
    np.testing.assert_allclose(
        rank_percentiles(ranks, community, poorer="low"), [0.25, 0.75, 1 / 6, 1 / 2, 5 / 6]
    )


def test_community_given_by_several_columns_is_their_combination():
    frame = pd.DataFrame({"community": ["1", "1", "1", "1"], "year": [2008, 2008, 2009, 2009]})
    out = rank_percentiles(np.array([1.0, 2, 2, 1]), frame, poorer="low")
    np.testing.assert_allclose(out, [0.25, 0.75, 0.75, 0.25])


def test_consensus_averages_informants_and_ranks_again():
    pct = rank_percentiles(np.array([[1, 2], [2, 1], [3, 3]], dtype=float), ["a"] * 3, poorer="low")
    # Means 1/3, 1/3, 5/6: the first two tie, so they share the first two thirds.
    np.testing.assert_allclose(consensus_percentile(pct, ["a"] * 3), [1 / 3, 1 / 3, 5 / 6])


def test_consensus_uses_the_informants_a_household_has():
    pct = np.array([[0.1, np.nan], [0.5, 0.9], [np.nan, np.nan]])
    out = consensus_percentile(pct, ["a"] * 3)
    # Means 0.1 and 0.7; the unranked household is missing and takes no share.
    np.testing.assert_allclose(out, [0.25, 0.75, np.nan], equal_nan=True)
    strict = consensus_percentile(pct, ["a"] * 3, min_rankings=2)
    np.testing.assert_allclose(strict, [np.nan, 0.5, np.nan], equal_nan=True)


def test_community_percentiles_reads_text_columns_of_a_frame():
    frame = pd.DataFrame({
        "informant1": ["3", "1", "2"], "informant2": ["3", "2", "1"], "village": ["v", "v", "v"],
    })
    role = {"columns": ["informant1", "informant2"], "community": "village", "poorer": "high"}
    spec = RankSpec.from_mapping(role)
    out = community_percentiles(frame, spec)
    assert list(out.columns) == ["informant1", "informant2", "consensus"]
    np.testing.assert_allclose(out["informant1"], [1 / 6, 5 / 6, 1 / 2])
    assert out["consensus"].iloc[0] == pytest.approx(1 / 6)  # poorest for both informants


def test_rank_spec_is_checked():
    with pytest.raises(ValueError, match="poorer"):
        RankSpec(("r",), ("c",), "poorest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rank column"):
        RankSpec((), ("c",), "low")
    with pytest.raises(KeyError, match="not in the data"):
        community_percentiles(pd.DataFrame({"r": [1]}), RankSpec(("r",), ("c",), "low"))


def test_missing_community_label_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        rank_percentiles(np.array([1.0, 2.0]), pd.Series(["a", None]), poorer="low")


def test_direction_check_is_positive_only_for_the_right_direction():
    rng = np.random.default_rng(0)
    community = np.repeat(np.arange(20), 15)
    welfare = np.exp(rng.normal(size=community.size))
    rank_low_is_poor = pd.Series(welfare + rng.normal(0, 0.5, community.size)).groupby(community).rank()
    right = rank_percentiles(rank_low_is_poor.to_numpy(), community, poorer="low")
    wrong = rank_percentiles(rank_low_is_poor.to_numpy(), community, poorer="high")
    good = direction_check(right, welfare, community)
    assert good > 0.5
    assert direction_check(wrong, welfare, community) == pytest.approx(-good)


@settings(max_examples=60, deadline=None)
@given(
    ranks=st.lists(st.integers(1, 8), min_size=1, max_size=30),
    n_comm=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_percentile_invariants(ranks, n_comm, seed):
    r = np.array(ranks, dtype=float)
    rng = np.random.default_rng(seed)
    community = rng.integers(0, n_comm, r.size)
    out = rank_percentiles(r, community, poorer="low")
    assert np.all((out > 0) & (out < 1))
    for c in np.unique(community):  # unit weights: mid-ranks average one half in every community
        assert out[community == c].mean() == pytest.approx(0.5)
    # A monotone transform of the ranks and a shuffle of the rows change nothing.
    np.testing.assert_allclose(rank_percentiles(np.exp(r), community, poorer="low"), out)
    perm = rng.permutation(r.size)
    np.testing.assert_allclose(rank_percentiles(r[perm], community[perm], poorer="low"), out[perm])
    # Reversing the direction mirrors the percentiles.
    np.testing.assert_allclose(rank_percentiles(r, community, poorer="high"), 1 - out)
