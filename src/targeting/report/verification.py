"""The report's view of uncertainty: borderline households and what field visits would correct.

From a decisions table with the calibrated welfare intervals (``status``, ``p_other_side``,
`targeting.pmt.borderline`): how many households are clearly in, clearly out or borderline, for the
registry and by kecamatan; and, where the truth is known (survey, synthetic registry), the curve of
errors left after N visits in the verification order (`targeting.verify`) against random visits,
the households nearest the cut-off and the oracle, with the table of persons corrected per 1,000
visits at a few budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targeting.decide import schema as s

__all__ = ["VerificationView", "verification_view"]

#: Visit budgets the report's table shows (those above the registry's size are left out).
BUDGETS = (500, 1_000, 2_000, 5_000, 10_000, 20_000)


@dataclass(frozen=True)
class VerificationView:
    """Status counts (households, persons) overall and by region; the visit curve where the truth is known."""

    statuses: pd.DataFrame
    region: str | None
    curve: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    before: dict[str, float] = field(default_factory=dict)


def selection_cut(pred_log: np.ndarray, selected: np.ndarray) -> float:
    """The predicted log welfare between the richest selected and the poorest not selected household."""
    if not selected.any() or selected.all():
        return float(np.nan)
    return 0.5 * float(pred_log[selected].max() + pred_log[~selected].min())


def verification_view(frame: pd.DataFrame, *, poor: np.ndarray | None = None, region: str | None = None,
                      max_visits: int | None = None) -> VerificationView | None:
    """The section's numbers, or None when the decisions carry no welfare intervals."""
    if s.STATUS not in frame.columns or s.P_OTHER_SIDE not in frame.columns:
        return None
    persons = frame[s.HOUSEHOLD_SIZE].to_numpy(dtype=np.float64) * frame[s.WEIGHT].to_numpy(dtype=np.float64)
    status = frame[s.STATUS].astype("string").fillna("-")
    groups = [("", np.full(len(frame), ""))]
    if region is not None and region in frame.columns:
        groups.append((region, frame[region].astype("string").fillna("-").to_numpy(dtype=object)))
    rows = []
    for by, labels in groups:
        for label in pd.unique(labels):
            m = labels == label
            row: dict[str, Any] = {"by": by or "all", "group": label, "households": int(m.sum())}
            for st in ("clearly_in", "borderline", "clearly_out"):
                hit = m & (status == st).to_numpy()
                row[st] = int(hit.sum())
                row[f"{st}_persons"] = float(persons[hit].sum())
            rows.append(row)
    statuses = pd.DataFrame(rows)
    if poor is None:
        return VerificationView(statuses, region)
    from targeting.verify import comparison_orders, simulate_visits, visit_curve

    selected = frame[s.SELECTED].to_numpy(dtype=bool)
    truth = np.asarray(poor, dtype=bool)
    cut = selection_cut(frame[s.PREDICTED_LOG].to_numpy(dtype=np.float64), selected)
    orders = comparison_orders(frame, cut=cut, eligible_true=truth)
    n = len(frame)
    top = n if max_visits is None else min(max_visits, n)
    curve = visit_curve(selected, truth, persons, orders, max_visits=top, points=41)
    budgets = [b for b in BUDGETS if b <= n] or [n]
    table = simulate_visits(selected, truth, persons, orders, budgets)
    poor_persons, selected_persons = persons[truth].sum(), persons[selected].sum()
    before = {
        "exclusion_error": float(persons[truth & ~selected].sum() / poor_persons) if poor_persons else np.nan,
        "inclusion_error": float(persons[selected & ~truth].sum() / selected_persons)
        if selected_persons else np.nan,
    }
    return VerificationView(statuses, region, curve, table, before)


def verification_context(view: VerificationView, t: Any, region_label: str) -> dict[str, Any]:
    """Rows and the figure the report's template prints."""

    def status_rows(by: str) -> list[dict[str, Any]]:
        sub = view.statuses[view.statuses["by"] == by]
        return [{"group": str(r["group"]), "households": t.num(r["households"]),
                 **{st: t.num(r[st]) for st in ("clearly_in", "borderline", "clearly_out")},
                 "borderline_share": t.pct(r["borderline"] / r["households"] if r["households"] else np.nan)}
                for r in sub.to_dict("records")]

    out: dict[str, Any] = {"overall": status_rows("all"), "by_region": [], "region_label": region_label,
                           "curve": None}
    if view.region is not None:
        out["by_region"] = status_rows(view.region)
    if view.curve is not None and view.table is not None:
        from targeting.report.figures import svg_data_uri
        from targeting.verify import visit_curve_figure

        random = view.table[view.table["ordering"] == "random"].set_index("visits")
        budgets = sorted(view.table["visits"].unique())
        rows = []
        for name, sub in view.table.groupby("ordering", sort=False):
            per = sub.set_index("visits")
            rows.append({"ordering": str(name), "cells": [
                {"per_1000": t.num(per.loc[b, "persons_corrected_per_1000_visits"]),
                 "x_random": t.num(per.loc[b, "persons_corrected_per_1000_visits"]
                                   / random.loc[b, "persons_corrected_per_1000_visits"], 1)
                 if random.loc[b, "persons_corrected_per_1000_visits"] else "-",
                 "exclusion": t.pct(per.loc[b, "exclusion_error"])}
                for b in budgets]})
        out["curve"] = {"figure": svg_data_uri(visit_curve_figure(view.curve)),
                        "budgets": [t.num(b) for b in budgets], "rows": rows,
                        "before_exclusion": t.pct(view.before.get("exclusion_error")),
                        "before_inclusion": t.pct(view.before.get("inclusion_error"))}
    return out
