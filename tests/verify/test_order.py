from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.verify import allocate_visits, expected_corrections, select_visits, visit_order


@pytest.fixture
def five() -> pd.DataFrame:
    # Worked by hand: p_wrong = 1 − p_eligible if selected, else p_eligible; gain = p_wrong × persons.
    #   A 4 persons, selected,  p_eligible .90 -> p_wrong .10, gain 0.40
    #   B 2 persons, not sel.,  p_eligible .45 -> p_wrong .45, gain 0.90
    #   C 6 persons, selected,  p_eligible .70 -> p_wrong .30, gain 1.80
    #   D 1 person,  not sel.,  p_eligible .05 -> p_wrong .05, gain 0.05
    #   E 2 persons, selected,  p_eligible .55 -> p_wrong .45, gain 0.90 (ties B: id decides)
    return pd.DataFrame({
        "household_id": ["A", "B", "C", "D", "E"],
        "household_size": [4, 2, 6, 1, 2],
        "selected": [True, False, True, False, True],
        "p_eligible": [0.90, 0.45, 0.70, 0.05, 0.55],
        "kecamatan": ["x", "y", "x", "y", "x"],
    })


def test_ordering_by_hand(five):
    np.testing.assert_allclose(expected_corrections(five), [0.4, 0.9, 1.8, 0.05, 0.9])
    assert list(five["household_id"].iloc[visit_order(five)]) == ["C", "B", "E", "A", "D"]
    chosen = select_visits(five, 3)
    assert list(chosen["household_id"]) == ["C", "B", "E"]
    assert list(chosen["rank"]) == [1, 2, 3]
    np.testing.assert_allclose(chosen["cumulative_expected_corrections"], [1.8, 2.7, 3.6])
    assert list(chosen["rank_in_kecamatan"]) == [1, 1, 2]


def test_per_kecamatan_floor_by_hand(five):
    # Floor 2: y gets B and D although A (x) has the larger gain than D.
    chosen = select_visits(five, 4, per_kecamatan=True, floor=2)
    assert sorted(chosen["household_id"]) == ["B", "C", "D", "E"]


def test_greedy_and_proportional_by_hand():
    # x: ten households worth 0.1 each (total 1.0); y: 0.9, 0.8, 0.01 (total 1.71); 4 visits, no floor.
    gain = np.r_[np.full(10, 0.1), [0.9, 0.8, 0.01]]
    kec = ["x"] * 10 + ["y"] * 3
    greedy = allocate_visits(gain, kec, 4, floor=0)
    assert greedy.to_dict() == {"x": 2, "y": 2}
    # Proportional: 4 x 1/2.71 = 1.48 -> 1, 4 x 1.71/2.71 = 2.52 -> 2, the last visit to the larger
    # remainder (y): it buys the 0.01 household instead of a 0.1 one.
    prop = allocate_visits(gain, kec, 4, floor=0, rule="proportional")
    assert prop.to_dict() == {"x": 1, "y": 3}
    # With a floor of one, every kecamatan gets its best household first.
    assert allocate_visits(gain, kec, 2, floor=1).to_dict() == {"x": 1, "y": 1}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 5), st.sampled_from("abcdef")), min_size=1, max_size=60),
    st.integers(0, 80),
    st.one_of(st.none(), st.integers(0, 6)),
    st.sampled_from(["greedy", "proportional"]),
)
def test_allocation_sums_to_the_budget_and_respects_sizes(rows, visits, floor, rule):
    gain = np.array([g for g, _ in rows])
    kec = np.array([k for _, k in rows], dtype=object)
    counts = allocate_visits(gain, kec, visits, floor=floor, rule=rule)
    assert counts.sum() == min(visits, len(rows))
    sizes = pd.Series(kec).value_counts()
    assert all(0 <= counts[k] <= sizes[k] for k in counts.index)
    if floor is not None and sum(min(floor, s) for s in sizes) <= visits:
        assert all(counts[k] >= min(floor, sizes[k]) for k in counts.index)
    frame = pd.DataFrame({"household_id": [f"h{i}" for i in range(len(rows))], "household_size": 1.0,
                          "p_other_side": np.minimum(gain / 5, 1), "kecamatan": kec})
    chosen = select_visits(frame, visits, per_kecamatan=True, floor=floor, rule=rule)
    assert len(chosen) == counts.sum() and chosen["household_id"].is_unique


def test_bad_probabilities_are_refused(five):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_corrections(five.assign(p_eligible=[0.1, 1.2, 0.3, 0.4, 0.5]))
    with pytest.raises(KeyError, match="p_other_side"):
        expected_corrections(five.drop(columns=["p_eligible"]))


def test_exclusion_weight_puts_the_poor_left_out_first(five):
    # Weight 3 on exclusions: B 0.9 -> 2.7, D 0.05 -> 0.15; C (selected) stays 1.8.
    np.testing.assert_allclose(expected_corrections(five, exclusion_weight=3), [0.4, 2.7, 1.8, 0.15, 0.9])
    assert list(select_visits(five, 2, exclusion_weight=3)["household_id"]) == ["B", "C"]
