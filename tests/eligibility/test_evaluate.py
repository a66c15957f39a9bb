"""The evaluator: Kleene logic per operator, input handling, and the shape of the trace."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.eligibility import (
    RuleSetNotInForceError,
    evaluate,
    load_ruleset,
    needed_fields,
)
from targeting.errors import InputFileError
from tests.conftest import valid_household

T, F, U = True, False, None

# A rule set that uses every operator the shipped files do not, on a few fields.
OPERATORS_YAML = """
schema_version: 1
id: operators_demo
title_id: Demo
title_en: Demo
legal_reference:
  instrument: test
  title_id: t
  title_en: t
  source: test
  quality: secondary_sources
in_force_from: 2020-01-01
thresholds:
  low: {description: lower, unit: share, values: {2020-01-01: 0.25}}
  high: {description: upper, unit: share, values: {2020-01-01: 0.75}}
  per_person: {description: m2, unit: m2_per_person, values: {2020-01-01: 10, 2023-01-01: 12}}
criteria:
  - id: all_of
    text_id: x
    text_en: x
    condition:
      op: all
      conditions:
        - {op: is_true, field: food_insecure_12m}
        - {op: is_false, field: can_pay_clinic}
  - id: any_of
    text_id: x
    text_en: x
    condition:
      op: any
      conditions:
        - {op: is_true, field: food_insecure_12m}
        - {op: is_false, field: can_pay_clinic}
  - id: negated
    text_id: x
    text_en: x
    condition: {op: not, condition: {op: is_true, field: food_insecure_12m}}
  - id: two_of_three
    text_id: x
    text_en: x
    condition:
      op: count_at_least
      k: 2
      conditions:
        - {op: is_true, field: food_insecure_12m}
        - {op: is_false, field: can_pay_clinic}
        - {op: is_false, field: bought_clothes_last_year}
  - id: share_between
    text_id: x
    text_en: x
    condition: {op: between, field: food_share, low: low, high: high, closed: left}
  - id: not_in_list
    text_id: x
    text_en: x
    condition: {op: not_in, field: toilet, values: [private]}
  - id: not_equal
    text_id: x
    text_en: x
    condition: {op: ne, field: head_employment, value: employee}
  - id: crowded
    text_id: x
    text_en: x
    condition: {op: le, field: floor_area_m2, derive: per_capita, threshold: per_person}
decision:
  stages:
    - id: only
      text_id: x
      text_en: x
      criteria: [all_of, any_of, negated, two_of_three, share_between, not_in_list, not_equal, crowded]
      min_criteria_met: 2
      basis: local_policy_choice
      reason: test
