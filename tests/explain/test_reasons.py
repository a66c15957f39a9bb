"""Reason selection: direction by decision, sign rule, ties, fewer than k."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from targeting.explain import select_reasons


@pytest.mark.parametrize(
    ("contributions", "selected", "k", "min_abs", "expected"),
    [
        # selected: most negative first; positives never count
        ([-0.1, 0.5, -0.3, -0.2, 0.0], True, 2, 0.0, [2, 3]),
        # not selected: most positive first; negatives never count
        ([-0.1, 0.5, -0.3, 0.2, 0.0], False, 2, 0.0, [1, 3]),
        # fewer qualifying indicators than k: pad with -1 (zero is not a push)
        ([-0.1, 0.5, 0.0, 0.2], True, 3, 0.0, [0, -1, -1]),
        ([-0.1, -0.5, 0.0], False, 2, 0.0, [-1, -1]),
        # ties go to the indicator that comes first
        ([-0.2, -0.3, -0.2, -0.3], True, 3, 0.0, [1, 3, 0]),
        ([0.2, 0.2, 0.2], False, 2, 0.0, [0, 1]),
        # min_abs: a push must be larger than it
        ([-0.05, -0.02, -0.5], True, 3, 0.04, [2, 0, -1]),
        # k larger than the number of indicators
        ([0.3, 0.1], False, 4, 0.0, [0, 1, -1, -1]),
    ],
)
def test_reason_selection_table(
    contributions: list[float], selected: bool, k: int, min_abs: float, expected: list[int]
) -> None:
    out = select_reasons(np.array([contributions]), np.array([selected]), k, min_abs=min_abs)
    assert out.tolist() == [expected]


def test_each_household_gets_its_own_direction() -> None:
    values = np.array([[-0.2, 0.4], [-0.2, 0.4]])
    assert select_reasons(values, [True, False], 1).tolist() == [[0], [1]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values": np.zeros(3), "selected": [True]}, "2-d"),
        ({"values": np.zeros((2, 3)), "selected": [True]}, "1 entries for 2"),
        ({"values": np.zeros((1, 3)), "selected": [True], "top_k": 0}, "top_k"),
        ({"values": np.zeros((1, 3)), "selected": [True], "min_abs": -1.0}, "min_abs"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        select_reasons(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    values=arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 12)),
        elements=st.sampled_from([-0.3, -0.1, 0.0, 0.1, 0.2, -0.2, 0.3, 1e-9]),
    ),
    k=st.integers(1, 6),
    data=st.data(),
)
def test_matches_a_stable_sort_oracle(values: np.ndarray, k: int, data: st.DataObject) -> None:
    selected = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))))
    out = select_reasons(values, selected, k)
    strength = np.where(selected[:, None], -values, values)
    for i in range(len(values)):
        order = [int(j) for j in np.argsort(-strength[i], kind="stable") if strength[i, j] > 0][:k]
        assert out[i].tolist() == order + [-1] * (k - len(order))


@settings(max_examples=80, deadline=None)
@given(
    values=arrays(np.float64, st.tuples(st.integers(0, 40), st.integers(1, 45)),
                  elements=st.floats(-2, 2, allow_nan=False, width=32)),
    k=st.integers(1, 8),
    min_abs=st.sampled_from([0.0, 0.05, 0.5]),
    data=st.data(),
)
def test_matches_the_oracle_for_any_values_and_threshold(values, k, min_abs, data) -> None:
    selected = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))),
                        dtype=bool)
    out = select_reasons(values, selected, k, min_abs=min_abs)
    assert out.shape == (len(values), k)
    strength = np.where(selected[:, None], -values, values)
    for i in range(len(values)):
        order = [int(j) for j in np.argsort(-strength[i], kind="stable") if strength[i, j] > min_abs][:k]
        assert out[i].tolist() == order + [-1] * (k - len(order))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_contributions_are_refused(bad: float) -> None:
    values = np.array([[0.1, bad, -0.2]])
    with pytest.raises(ValueError, match="finite"):
        select_reasons(values, [True], 2)
