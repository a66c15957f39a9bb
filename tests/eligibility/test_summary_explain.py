"""Summaries (weighted shares by criterion and area) and single-household explanations."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from targeting.eligibility import (
    HouseholdRuleExplanation,
    evaluate,
    explain_household,
    format_explanation,
    format_summary,
    load_ruleset,
    summarize,
    verdict_text,
)
from targeting.errors import InputFileError
from tests.conftest import valid_household

AS_OF = date(2024, 6, 30)


@pytest.fixture
def four() -> pd.DataFrame:
    """Hand-made: H0001 no shelter; H0002 four criteria met; H0003 nothing; H0004 c unknown."""
    rows = [
        valid_household(1, has_shelter="0", kecamatan="tabang"),
        valid_household(2, head_employment="not_working", food_insecure_12m="1", food_share="0.8",
                        bought_clothes_last_year="0", kecamatan="tabang"),
        valid_household(3, kecamatan="tenggarong"),
        valid_household(4, food_share=None, head_employment="not_working", food_insecure_12m="1",
                        bought_clothes_last_year="0", kecamatan="tenggarong"),
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_unweighted_summary(four: pd.DataFrame) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    trace = evaluate(four, rs, as_of=AS_OF)
    assert list(trace["verdict"]) == ["eligible", "eligible", "not_eligible", "unknown"]
    s = summarize(trace, four)
    assert s.n_households == 4 and not s.weighted
    assert s.share_eligible == 0.5
    assert s.overall.loc["unknown", "n"] == 1
    assert s.by_criterion.loc["c", "share_met"] == 0.25
    assert s.by_criterion.loc["c", "share_unknown"] == 0.25
    assert s.by_criterion.loc["c", "n_unknown"] == 1
    assert s.by_criterion.loc["a", "share_met"] == 0.5
    assert s.by_stage.loc["stage1_no_shelter", "n"] == 1
    assert s.by_group.loc["tabang", "share_eligible"] == 1.0
    assert s.by_group.loc["tenggarong", "share_eligible"] == 0.0
    assert s.by_group.loc["tenggarong", "share_unknown"] == 0.5
    assert s.n_with_unknown == 1
    assert s.ruleset == "kepmensos_262_2022" and s.min_criteria_met == 4


def test_weighted_summary(four: pd.DataFrame) -> None:
    trace = evaluate(four, load_ruleset("kepmensos_262_2022"), as_of=AS_OF)
    weight = pd.Series([1.0, 3.0, 4.0, 2.0])
    s = summarize(trace, four, weight=weight)
    assert s.weighted
    assert s.share_eligible == pytest.approx(0.4)  # (1 + 3) / 10
    assert s.overall.loc["unknown", "share"] == pytest.approx(0.2)
    assert s.by_group.loc["tenggarong", "share_unknown"] == pytest.approx(2 / 6)
    assert s.by_criterion.loc["a", "share_met"] == pytest.approx(0.5)  # (3 + 2) / 10
    json.dumps(s.to_dict())
    text = format_summary(s, load_ruleset("kepmensos_262_2022"))
    assert "40.0%" in text and "Tenggarong" in text
    lines = text.splitlines()
    unknown = next(line for line in lines if line.startswith("  belum dapat ditentukan / unknown "))
    assert unknown.split()[-2:] == ["1", "20.0%"]  # H0004 weighs 2 of 10
    groups = lines[lines.index(next(x for x in lines if x.startswith("kecamatan "))) + 1:]
    assert [g.split() for g in groups] == [["Tabang", "2", "100.0%", "0.0%"],
                                           ["Tenggarong", "2", "0.0%", "33.3%"]]


def test_verdict_text_is_indonesian_first() -> None:
    assert [verdict_text(v) for v in ("eligible", "not_eligible", "unknown", "other")] == [
        "layak / eligible", "tidak layak / not eligible", "belum dapat ditentukan / unknown", "other"]


def test_summary_without_grouping_and_bad_weight(four: pd.DataFrame) -> None:
    trace = evaluate(four, load_ruleset("kepmensos_262_2022"), as_of=AS_OF)
    assert summarize(trace, None, by=None).by_group is None
    with pytest.raises(InputFileError, match="'desa_code'"):
        summarize(trace, four, by="desa_code")
    with pytest.raises(InputFileError, match="non-negative weight"):
        summarize(trace, four, weight=pd.Series([1.0, None, 1.0, 1.0]))


def test_explanation_of_an_eligible_household(four: pd.DataFrame) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    e = explain_household("H0002", four, rs, as_of=AS_OF)
    assert isinstance(e, HouseholdRuleExplanation)
    assert (e.verdict, e.stage, e.n_met, e.n_unknown, e.min_criteria_met) == (
        "eligible", "stage2", 4, 0, 4,
    )  # fmt: skip
    by_id = {c.id: c for c in e.criteria}
    assert [c.id for c in e.criteria if c.status == "met"] == ["a", "b", "c", "d"]
    assert by_id["c"].values == {"food_share": "0.8"}
    assert by_id["c"].condition == "food_share > 0.5"
    assert by_id["h"].condition == (
        "(lighting == non_electric or (lighting == pln_metered and electricity_va == 450 VA))"
    )
    assert by_id["h"].values == {"lighting": "pln_metered", "electricity_va": "900"}
    assert by_id["a"].text_id == "Kepala keluarga atau pengurus keluarga tidak bekerja"
    assert by_id["no_shelter"].stage == "stage1_no_shelter"
    round_trip = HouseholdRuleExplanation.model_validate_json(e.model_dump_json())
    assert round_trip == e


def test_explanation_marks_missing_answers(four: pd.DataFrame) -> None:
    e = explain_household("H0004", four, load_ruleset("kepmensos_262_2022"), as_of=AS_OF)
    c = next(c for c in e.criteria if c.id == "c")
    assert (c.status, c.flag, c.missing) == ("unknown", None, ["food_share"])
    assert e.verdict == "unknown"
    text = format_explanation(e, "id")
    assert "BELUM DAPAT DITENTUKAN" in text and "food_share=(kosong)" in text
    assert "[?] c:" in format_explanation(e, "en")


def test_explanation_shows_per_person_area() -> None:
    frame = pd.DataFrame([valid_household(1, floor_area_m2="30", household_size="4")])
    e = explain_household("H0001", frame, load_ruleset("bps_14_2005"), as_of=date(2008, 1, 1))
    c = next(c for c in e.criteria if c.id == "floor_area")
    assert c.status == "met"
    assert c.derived == {"floor_area_m2 per person": 7.5}
    assert c.condition == "floor_area_m2 / household_size < 8 m2 per person"


def test_explain_from_a_trace_row_checks_it_matches(four: pd.DataFrame) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    trace = evaluate(four, rs, as_of=AS_OF, min_criteria_met=5)
    row = trace.iloc[1]
    e = explain_household(row, four, rs, as_of=AS_OF, min_criteria_met=5)
    assert e.verdict == "not_eligible" and e.n_met == 4
    with pytest.raises(ValueError, match="verdict"):
        explain_household(row, four, rs, as_of=AS_OF)  # default k=4 would say eligible


def test_explain_unknown_or_duplicate_household(four: pd.DataFrame) -> None:
    rs = load_ruleset("kepmensos_262_2022")
    with pytest.raises(InputFileError, match="'H9999' is not in the data"):
        explain_household("H9999", four, rs, as_of=AS_OF)
    twice = pd.concat([four, four.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputFileError, match="appears 2 times"):
        explain_household("H0001", twice, rs, as_of=AS_OF)