"""


@pytest.fixture
def demo(tmp_path: Path):
    path = tmp_path / "operators_demo.yaml"
    path.write_text(OPERATORS_YAML, encoding="utf-8")
    return load_ruleset(path)


def _flags(trace: pd.DataFrame, crit: str) -> list[bool | None]:
    return [None if pd.isna(v) else bool(v) for v in trace[f"crit_{crit}"]]


# Truth tables over food_insecure_12m (x) and can_pay_clinic = not y:  all / any in Kleene logic.
KLEENE = [  # x, y, all(x, y), any(x, y), not x
    (T, T, T, T, F),
    (T, F, F, T, F),
    (T, U, U, T, F),
    (F, T, F, T, T),
    (F, F, F, F, T),
    (F, U, F, U, T),
    (U, T, U, T, U),
    (U, F, F, U, U),
    (U, U, U, U, U),
]


def test_kleene_truth_tables(demo) -> None:
    frame = pd.DataFrame(
        {
            "household_id": [f"h{i}" for i in range(len(KLEENE))],
            "food_insecure_12m": [r[0] for r in KLEENE],
            "can_pay_clinic": [None if r[1] is None else not r[1] for r in KLEENE],
            "bought_clothes_last_year": True,
            "food_share": 0.1,
            "toilet": "private",
            "head_employment": "employee",
            "floor_area_m2": 100.0,
            "household_size": 2,
        }
    )
    trace = evaluate(frame, demo, as_of=date(2022, 1, 1))
    assert _flags(trace, "all_of") == [r[2] for r in KLEENE]
    assert _flags(trace, "any_of") == [r[3] for r in KLEENE]
    assert _flags(trace, "negated") == [r[4] for r in KLEENE]


@pytest.mark.parametrize(
    ("x", "y", "z", "expected"),
    [
        (T, T, F, T),
        (T, F, F, F),
        (T, U, F, U),
        (T, U, T, T),
        (U, U, F, U),
        (U, F, F, F),
        (F, F, U, F),
    ],
)
def test_count_at_least_two_of_three(demo, x, y, z, expected) -> None:
    frame = pd.DataFrame(
        {
            "household_id": ["h"],
            "food_insecure_12m": [x],
            "can_pay_clinic": [None if y is None else not y],
            "bought_clothes_last_year": [None if z is None else not z],
            "food_share": [0.1],
            "toilet": ["private"],
            "head_employment": ["employee"],
            "floor_area_m2": [100.0],
            "household_size": [2],
        }
    )
    assert _flags(evaluate(frame, demo, as_of=date(2022, 1, 1)), "two_of_three") == [expected]


def test_between_not_in_ne_and_per_capita(demo) -> None:
    frame = pd.DataFrame(
        {
            "household_id": ["a", "b", "c", "d", "e"],
            "food_insecure_12m": False,
            "can_pay_clinic": True,
            "bought_clothes_last_year": True,
            "food_share": [0.25, 0.75, 0.5, None, 0.2499],  # closed on the left only
            "toilet": ["private", "shared", None, "none", "communal"],
            "head_employment": ["employee", "not_working", "employee", None, "employer"],
            "floor_area_m2": [20.0, 24.0, 30.0, 10.0, None],
            "household_size": [2, 2, 3, None, 1],
        }
    )
    trace = evaluate(frame, demo, as_of=date(2022, 1, 1))
    assert _flags(trace, "share_between") == [T, F, T, U, F]
    assert _flags(trace, "not_in_list") == [F, T, U, T, T]
    assert _flags(trace, "not_equal") == [F, T, F, U, T]
    # per person 10, 12, 10, ?, ? against 10 m2 (<=)
    assert _flags(trace, "crowded") == [T, F, T, U, U]
    # From 2023 the dated threshold is 12 m2 per person.
    later = evaluate(frame, demo, as_of=date(2023, 6, 1))
    assert _flags(later, "crowded") == [T, T, T, U, U]


# ---- the trace -------------------------------------------------------------------------------------


def test_trace_columns_dtypes_and_index() -> None:
    rs = load_ruleset("kepmensos_262_2022")
    frame = pd.DataFrame([valid_household(i) for i in (1, 2, 3)], index=[10, 20, 30])
    trace = evaluate(frame, rs, as_of=date(2024, 1, 1))
    assert list(trace.columns) == [
        "household_id", "verdict", "stage", "n_met", "n_unknown",
        *[f"crit_{c}" for c in ["no_shelter", *"abcdefgh"]],
    ]  # fmt: skip
    assert list(trace.index) == [10, 20, 30]
    assert list(trace["household_id"]) == ["H0001", "H0002", "H0003"]
    assert isinstance(trace["verdict"].dtype, pd.CategoricalDtype)
    assert list(trace["verdict"].cat.categories) == ["eligible", "not_eligible", "unknown"]
    assert list(trace["stage"].cat.categories) == ["stage1_no_shelter", "stage2"]
    assert all(str(trace[f"crit_{c}"].dtype) == "boolean" for c in "abcdefgh")
    assert trace.attrs["min_criteria_met"] == 4
    assert trace.attrs["thresholds"] == {"food_share_half": 0.5, "electricity_va_lowest_tier": 450.0}


def test_text_cells_as_a_csv_gives_them() -> None:
    """Numbers and yes/no answers arrive as text ("1"/"0") from CSV files."""
    rs = load_ruleset("kepmensos_262_2022")
    rows = [
        valid_household(1),
        valid_household(2, food_share="0.5001", food_insecure_12m="1", electricity_va="450",
                        bought_clothes_last_year="0"),
        valid_household(3, has_shelter="0"),
        valid_household(4, food_share="", toilet="shared"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows).replace("", None)
    trace = evaluate(frame, rs, as_of=date(2024, 1, 1))
    assert list(trace["verdict"]) == ["not_eligible", "eligible", "eligible", "not_eligible"]
    assert list(trace["n_met"]) == [0, 4, 0, 1]
    assert list(trace["n_unknown"]) == [0, 0, 0, 1]
    assert list(trace["stage"]) == ["stage2", "stage2", "stage1_no_shelter", "stage2"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([True, False, None], dtype="boolean"),
        pd.Series([1.0, 0.0, np.nan]),
        pd.Series(["ya", "tidak", None], dtype="object"),
        pd.Series(["True", "False", None], dtype="string"),
    ],
    ids=["boolean", "float01", "id-words", "string"],
)
def test_yes_no_columns_in_any_form(column: pd.Series) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    frame = pd.DataFrame([valid_household(i) for i in (1, 2, 3)])
    frame["food_insecure_12m"] = column
    trace = evaluate(frame, rs, as_of=date(2024, 1, 1), min_criteria_met=1)
    assert _flags(trace, "b") == [T, F, U]


def test_categorical_input_columns() -> None:
    rs = load_ruleset("kepmensos_262_2022")
    frame = pd.DataFrame([valid_household(i) for i in (1, 2)])
    frame["floor_material"] = pd.Categorical(["earth", "tile_ceramic"])
    assert _flags(evaluate(frame, rs, as_of=date(2024, 1, 1)), "e") == [T, F]


# ---- errors ----------------------------------------------------------------------------------------


def test_absent_column_is_an_error_naming_it() -> None:
    rs = load_ruleset("kepmensos_146_2013")
    frame = pd.DataFrame([valid_household(1)]).drop(columns=["children_education_max", "roof_condition"])
    with pytest.raises(InputFileError, match="children_education_max, roof_condition"):
        evaluate(frame, rs, as_of=date(2020, 1, 1))


def test_absent_column_as_unknown_only_on_request() -> None:
    rs = load_ruleset("kepmensos_146_2013")
    frame = pd.DataFrame([valid_household(1)]).drop(columns=["children_education_max"])
    trace = evaluate(frame, rs, as_of=date(2020, 1, 1), missing_columns="unknown")
    assert _flags(trace, "schooling") == [U]
    assert trace.attrs["missing_columns"] == ["children_education_max"]
    assert trace["n_unknown"].tolist() == [1]


def test_household_id_is_always_needed() -> None:
    rs = load_ruleset("kepmensos_262_2022")
    frame = pd.DataFrame([valid_household(1)]).drop(columns=["household_id"])
    with pytest.raises(InputFileError, match="household_id"):
        evaluate(frame, rs, as_of=date(2024, 1, 1), missing_columns="unknown")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("floor_material", "Earth", "'Earth' is not a code of 'floor_material'"),
        ("food_share", "half", "'half' is not a number"),
        ("food_insecure_12m", "maybe", "'maybe' is not yes/no"),
    ],
)
def test_bad_values_name_column_row_and_household(column: str, value: str, message: str) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    frame = pd.DataFrame([valid_household(1), valid_household(2, **{column: value})])
    with pytest.raises(InputFileError, match=rf"column '{column}', row 1 \(household_id H0002\): {message}"):
        evaluate(frame, rs, as_of=date(2024, 1, 1))


def test_out_of_force_is_an_error_unless_asked() -> None:
    rs = load_ruleset("kepmensos_146_2013")
    frame = pd.DataFrame([valid_household(1)])
    with pytest.raises(RuleSetNotInForceError, match="revoked on 2022-12-31 by kepmensos_262_2022"):
        evaluate(frame, rs)  # as_of defaults to today
    trace = evaluate(frame, rs, allow_out_of_force=True)
    assert trace.attrs["in_force"] is False
    assert trace.attrs["as_of"] == date.today().isoformat()


def test_as_of_defaults_to_today() -> None:
    trace = evaluate(pd.DataFrame([valid_household(1)]), load_ruleset("kepmensos_262_2022"))
    assert trace.attrs["as_of"] == date.today().isoformat() and trace.attrs["in_force"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_criteria_met": 0}, "between 1 and 8"),
        ({"required": ["no_shelter"]}, "not in stage 'stage2'"),
    ],
)
def test_bad_decision_overrides(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(pd.DataFrame([valid_household(1)]), load_ruleset("kepmensos_262_2022"), **kwargs)


def test_needed_fields() -> None:
    assert needed_fields(load_ruleset("kepmensos_262_2022")) == [
        "has_shelter", "head_employment", "food_insecure_12m", "food_share",
        "bought_clothes_last_year", "floor_material", "wall_material", "toilet",
        "lighting", "electricity_va",
    ]  # fmt: skip
    assert "household_size" in needed_fields(load_ruleset("bps_14_2005"))


def test_empty_frame() -> None:
    frame = pd.DataFrame([valid_household(1)]).iloc[:0]
    trace = evaluate(frame, load_ruleset("bps_14_2005"), as_of=date(2008, 1, 1))
    assert len(trace) == 0 and "crit_savings" in trace.columns
