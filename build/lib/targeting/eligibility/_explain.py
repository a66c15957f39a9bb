"""Why one household got its verdict: each criterion's wording, flag and the answers it read.

The explanation is data (a pydantic model that serialises to JSON); the CLI, the report and the
API render it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from targeting.errors import InputFileError

from ._evaluate import criterion_column, criterion_fields, evaluate
from ._schema import (
    AllAny,
    Between,
    Compare,
    Condition,
    CountAtLeast,
    Equals,
    Membership,
    Not,
    RuleSet,
    Truth,
)

Status = Literal["met", "not_met", "unknown"]


class CriterionExplanation(BaseModel):
    """One criterion for one household."""

    model_config = ConfigDict(frozen=True)

    id: str
    stage: str
    text_id: str
    text_en: str
    status: Status
    flag: bool | None
    condition: str  # the test, written out with the thresholds in effect
    values: dict[str, Any]  # the survey answers it read (None = missing)
    derived: dict[str, float | None] = {}  # quantities computed from them (e.g. m2 per person)
    missing: list[str] = []  # fields it needed that were missing
    proxy: str | None = None


class HouseholdRuleExplanation(BaseModel):
    """A household's verdict under a rule set, with every criterion's flag and inputs."""

    model_config = ConfigDict(frozen=True)

    household_id: str
    ruleset: str
    ruleset_title_id: str
    ruleset_title_en: str
    legal_reference: str
    as_of: str
    in_force: bool
    verdict: Literal["eligible", "not_eligible", "unknown"]
    stage: str
    counted_stage: str
    n_met: int
    n_unknown: int
    n_criteria: int
    min_criteria_met: int
    required: list[str]
    criteria: list[CriterionExplanation]
    thresholds: dict[str, float]


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _fmt(value: float, unit: str) -> str:
    if unit.startswith("IDR"):
        return f"Rp{value:,.0f}" + ("/month" if unit == "IDR_per_month" else "")
    suffix = {"m2": " m2", "m2_per_person": " m2 per person", "VA": " VA"}.get(unit, "")
    return f"{value:g}{suffix}"


def describe_condition(cond: Condition, ruleset: RuleSet, thresholds: dict[str, float]) -> str:
    """The condition written out, e.g. ``floor_area_m2 / household_size < 8 m2_per_person``."""

    def thr(name: str) -> str:
        return _fmt(thresholds[name], ruleset.thresholds[name].unit)

    def operand(field: str, derive: str | None) -> str:
        return f"{field} / household_size" if derive == "per_capita" else field

    symbols = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
    if isinstance(cond, Compare):
        return f"{operand(cond.field, cond.derive)} {symbols[cond.op]} {thr(cond.threshold)}"
    if isinstance(cond, Equals):
        rhs = thr(cond.threshold) if cond.threshold is not None else str(cond.value)
        return f"{operand(cond.field, cond.derive)} {symbols[cond.op]} {rhs}"
    if isinstance(cond, Membership):
        word = "in" if cond.op == "in" else "not in"
        return f"{cond.field} {word} {{{', '.join(str(v) for v in cond.values)}}}"
    if isinstance(cond, Between):
        lo = "<=" if cond.closed in ("both", "left") else "<"
        hi = "<=" if cond.closed in ("both", "right") else "<"
        x = operand(cond.field, cond.derive)
        return f"{thr(cond.low)} {lo} {x} {hi} {thr(cond.high)}"
    if isinstance(cond, Truth):
        return f"{cond.field} is {'true' if cond.op == 'is_true' else 'false'}"
    if isinstance(cond, AllAny):
        joiner = " and " if cond.op == "all" else " or "
        return "(" + joiner.join(describe_condition(c, ruleset, thresholds) for c in cond.conditions) + ")"
    if isinstance(cond, Not):
        return f"not {describe_condition(cond.condition, ruleset, thresholds)}"
    if isinstance(cond, CountAtLeast):
        inner = "; ".join(describe_condition(c, ruleset, thresholds) for c in cond.conditions)
        return f"at least {cond.k} of ({inner})"
    raise TypeError(type(cond).__name__)  # pragma: no cover


def _per_capita_fields(cond: Condition) -> list[str]:
    if isinstance(cond, AllAny | CountAtLeast):
        return [f for c in cond.conditions for f in _per_capita_fields(c)]
    if isinstance(cond, Not):
        return _per_capita_fields(cond.condition)
    return [cond.field] if getattr(cond, "derive", None) == "per_capita" else []


def explain_household(
    household: str | pd.Series,
    frame: pd.DataFrame,
    ruleset: RuleSet,
    *,
    as_of: date | None = None,
    min_criteria_met: int | None = None,
    required: Sequence[str] | None = None,
    deflate_to_year: int | None = None,
    allow_out_of_force: bool = False,
    missing_columns: Literal["error", "unknown"] = "error",
) -> HouseholdRuleExplanation:
    """Explain one household's verdict: which criteria were met, and on which answers.

    Parameters
    ----------
    household : a ``household_id``, or a row of a trace from ``evaluate`` (its flags are then
        checked against a fresh evaluation with the options given here).
    frame : the households (survey-contract columns); the row with that ``household_id`` is used.
    ruleset, as_of, min_criteria_met, required, deflate_to_year, allow_out_of_force,
    missing_columns : as for ``evaluate``.
    """
    trace_row = household if isinstance(household, pd.Series) else None
    hid = str(trace_row["household_id"]) if trace_row is not None else str(household)
    if "household_id" not in frame.columns:
        raise InputFileError("the data has no household_id column")
    hit = frame.index[(frame["household_id"].astype("string") == hid).to_numpy(dtype=bool, na_value=False)]
    if len(hit) == 0:
        raise InputFileError(f"household_id {hid!r} is not in the data")
    if len(hit) > 1:
        raise InputFileError(f"household_id {hid!r} appears {len(hit)} times in the data")
    row = frame.loc[hit]
    trace = evaluate(
        row,
        ruleset,
        as_of=as_of,
        min_criteria_met=min_criteria_met,
        required=required,
        deflate_to_year=deflate_to_year,
        allow_out_of_force=allow_out_of_force,
        missing_columns=missing_columns,
    )
    t = trace.iloc[0]
    if trace_row is not None:
        _check_same(trace_row, t, ruleset)
    attrs = trace.attrs
    thresholds: dict[str, float] = attrs["thresholds"]
    stage_of = {c: s.id for s in ruleset.decision.stages for c in s.criteria}
    record = row.iloc[0]
    criteria = []
    for crit in ruleset.criteria:
        flag = _plain(t[criterion_column(crit.id)])
        fields = criterion_fields(ruleset, crit.id)
        values = {f: _plain(record[f]) if f in row.columns else None for f in fields}
        derived: dict[str, float | None] = {}
        for f in _per_capita_fields(crit.condition):
            x = pd.to_numeric(pd.Series([values[f]]), errors="coerce").iloc[0]
            size = pd.to_numeric(pd.Series([values.get("household_size")]), errors="coerce").iloc[0]
            ok = pd.notna(x) and pd.notna(size) and size > 0
            derived[f"{f} per person"] = round(float(x / size), 4) if ok else None
        criteria.append(
            CriterionExplanation(
                id=crit.id,
                stage=stage_of[crit.id],
                text_id=crit.text_id,
                text_en=crit.text_en,
                status="unknown" if flag is None else ("met" if flag else "not_met"),
                flag=flag,
                condition=describe_condition(crit.condition, ruleset, thresholds),
                values=values,
                derived=derived,
                missing=[f for f, v in values.items() if v is None],
                proxy=crit.proxy,
            )
        )
    ref = ruleset.legal_reference
    counting = ruleset.decision.counting_stage
    return HouseholdRuleExplanation(
        household_id=hid,
        ruleset=ruleset.id,
        ruleset_title_id=ruleset.title_id,
        ruleset_title_en=ruleset.title_en,
        legal_reference=" ".join(p for p in (ref.instrument, ref.number) if p),
        as_of=attrs["as_of"],
        in_force=attrs["in_force"],
        verdict=str(t["verdict"]),  # type: ignore[arg-type]
        stage=str(t["stage"]),
        counted_stage=counting.id,
        n_met=int(t["n_met"]),
        n_unknown=int(t["n_unknown"]),
        n_criteria=len(counting.criteria),
        min_criteria_met=attrs["min_criteria_met"],
        required=list(attrs["required"]),
        criteria=criteria,
        thresholds=thresholds,
    )


def _check_same(given: pd.Series, fresh: pd.Series, ruleset: RuleSet) -> None:
    cols = ["verdict", *[criterion_column(c.id) for c in ruleset.criteria]]
    for col in cols:
        if col in given.index and _plain(given[col]) != _plain(fresh[col]):
            raise ValueError(
                f"the trace row for household {given['household_id']} has {col}={given[col]!r} but "
                f"re-evaluation gives {fresh[col]!r}: pass the as_of / min_criteria_met / "
                "deflate_to_year the trace was computed with"
            )
