"""Loading rule sets: the shipped files validate; a broken file names itself and the line at fault."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from targeting.eligibility import RuleSet, list_rulesets, load_ruleset, resolve_thresholds
from targeting.eligibility._loader import RULESET_DIR
from targeting.errors import RuleSetError

SHIPPED = ["bps_14_2005", "kepmensos_146_2013", "kepmensos_262_2022"]


def test_list_rulesets_names_the_three_shipped_files() -> None:
    assert list_rulesets() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_rule_sets_load_by_name_and_by_path(name: str) -> None:
    by_name = load_ruleset(name)
    by_path = load_ruleset(RULESET_DIR / f"{name}.yaml")
    assert isinstance(by_name, RuleSet)
    assert by_name == by_path
    assert by_name.id == name
    assert by_name.path == str(RULESET_DIR / f"{name}.yaml")


def test_the_262_decision_rule_is_a_documented_parameter() -> None:
    rs = load_ruleset("kepmensos_262_2022")
    stage1, stage2 = rs.decision.stages
    assert (stage1.id, stage1.criteria, stage1.min_criteria_met) == (
        "stage1_no_shelter", ["no_shelter"], 1,
    )  # fmt: skip
    assert stage2.criteria == list("abcdefgh")
    assert stage2.min_criteria_met == 4
    assert stage2.basis == "local_policy_choice"
    assert "Dinas Sosial" in stage2.reason
    assert rs.decision.counting_stage is stage2


def test_dates_of_validity() -> None:
    r262, r146, bps = (load_ruleset(n) for n in ("kepmensos_262_2022", "kepmensos_146_2013", "bps_14_2005"))
    assert r262.in_force_from == date(2022, 12, 31) and r262.revoked_on is None
    assert r146.revoked_on == date(2022, 12, 31) and r146.revoked_by == "kepmensos_262_2022"
    assert r146.in_force_on(date(2022, 12, 30)) and not r146.in_force_on(date(2022, 12, 31))
    assert not r262.in_force_on(date(2022, 12, 30)) and r262.in_force_on(date(2022, 12, 31))
    assert bps.decision.stages[0].min_criteria_met == 9 and len(bps.criteria) == 14
    assert len(r146.criteria) == 11


def test_unknown_name_lists_the_shipped_rule_sets() -> None:
    with pytest.raises(RuleSetError, match="unknown rule set 'kepmensos_999'.*kepmensos_262_2022"):
        load_ruleset("kepmensos_999")


# ---- thresholds keyed by date ----------------------------------------------------------------------


def _with_dated_threshold(tmp_path: Path) -> RuleSet:
    text = (RULESET_DIR / "kepmensos_146_2013.yaml").read_text(encoding="utf-8")
    text = text.replace("      2013-01-01: 8\n", "      2013-01-01: 8\n      2018-07-01: 9\n")
    path = tmp_path / "kepmensos_146_2013.yaml"
    path.write_text(text, encoding="utf-8")
    return load_ruleset(path)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2013, 1, 1), 8.0),
        (date(2018, 6, 30), 8.0),
        (date(2018, 7, 1), 9.0),
        (date(2021, 6, 30), 9.0),
        # Out of force: the rule as it stood on its nearest day in force.
        (date(2010, 1, 1), 8.0),
        (date(2024, 1, 1), 9.0),
    ],
)
def test_threshold_in_effect_on_the_date(tmp_path: Path, as_of: date, expected: float) -> None:
    rs = _with_dated_threshold(tmp_path)
    assert resolve_thresholds(rs, as_of)["floor_area_per_person"] == expected


def test_deflation_uses_the_cpi_ratio() -> None:
    rs = load_ruleset("bps_14_2005")
    plain = resolve_thresholds(rs, date(2024, 6, 30))
    restated = resolve_thresholds(rs, date(2024, 6, 30), deflate_to_year=2024)
    assert plain["head_income_low"] == 600_000
    assert restated["head_income_low"] == pytest.approx(600_000 * 251.6 / 100.0)
    assert restated["savings_low"] == pytest.approx(500_000 * 2.516)
    # Non-rupiah thresholds are untouched.
    assert restated["floor_area_per_person"] == 8.0
    assert resolve_thresholds(rs, date(2024, 6, 30), deflate_to_year=2005) == plain


def test_deflation_needs_a_price_index() -> None:
    with pytest.raises(RuleSetError, match="needs a price_index"):
        resolve_thresholds(load_ruleset("kepmensos_146_2013"), date(2020, 1, 1), deflate_to_year=2020)


# ---- load errors name the file and the line --------------------------------------------------------


def _broken(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """Write a copy of a shipped rule set with one edit; return its path and the edited line."""
    text = (RULESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    line = text[: text.index(new)].count("\n") + 1
    return path, line


BROKEN = [
    pytest.param(
        "kepmensos_262_2022",
        "{op: in, field: floor_material, values: [earth, plaster]}",
        "{op: in, field: flor_material, values: [earth, plaster]}",
        "unknown survey field 'flor_material'",
        id="unknown-field",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "{op: gt, field: food_share, threshold: food_share_half}",
        "{op: greater, field: food_share, threshold: food_share_half}",
        "unknown operator 'greater'",
        id="unknown-operator",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "{op: gt, field: food_share, threshold: food_share_half}",
        "{op: gt, field: food_share}",
        "missing threshold",
        id="missing-threshold",
    ),
    pytest.param(
        "bps_14_2005",
        "{op: le, field: meals_per_day, threshold: meals_max}",
        "{op: le, field: meals_per_day, threshold: meals_maximum}",
        "unknown threshold 'meals_maximum'",
        id="undefined-threshold",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "{op: in, field: floor_material, values: [earth, plaster]}",
        "{op: in, field: floor_material, values: [earht, plaster]}",
        "'earht' is not a code of field 'floor_material'",
        id="bad-code",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "{op: eq, field: head_employment, value: not_working}",
        "{op: eq, field: head_employment, value: unemployed}",
        "'unemployed' is not a code of field 'head_employment'",
        id="bad-code-eq",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "{op: eq, field: electricity_va, threshold: electricity_va_lowest_tier}",
        "{op: in, field: electricity_va, values: [450, 600]}",
        "600 is not an allowed value of 'electricity_va'",
        id="bad-numeric-code",
    ),
    pytest.param(
        "kepmensos_146_2013",
        "    proxy: can_pay_clinic is false.",
        "    proxi: can_pay_clinic is false.",
        "unknown key 'proxi'",
        id="unknown-key",
    ),
    pytest.param(
        "kepmensos_146_2013",
        "{op: is_false, field: can_pay_clinic}",
        "{op: is_false, field: food_share}",
        "is_false needs a yes/no field; 'food_share' is float",
        id="wrong-field-type",
    ),
    pytest.param(
        "kepmensos_146_2013",
        "{op: gt, field: food_share, threshold: food_share_most}",
        "{op: gt, field: head_education, threshold: food_share_most}",
        "gt needs a numeric field; 'head_education' is category",
        id="compare-on-category",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "      min_criteria_met: 4\n",
        "      min_criteria_met: 9\n",
        "min_criteria_met=9 exceeds the 8 criteria",
        id="k-too-large",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "      criteria: [a, b, c, d, e, f, g, h]",
        "      criteria: [a, b, c, d, e, f, g, h, i]",
        "unknown criterion 'i'",
        id="unknown-criterion-in-stage",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "in_force_from: 2022-12-31",
        "in_force_from: 31-12-2022",
        "in_force_from: Input should be a valid date",
        id="bad-date",
    ),
    pytest.param(
        "bps_14_2005",
        "      2005-01-01: 5000\n",
        "      2006-01-01: 5000\n",
        "threshold 'farm_land_small' has no value on in_force_from",
        id="threshold-starts-late",
    ),
    pytest.param(
        "kepmensos_262_2022",
        "    unit: share\n    reference: Kepmensos 262/HUK/2022, deteksi lanjutan huruf c\n",
        "    unit: share\n    unit: VA\n    reference: Kepmensos 262/HUK/2022, deteksi lanjutan huruf c\n",
        "duplicate key 'unit'",
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "message"), BROKEN)
def test_load_error_names_file_and_line(
    tmp_path: Path, name: str, old: str, new: str, message: str
) -> None:
    path, edited_line = _broken(tmp_path, name, old, new)
    with pytest.raises(RuleSetError) as info:
        load_ruleset(path)
    text = str(info.value)
    assert str(path) in text
    assert message in text
    # The reported line is the edited one (or, for nested flow mappings, within two lines of it).
    lines = [int(x) for x in __import__("re").findall(r"line (\d+)", text)]
    assert any(abs(n - edited_line) <= 2 for n in lines), (edited_line, text)


def test_error_line_is_exact_for_a_flow_condition(tmp_path: Path) -> None:
    path, line = _broken(
        tmp_path,
        "kepmensos_262_2022",
        "{op: in, field: floor_material, values: [earth, plaster]}",
        "{op: in, field: floor_material, values: [earht, plaster]}",
    )
    where = r"criteria\[5\]\.condition\.values\[0\]"
    with pytest.raises(RuleSetError, match=rf"{path.name}, line {line}: {where}"):
        load_ruleset(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "kepmensos_262_2022.yaml"
    path.write_text("schema_version: 1\nid: x\ncriteria: [a, b\n", encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"kepmensos_262_2022\.yaml, line \d"):
        load_ruleset(path)


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    text = (RULESET_DIR / "kepmensos_262_2022.yaml").read_text(encoding="utf-8")
    text = text.replace("field: food_share,", "field: fod_share,").replace("[earth, plaster]", "[mud]")
    path = tmp_path / "kepmensos_262_2022.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError, match="2 problems") as info:
        load_ruleset(path)
    assert "'fod_share'" in str(info.value) and "'mud'" in str(info.value)


def test_file_name_must_match_id(tmp_path: Path) -> None:
    path = tmp_path / "my_rules.yaml"
    path.write_text((RULESET_DIR / "bps_14_2005.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"my_rules\.yaml, line \d+: id: id 'bps_14_2005' must equal"):
        load_ruleset(path)


def test_no_python_can_be_smuggled_in(tmp_path: Path) -> None:
    path = tmp_path / "kepmensos_262_2022.yaml"
    text = (RULESET_DIR / "kepmensos_262_2022.yaml").read_text(encoding="utf-8")
    evil = "schema_version: !!python/object/apply:os.system ['true']"
    path.write_text(text.replace("schema_version: 1", evil), encoding="utf-8")
    with pytest.raises(RuleSetError, match="line 10: could not determine a constructor"):
        load_ruleset(path)
