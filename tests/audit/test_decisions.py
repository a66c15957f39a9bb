from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.audit.decisions import AuditData
from targeting.errors import InputFileError
from tests.audit.factory import make_decisions


def tiny(**overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "household_id": ["A", "B", "C"],
            "weight": [1.0, 2.0, 3.0],
            "household_size": [1, 4, 7],
            "predicted_welfare": [500_000.0, 900_000.0, 2_000_000.0],
            "desil": [1, 3, 9],
            "selected": [True, False, False],
            "rule_verdict": ["eligible", "unknown", "not_eligible"],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("desil", [1, 11, 2], "'desil', row 1 (household_id B): 11 is not a decile from 1 to 10"),
        ("weight", [1.0, -2.0, 1.0], "'weight', row 1 (household_id B)"),
        ("rule_verdict", ["eligible", "maybe", "unknown"], "'maybe' is not one of eligible"),
        ("selected", [True, None, False], "'selected', row 1"),
        ("household_id", ["A", "A", "C"], "'household_id', row 1"),
        ("household_size", [1, 0, 2], "'household_size', row 1"),
    ],
)
def test_bad_values_name_column_and_row(column, values, message):
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AuditData.from_frame(tiny(**{column: values}))


def test_missing_columns_are_listed():
    with pytest.raises(InputFileError, match="missing column\\(s\\) desil, selected"):
        AuditData.from_frame(tiny().drop(columns=["desil", "selected"]))


def test_truth_only_from_poor_true_never_derived_here():
    """'Poor' is decided once, when the table is made (targeting.pmt.design): welfare alone is no truth."""
    data = AuditData.from_frame(tiny(welfare_true=[700_000.0, np.nan, 900_000.0]))
    assert not data.has_truth and data.has_welfare
    with_truth = AuditData.from_frame(tiny(poor_true=pd.array([True, None, False], dtype="boolean")))
    assert with_truth.poor.tolist() == [True, False, False]
    assert with_truth.truth_known.tolist() == [True, False, True]


def test_unit_weights_count_persons_or_households():
    data = AuditData.from_frame(tiny())
    assert data.unit == "person" and data.rate_weight.tolist() == [1.0, 8.0, 21.0]
    assert AuditData.from_frame(tiny(), unit="household").rate_weight.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="unit must be 'person' or 'household'"):
        AuditData.from_frame(tiny(), unit="people")


def test_without_a_rule_set_only_the_model_is_audited():
    data = AuditData.from_frame(tiny().drop(columns=["rule_verdict"]))
    assert not data.has_rules and data.subjects == ("model",)
    with pytest.raises(ValueError, match="unknown subject 'rules'"):
        data.selection("rules")


def test_text_booleans_and_nullable_truth():
    data = AuditData.from_frame(
        tiny(selected=["true", "False", "0"], poor_true=pd.array([True, None, False], dtype="boolean"))
    )
    assert data.selected.tolist() == [True, False, False]
    assert data.truth_known.tolist() == [True, False, True]
    assert data.eligible.tolist() == [True, False, False]
    assert data.rules_unknown.tolist() == [False, True, False]
    assert data.selection("model_within_rules").tolist() == [True, False, False]


def test_criteria_counted_unknown_as_not_met():
    data = AuditData.from_frame(
        tiny(
            crit_a=pd.array([True, None, False], dtype="boolean"),
            crit_b=pd.array([True, True, None], dtype="boolean"),
        )
    )
    assert data.criteria == ("a", "b")
    assert data.n_met.tolist() == [2, 1, 0]


def test_factory_frame_is_valid():
    data = AuditData.from_frame(make_decisions(200))
    assert data.n == 200 and data.has_truth and len(data.criteria) == 9


def test_read_decisions_parquet_and_csv_keep_identifiers_as_text(tmp_path):
    from targeting.audit.decisions import read_decisions

    frame = tiny(head_nik=["0064020000000001", None, "6402000000000003"])
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    from_parquet, meta = read_decisions(tmp_path / "d.parquet")
    from_csv, _ = read_decisions(tmp_path / "d.csv")
    assert meta is None  # a file written by someone else carries no decisions metadata
    assert from_csv["head_nik"].iloc[0] == "0064020000000001"  # leading zeros kept
    assert from_parquet["head_nik"].tolist()[0] == from_csv["head_nik"].tolist()[0]
    assert AuditData.from_frame(from_csv).selected.tolist() == [True, False, False]
    with pytest.raises(InputFileError, match="must be a .parquet or .csv file, not .xlsx"):
        (tmp_path / "d.xlsx").write_text("x")
        read_decisions(tmp_path / "d.xlsx")
    with pytest.raises(InputFileError, match="decisions file not found"):
        read_decisions(tmp_path / "missing.parquet")
