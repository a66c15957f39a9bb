"""A household scored alone (the request path's small-frame readers) and the same household inside a
large batch (the registry's vectorised readers) get the same inputs, problems and decisions, to the
last bit: the speed-ups of the one-household path may change no result."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from api.intake import validate_households
from targeting.survey.validate import SMALL_FRAME_ROWS
from tests.api.conftest import registry_households

AS_OF = date(2026, 6, 1)
#: Values a caller may send in any field: blanks, non-numbers, out of range, invisible characters,
#: spellings of yes/no and codes, numbers of every JSON type.
HOSTILE: list[Any] = ["", " ", "abc", "1e20", "-1", "4.5", "\u200bH1", "\u00a0", "ya", "TIDAK", "x" * 300,
                      "1234567890123456", "٤", None, True, False, 1e308, -0.0, 3.0, "0x10", "H\u202e01",
                      "a\tb", "Kota  Bangun", "İ", "nan", "inf", 7, "7.0"]


@pytest.fixture(scope="module")
def scorer() -> Any:
    from api.scoring import ModelScorer
    from targeting.shipped import default_model_dir

    # The shipped model: LightGBM with calibrated intervals, so every part of a decision is there.
    return ModelScorer(default_model_dir(), model_name="test", label="default", source="tests")


@pytest.fixture(scope="module")
def households() -> list[dict[str, Any]]:
    pool = registry_households(150, seed=11)
    rng = np.random.default_rng(5)
    keys = [k for k in pool[0] if k != "household_id"]
    out = []
    for i, h in enumerate(pool):
        h = copy.deepcopy(h)
        if i % 3 == 0:  # a third of them carry one to three hostile values
            for k in rng.choice(keys, size=int(rng.integers(1, 4)), replace=False):
                h[str(k)] = HOSTILE[int(rng.integers(len(HOSTILE)))]
        out.append(h)
    assert len(out) > SMALL_FRAME_ROWS  # the batch takes the vectorised readers
    return out


def _exact(obj: Any) -> str:
    """JSON with every float as its repr (so -0.0, 0.1 + 0.2 and NaN compare bit for bit)."""
    def walk(o: Any) -> Any:
        if isinstance(o, float):
            return f"float:{o!r}"
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [walk(v) for v in o]
        return o
    return json.dumps(walk(obj), sort_keys=True, default=repr)


def test_one_household_alone_and_in_a_batch_get_the_same_answer(scorer, households):
    batch = validate_households(households)
    batch_out = scorer.score(batch.data, lang="id", top_k=4, as_of=AS_OF)
    by_position = {int(p): i for i, p in enumerate(batch.positions)}
    assert 0 < len(by_position) < len(households)  # some accepted, some rejected
    for pos, h in enumerate(households):
        alone = validate_households([h])
        mine = [{**p, "index": pos} for p in batch.problems if p["index"] == pos]
        assert _exact([{**p, "index": pos} for p in alone.problems]) == _exact(mine)
        if pos not in by_position:
            assert len(alone.data) == 0
            continue
        i = by_position[pos]
        assert _exact(alone.inputs) == _exact([batch.inputs[i]])
        out = scorer.score(alone.data, lang="id", top_k=4, as_of=AS_OF)
        assert _exact(out) == _exact([batch_out[i]])


def test_rule_columns_are_the_rule_engines_trace(scorer, households):
    """The decisions' rule columns are `evaluate`'s trace, value for value (unknowns included)."""
    from targeting.decide import schema as s
    from targeting.eligibility import criterion_column, evaluate

    data = validate_households(households).data
    decisions = scorer.scorer.decide(data, top_k=4)
    trace = evaluate(data.frame, scorer.scorer.ruleset, as_of=scorer.scorer.as_of)
    table = decisions.table
    assert table[s.RULE_VERDICT].tolist() == trace["verdict"].astype(str).tolist()
    assert table[s.RULE_STAGE].tolist() == trace["stage"].astype(str).tolist()
    np.testing.assert_array_equal(table[s.RULE_N_MET].to_numpy(), trace["n_met"].to_numpy())
    np.testing.assert_array_equal(table[s.RULE_N_UNKNOWN].to_numpy(), trace["n_unknown"].to_numpy())
    for c in scorer.scorer.ruleset.criteria:
        name = criterion_column(c.id)
        pd.testing.assert_series_equal(table[name], trace[name], check_names=False, check_index=False)


def test_interval_groups_kept_as_arrays_are_the_frames_columns(households):
    """What the scorer keeps for the intervals is what reading `interval_groups`' frame gives."""
    from targeting.pmt.intervals import interval_group_arrays, interval_groups

    data = validate_households(households).data
    arrays = interval_group_arrays(data)
    frame = interval_groups(data)
    assert list(arrays) == frame.columns.tolist()
    for name, col in frame.items():
        read = col.to_numpy()
        assert arrays[name].dtype == read.dtype
        assert arrays[name].tolist() == read.tolist()
    population = data.population_weight.to_numpy(dtype=np.float64)
    product = data.weight.to_numpy(dtype=np.float64) * data.household_size.to_numpy(dtype=np.float64)
    assert product.tobytes() == population.tobytes()
