"""Runs the policy test cases in cases/*.yaml: a household in, the expected verdict and flags out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from targeting.eligibility import criterion_column, evaluate, list_rulesets, load_ruleset
from targeting.errors import TargetingError

CASE_DIR = Path(__file__).parent / "cases"


def _case_files() -> list[Path]:
    return sorted(CASE_DIR.glob("*.yaml"))


def _cases() -> list[Any]:
    params = []
    for path in _case_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            params.append(pytest.param(doc, case, id=f"{path.stem}: {case['name']}"))
    return params


def _run(doc: dict[str, Any], case: dict[str, Any]) -> pd.DataFrame:
    ruleset = load_ruleset(doc["ruleset"])
    row = {**doc["base"], **case.get("household", {})}
    frame = pd.DataFrame([row])
    return evaluate(frame, ruleset, as_of=case.get("as_of", doc["as_of"]), **case.get("options", {}))


@pytest.mark.parametrize(("doc", "case"), _cases())
def test_policy_case(doc: dict[str, Any], case: dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises((TargetingError, ValueError), match=expect["error"]):
            _run(doc, case)
        return
    trace = _run(doc, case)
    got = trace.iloc[0]
    assert got["verdict"] == expect["verdict"]
    if "stage" in expect:
        assert got["stage"] == expect["stage"]
    assert got["n_met"] == expect["n_met"]
    assert got["n_unknown"] == expect.get("n_unknown", 0)
    assert trace.attrs["in_force"] is expect.get("in_force", True)
    # Every criterion not listed must be false: the base household meets none.
    ruleset = load_ruleset(doc["ruleset"])
    for crit in ruleset.criteria:
        want = expect.get("flags", {}).get(crit.id, False)
        flag = got[criterion_column(crit.id)]
        assert (None if pd.isna(flag) else bool(flag)) is want, crit.id


@pytest.mark.parametrize("name", list_rulesets())
def test_every_rule_set_has_a_case_file(name: str) -> None:
    assert (CASE_DIR / f"{name}.yaml").is_file()


@pytest.mark.parametrize("path", _case_files(), ids=lambda p: p.stem)
def test_cases_cover_every_criterion_both_ways(path: Path) -> None:
    """Each criterion is met in some case and explicitly not met or unknown in another."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    ruleset = load_ruleset(doc["ruleset"])
    met = {c for case in doc["cases"] for c, v in case["expect"].get("flags", {}).items() if v}
    unknown = {
        c for case in doc["cases"] for c, v in case["expect"].get("flags", {}).items() if v is None
    }
    ids = {c.id for c in ruleset.criteria}
    assert ids <= met, f"criteria never met in a case: {sorted(ids - met)}"
    assert len(unknown) >= 2
    # The base household itself is a case where every criterion is not met.
    assert any(case.get("household") is None for case in doc["cases"])
