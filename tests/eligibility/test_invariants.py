"""Hypothesis invariants of the rule engine.

- Meeting one more criterion never turns an eligible household ineligible (nor lowers its verdict).
- A household without shelter is always eligible under Kepmensos 262/2022, whatever else it answers.
- An unknown is never counted as met, and filling in missing answers never changes a verdict
  that was already decided (three-valued logic is sound).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.eligibility import criterion_column, evaluate, load_ruleset
from targeting.eligibility._contract import contract_fields
from targeting.eligibility._evaluate import Tri, decide

AS_OF = {
    "kepmensos_262_2022": date(2024, 6, 30),
    "kepmensos_146_2013": date(2021, 6, 30),
    "bps_14_2005": date(2008, 6, 30),
}
RANK = {"not_eligible": 0, "unknown": 1, "eligible": 2}

# The answers that make each criterion met, touching only fields no other criterion of the same
# rule set reads.
MAKE_MET: dict[str, dict[str, dict[str, Any]]] = {
    "kepmensos_262_2022": {
        "no_shelter": {"has_shelter": False},
        "a": {"head_employment": "not_working"},
        "b": {"food_insecure_12m": True},
        "c": {"food_share": 0.9},
        "d": {"bought_clothes_last_year": False},
        "e": {"floor_material": "earth"},
        "f": {"wall_material": "bamboo"},
        "g": {"toilet": "none"},
        "h": {"lighting": "non_electric"},
    },
    "kepmensos_146_2013": {
        "livelihood": {"head_employment": "not_working"},
        "staple_food": {"food_share": 0.9},
        "health_care": {"can_pay_clinic": False},
        "clothing": {"bought_clothes_last_year": False},
        "schooling": {"children_education_max": "primary"},
        "walls": {"wall_material": "bamboo"},
        "floor": {"floor_material": "earth"},
        "roof": {"roof_material": "thatch"},
        "lighting": {"lighting": "non_electric"},
        "floor_area": {"floor_area_m2": 1.0, "household_size": 1},
        "drinking_water": {"drinking_water": "river"},
    },
    "bps_14_2005": {
        "floor_area": {"floor_area_m2": 1.0, "household_size": 1},
        "floor": {"floor_material": "earth"},
        "walls": {"wall_material": "bamboo"},
        "toilet": {"toilet": "none"},
        "lighting": {"lighting": "non_electric"},
        "drinking_water": {"drinking_water": "river"},
        "cooking_fuel": {"cooking_fuel": "firewood"},
        "protein": {"protein_days_per_week": 0},
        "clothing": {"bought_clothes_last_year": False},
        "meals": {"meals_per_day": 1},
        "health_care": {"can_pay_clinic": False},
        "livelihood": {"head_employment": "not_working"},
        "education": {"head_education": "none"},
        "savings": {"savings_rp": 0.0},
    },
}


def _codes(name: str) -> list[str]:
    return sorted(contract_fields()[name].codes or ())


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy, strategy, strategy)


@st.composite
def households(draw: st.DrawFn, n_max: int = 12, missing: bool = True) -> pd.DataFrame:
    """A small registry with every field the shipped rule sets read; any answer may be missing."""
    n = draw(st.integers(1, n_max))
    maybe = _maybe if missing else (lambda s: s)
    cat = [
        "head_employment", "head_sector", "head_education", "floor_material", "wall_material",
        "roof_material", "roof_condition", "toilet", "drinking_water", "lighting", "cooking_fuel",
        "children_education_max",
    ]  # fmt: skip
    cols: dict[str, list[Any]] = {"household_id": [f"h{i}" for i in range(n)]}
    for name in cat:
        cols[name] = draw(st.lists(maybe(st.sampled_from(_codes(name))), min_size=n, max_size=n))
    for name in ["has_shelter", "food_insecure_12m", "bought_clothes_last_year", "can_pay_clinic"]:
        cols[name] = draw(st.lists(maybe(st.booleans()), min_size=n, max_size=n))
    shares = st.one_of(st.sampled_from([0.0, 0.4999, 0.5, 0.5001, 1.0]), st.floats(0, 1))
    numbers = {
        "food_share": shares,
        "household_size": st.integers(1, 12),
        "floor_area_m2": st.one_of(st.sampled_from([8.0, 16.0, 24.0, 40.0]), st.floats(1, 300)),
        "electricity_va": st.sampled_from([0, 450, 900, 1300, 2200]),
        "meals_per_day": st.integers(0, 6),
        "protein_days_per_week": st.integers(0, 7),
        "land_area_m2": st.one_of(st.just(5000.0), st.floats(0, 50_000)),
        "head_income_rp": st.one_of(st.just(600_000.0), st.floats(0, 5e6)),
        "savings_rp": st.one_of(st.just(500_000.0), st.floats(0, 5e6)),
    }
    for name, strategy in numbers.items():
        values = draw(st.lists(maybe(strategy), min_size=n, max_size=n))
        cols[name] = [np.nan if v is None else float(v) for v in values]
    return pd.DataFrame(cols)


rulesets = st.sampled_from(sorted(AS_OF))


@settings(max_examples=60, deadline=None)
@given(frame=households(), name=rulesets, data=st.data())
def test_meeting_one_more_criterion_never_lowers_the_verdict(frame, name, data) -> None:
    rs = load_ruleset(name)
    counting = rs.decision.counting_stage
    k = data.draw(st.integers(1, len(counting.criteria)), label="k")
    crit = data.draw(st.sampled_from(sorted(MAKE_MET[name])), label="criterion")
    before = evaluate(frame, rs, as_of=AS_OF[name], min_criteria_met=k)
    changed = frame.assign(**MAKE_MET[name][crit])
    after = evaluate(changed, rs, as_of=AS_OF[name], min_criteria_met=k)

    assert after[criterion_column(crit)].eq(True).all()
    others = [criterion_column(c.id) for c in rs.criteria if c.id != crit]
    pd.testing.assert_frame_equal(before[others], after[others])
    rank_before = before["verdict"].map(RANK).astype(int)
    rank_after = after["verdict"].map(RANK).astype(int)
    assert (rank_after >= rank_before).all()
    assert not ((before["verdict"] == "eligible") & (after["verdict"] != "eligible")).any()
    assert (after["n_met"] >= before["n_met"]).all()


@settings(max_examples=60, deadline=None)
@given(frame=households(), data=st.data())
def test_no_shelter_is_always_eligible_under_262(frame, data) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    k = data.draw(st.integers(1, 8), label="k")
    required = data.draw(st.lists(st.sampled_from(list("abcdefgh")), unique=True, max_size=3))
    trace = evaluate(
        frame.assign(has_shelter=False), rs, as_of=AS_OF[rs.id], min_criteria_met=k, required=required
    )
    assert (trace["verdict"] == "eligible").all()
    assert (trace["stage"] == "stage1_no_shelter").all()


@settings(max_examples=60, deadline=None)
@given(frame=households(), name=rulesets)
def test_unknown_is_never_counted_as_met(frame, name) -> None:
    rs = load_ruleset(name)
    trace = evaluate(frame, rs, as_of=AS_OF[name])
    counted = [criterion_column(c) for c in rs.decision.counting_stage.criteria]
    flags = trace[counted]
    assert (trace["n_met"] == flags.eq(True).sum(axis=1)).all()
    assert (trace["n_unknown"] == flags.isna().sum(axis=1)).all()
    # With every answer missing, nothing is met and nobody is found eligible.
    blank = frame.copy()
    for col in blank.columns.drop("household_id"):
        blank[col] = pd.Series([None] * len(blank), dtype="object")
    empty = evaluate(blank, rs, as_of=AS_OF[name])
    assert (empty["n_met"] == 0).all()
    assert empty[[criterion_column(c.id) for c in rs.criteria]].isna().all().all()
    assert (empty["verdict"] != "eligible").all()


@settings(max_examples=40, deadline=None)
@given(frame=households(), name=rulesets, data=st.data())
def test_filling_in_missing_answers_keeps_decided_verdicts(frame, name, data) -> None:
    rs = load_ruleset(name)
    complete = data.draw(households(n_max=1, missing=False), label="fill")
    filled = frame.copy()
    for col in frame.columns.drop("household_id"):
        filled[col] = frame[col].where(frame[col].notna(), complete[col].iloc[0])
    before = evaluate(frame, rs, as_of=AS_OF[name])
    after = evaluate(filled, rs, as_of=AS_OF[name])
    decided = before["verdict"] != "unknown"
    assert (after.loc[decided, "verdict"] == before.loc[decided, "verdict"]).all()
    for crit in rs.criteria:
        col = criterion_column(crit.id)
        known = before[col].notna()
        assert (after.loc[known, col] == before.loc[known, col]).all()
    assert (after["verdict"] != "unknown").all()


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_decision_is_monotone_in_false_unknown_true(data) -> None:
    """At the level of flags: raising any criterion False -> unknown -> True never lowers a verdict."""
    rs = load_ruleset(data.draw(rulesets, label="ruleset"))
    n = 20
    states = {
        c.id: np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
        for c in rs.criteria
    }  # 0 false, 1 unknown, 2 true
    counting = rs.decision.counting_stage
    k = data.draw(st.integers(1, len(counting.criteria)))
    required = data.draw(st.lists(st.sampled_from(counting.criteria), unique=True, max_size=2))
    crit = data.draw(st.sampled_from([c.id for c in rs.criteria]))

    def verdicts(st_: dict[str, np.ndarray]) -> np.ndarray:
        flags = {c: Tri(s == 2, s != 1) for c, s in st_.items()}
        verdict, *_ = decide(flags, rs, min_criteria_met=k, required=required)
        return np.array([2, 0, 1])[verdict]  # codes eligible/not/unknown -> rank 2/0/1

    raised = {**states, crit: np.minimum(states[crit] + 1, 2)}
    assert (verdicts(raised) >= verdicts(states)).all()


@settings(max_examples=40, deadline=None)
@given(frame=households(), name=rulesets, reverse=st.booleans())
def test_categorical_codes_give_the_trace_of_plain_text_codes(frame, name, reverse: bool) -> None:
    """Validated data holds codes as categoricals (read through their categories); text gives the same."""
    fields = contract_fields()
    categorical = frame.copy()
    for col in frame.columns:
        codes = fields[col].codes if col in fields else None
        if codes is not None:
            order = sorted(codes, reverse=reverse)  # any category order: membership is by value
            categorical[col] = pd.Categorical(frame[col], categories=order)
    ruleset = load_ruleset(name)
    pd.testing.assert_frame_equal(evaluate(categorical, ruleset, as_of=AS_OF[name]),
                                  evaluate(frame, ruleset, as_of=AS_OF[name]))
