"""Ranks of new households against the stored reference distribution (hand-worked cases)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import ModelIntegrityError
from targeting.pmt.ranking import assign_deciles, population_shares
from targeting.pmt.reference import Reference, load_reference, reference_from_predictions, save_reference


def test_ten_equal_households_by_hand() -> None:
    # Reference 1..10, one person each: household i sits at (i - 0.5) / 10.
    ref = Reference.from_dict(reference_from_predictions(np.arange(1.0, 11.0), np.ones(10)))
    position, desil = ref.national.rank([0.5, 1.0, 2.5, 3.0, 10.0, 11.0])
    # 2.5 has 2 of 10 people below it and none tied: 0.2, the first position of desil 3.
    assert position.tolist() == pytest.approx([0.0, 0.05, 0.2, 0.25, 0.95, 1.0])
    assert desil.tolist() == [1, 1, 3, 3, 10, 10]


def test_weights_count_people() -> None:
    # The poorer household represents 3 people, the richer one 1: mid-points 3/8 and 7/8.
    ref = Reference.from_dict(reference_from_predictions([1.0, 2.0], [3.0, 1.0]))
    position, desil = ref.national.rank([1.0, 2.0, 1.5])
    assert position.tolist() == pytest.approx([0.375, 0.875, 0.75])
    assert desil.tolist() == [4, 9, 8]


def test_rescoring_the_reference_reproduces_the_survey_ranking() -> None:
    rng = np.random.default_rng(3)
    pred, w = rng.normal(13.0, 0.5, 1500), rng.uniform(1, 6, 1500)
    region = rng.choice(["tabang", "tenggarong", "samboja"], 1500)
    ref = Reference.from_dict(reference_from_predictions(pred, w, region))
    position, desil = ref.national.rank(pred)
    np.testing.assert_allclose(position, population_shares(pred, w), atol=1e-12)
    np.testing.assert_array_equal(desil, assign_deciles(pred, w))
    r_pos, r_desil, known = ref.rank_regional(pred, region)
    assert known.all()
    np.testing.assert_allclose(r_pos, population_shares(pred, w, by=region), atol=1e-12)
    np.testing.assert_array_equal(r_desil, assign_deciles(pred, w, by=region))


def test_small_or_unknown_regions_get_no_regional_rank() -> None:
    pred = np.arange(40.0)
    region = np.array(["big"] * 35 + ["small"] * 5)
    ref = Reference.from_dict(reference_from_predictions(pred, np.ones(40), region))
    assert sorted(ref.regions) == ["big"]
    _, _, known = ref.rank_regional(np.array([1.0, 1.0, 1.0]), np.array(["big", "small", "elsewhere"]))
    assert known.tolist() == [True, False, False]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30),
       st.floats(-6, 6, allow_nan=False), st.floats(-6, 6, allow_nan=False))
def test_rank_is_monotone_and_bounded(values: list[float], a: float, b: float) -> None:
    ref = Reference.from_dict(reference_from_predictions(values, np.ones(len(values))))
    (pa, pb), (da, db) = ref.national.rank([min(a, b), max(a, b)])
    assert 0.0 <= pa <= pb <= 1.0
    assert 1 <= da <= db <= 10


def test_round_trip_and_integrity(tmp_path: Path) -> None:
    save_reference(reference_from_predictions([1.0, 2.0, 3.0], [1.0, 1.0, 2.0]), tmp_path)
    loaded = load_reference(tmp_path)
    assert loaded.national.rank([2.0])[0].tolist() == pytest.approx([0.375])
    assert len(loaded.sha256) == 64
    with pytest.raises(ModelIntegrityError, match="no reference distribution"):
        load_reference(tmp_path / "elsewhere")
    (tmp_path / "reference.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ModelIntegrityError, match="schema_version 99"):
        load_reference(tmp_path)


@pytest.mark.parametrize(
    ("pred", "weight"), [([], []), ([1.0], [0.0]), ([np.nan], [1.0]), ([1.0], [1.0, 2.0])]
)
def test_bad_inputs_are_refused(pred: list[float], weight: list[float]) -> None:
    with pytest.raises(ValueError):
        reference_from_predictions(pred, weight)
