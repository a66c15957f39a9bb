"""Decisions keep their table's columns as arrays: what is read from them is what the frame gives."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from targeting._frames import python_values
from targeting.decide.scorer import Decisions, _strings
from targeting.decide.selection import Selection
from targeting.pmt.programs import load_programs, program_eligibility, program_flags
from targeting.shipped import default_model_dir


@pytest.fixture(scope="module")
def scored():
    from api.intake import validate_households
    from api.scoring import ModelScorer
    from tests.api.conftest import registry_households

    households = registry_households(150, seed=11)
    # Hostile values: rejected households must not change the others' decisions.
    households[3]["household_size"] = "abc"
    households[5]["floor_area_m2"] = -5
    households[7]["household_id"] = ""
    households[9]["roof_material"] = "zzz"
    service = ModelScorer(default_model_dir(), model_name="t", label="t", source="tests")
    return service, households, validate_households


def _as_series(decisions: Decisions) -> Decisions:
    """The same decisions with every column read back from the built table (the former reader's input)."""
    return Decisions(dict(decisions.table.items()), decisions.reason_index, decisions.reason_value,
                     decisions.region_column)


def test_records_from_arrays_are_the_records_from_the_table(scored):
    service, households, validate = scored
    intake = validate(households)
    decisions = service.scorer.decide(intake.data, top_k=4)
    assert len(decisions) == len(decisions.table) == len(intake.data)
    for lang in ("id", "en"):
        new = service.scorer.records(decisions, lang=lang)
        old = service.scorer.records(_as_series(decisions), lang=lang)
        assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)  # floats to the bit
    assert list(decisions.table.columns) == list(decisions.columns)


def test_one_household_alone_is_decided_as_inside_the_batch(scored):
    service, households, validate = scored
    batch = validate(households)
    together = service.score(batch.data, lang="id", top_k=4, as_of=date.today())
    for pos in (0, 20, 149):
        alone = validate([households[pos]])
        assert not alone.problems
        i = int(np.flatnonzero(batch.positions == pos)[0])
        assert alone.inputs[0] == batch.inputs[i]
        assert json.dumps(service.score(alone.data, lang="id", top_k=4, as_of=date.today())[0],
                          sort_keys=True) == json.dumps(together[i], sort_keys=True)


def test_program_flags_are_program_eligibility_and_select_the_same():
    config = load_programs()
    desil = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 1])
    flags = program_flags(desil, config)
    table = program_eligibility(desil, config)
    assert list(flags) == list(table.columns)
    for pid, v in flags.items():
        assert v.dtype == bool and np.array_equal(v, table[pid].to_numpy())
    for sel in (Selection(), Selection(desil_max=3), *(Selection(program=p) for p in config.programs)):
        picked = sel.select(desil, flags)
        assert np.array_equal(picked, sel.select(desil, table))
        assert all(picked is not v for v in flags.values())  # never a programme's own column


@pytest.mark.parametrize("column", [
    np.array(["eligible", "not_eligible"], dtype=object),
    np.array(["a", None], dtype=object),
    np.array([1.5, np.nan]),
    pd.Categorical(["x", None]),
    pd.Categorical(["likely", "borderline", "likely"]),  # texts, none missing: read by code
    pd.Categorical([1, 2, 1]),  # not texts: the Series expression
    pd.array(["a", None], dtype="string"),
])
def test_column_readers_are_the_series_expressions(column):
    expected = pd.Series(column).astype(str).tolist()
    got = _strings(column)
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("column", [
    pd.array([True, None, False], dtype="boolean"),
    np.array([True, False]),
    np.array([1.0, np.nan]),
])
def test_object_reader_is_the_series_expression(column):
    expected = pd.Series(column).to_numpy(dtype=object, na_value=None).tolist()
    assert python_values(column) == expected
