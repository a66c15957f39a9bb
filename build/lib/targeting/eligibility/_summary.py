"""Summaries of an evaluation trace: share eligible, per criterion, per stage and per area."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targeting.errors import InputFileError

from ._evaluate import CRITERION_PREFIX, VERDICTS


@dataclass(frozen=True)
class RuleSummary:
    """Weighted shares from one evaluation (unweighted: every household weighs 1).

    Attributes
    ----------
    ruleset, as_of, min_criteria_met : how the trace was computed (from ``trace.attrs``).
    n_households : rows in the trace.
    weighted : whether a survey weight was applied.
    overall : one row per verdict: ``n`` households and weighted ``share``.
    by_criterion : one row per criterion: ``share_met``, ``share_not_met``, ``share_unknown`` and
        ``n_unknown`` (households whose answer was missing: counted, never taken as not met).
    by_stage : one row per deciding stage: ``n`` and weighted ``share``.
    by_group : one row per value of the ``by`` column: ``n``, ``share_eligible``,
        ``share_unknown``; None when no grouping was asked for.
    n_with_unknown : households with at least one unknown criterion.
    """

    ruleset: str | None
    as_of: str | None
    min_criteria_met: int | None
    n_households: int
    weighted: bool
    overall: pd.DataFrame
    by_criterion: pd.DataFrame
    by_stage: pd.DataFrame
    by_group: pd.DataFrame | None
    n_with_unknown: int
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def share_eligible(self) -> float:
        """Weighted share of households found eligible."""
        return float(self.overall.loc["eligible", "share"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (for the report and the API)."""

        def records(df: pd.DataFrame | None) -> list[dict[str, Any]] | None:
            if df is None:
                return None
            out = df.reset_index().to_dict(orient="records")
            return [{str(k): _plain(v) for k, v in row.items()} for row in out]

        return {
            "ruleset": self.ruleset,
            "as_of": self.as_of,
            "min_criteria_met": self.min_criteria_met,
            "n_households": self.n_households,
            "weighted": self.weighted,
            "n_with_unknown": self.n_with_unknown,
            "overall": records(self.overall),
            "by_criterion": records(self.by_criterion),
            "by_stage": records(self.by_stage),
            "by_group": records(self.by_group),
        }


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return v


def _weighted_share(mask: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float((w * mask).sum() / total) if total > 0 else float("nan")


def summarize(
    trace: pd.DataFrame,
    frame: pd.DataFrame | None = None,
    *,
    weight: pd.Series | None = None,
    by: str | None = "kecamatan",
) -> RuleSummary:
    """Share eligible overall, by criterion, by deciding stage and by area.

    Parameters
    ----------
    trace : from ``evaluate``.
    frame : the evaluated households (same index), for the ``by`` column.
    weight : survey weight per household, aligned with ``trace.index``.
    by : column of ``frame`` to group by; None for no grouping.
    """
    n = len(trace)
    if weight is None:
        w = np.ones(n)
    else:
        aligned = weight.reindex(trace.index)
        w = pd.to_numeric(aligned, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(w).any() or (w < 0).any():
            raise InputFileError("weight: every household needs a non-negative weight")
    verdict = trace["verdict"].astype("string").to_numpy(dtype=object, na_value=None)

    overall = pd.DataFrame(
        {
            "n": [int((verdict == v).sum()) for v in VERDICTS],
            "share": [_weighted_share(verdict == v, w) for v in VERDICTS],
        },
        index=pd.Index(VERDICTS, name="verdict"),
    )

    crit_cols = [c for c in trace.columns if c.startswith(CRITERION_PREFIX)]
    rows = []
    for col in crit_cols:
        flag = trace[col].astype("boolean")
        met = flag.to_numpy(dtype=bool, na_value=False)
        unknown = flag.isna().to_numpy()
        rows.append(
            {
                "criterion": col.removeprefix(CRITERION_PREFIX),
                "share_met": _weighted_share(met, w),
                "share_not_met": _weighted_share(~met & ~unknown, w),
                "share_unknown": _weighted_share(unknown, w),
                "n_met": int(met.sum()),
                "n_unknown": int(unknown.sum()),
            }
        )
    by_criterion = pd.DataFrame(rows).set_index("criterion")
    any_unknown = (
        trace[crit_cols].isna().any(axis=1).to_numpy() if crit_cols else np.zeros(n, dtype=bool)
    )

    stage = trace["stage"].astype("string").to_numpy(dtype=object, na_value=None)
    stages = list(trace["stage"].cat.categories) if hasattr(trace["stage"], "cat") else sorted(
        set(stage)
    )
    by_stage = pd.DataFrame(
        {
            "n": [int((stage == s).sum()) for s in stages],
            "share": [_weighted_share(stage == s, w) for s in stages],
        },
        index=pd.Index(stages, name="stage"),
    )

    by_group = None
    if by is not None:
        if frame is None or by not in frame.columns:
            raise InputFileError(f"cannot summarise by {by!r}: the column is not in the data")
        if not frame.index.equals(trace.index):
            raise InputFileError("the trace and the household data must share one index")
        groups = frame[by].astype("string").fillna("(missing)").to_numpy(dtype=object)
        table = pd.DataFrame(
            {
                "group": groups,
                "w": w,
                "w_eligible": w * (verdict == "eligible"),
                "w_unknown": w * (verdict == "unknown"),
            }
        )
        agg = table.groupby("group", sort=True).agg(
            n=("w", "size"), w=("w", "sum"), e=("w_eligible", "sum"), u=("w_unknown", "sum")
        )
        by_group = pd.DataFrame(
            {
                "n": agg["n"].astype(int),
                "share_eligible": agg["e"] / agg["w"],
                "share_unknown": agg["u"] / agg["w"],
            }
        )
        by_group.index.name = by

    attrs = dict(trace.attrs)
    return RuleSummary(
        ruleset=attrs.get("ruleset"),
        as_of=attrs.get("as_of"),
        min_criteria_met=attrs.get("min_criteria_met"),
        n_households=n,
        weighted=weight is not None,
        overall=overall,
        by_criterion=by_criterion,
        by_stage=by_stage,
        by_group=by_group,
        n_with_unknown=int(any_unknown.sum()),
        attrs=attrs,
    )
