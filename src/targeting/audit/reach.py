"""Who each programme reaches, where the rules cannot decide, and how a new list differs from the current one.

Three tables the report shows in programme terms (point estimates; the intervals are the metrics'):

* :func:`programme_reach`: households and persons each programme's desil range reaches (PKH desil 1-4,
  Sembako and PBI-JK desil 1-5, ...), and the selections audited (model, rules, model within rules),
  with the poor they reach and the non-poor they include where welfare was measured;
* :func:`unknown_verdicts`: households whose rule verdict is left open by missing answers, by
  kecamatan (a risk: they count as not eligible, and they concentrate where data collection is hard);
* :func:`beneficiary_changes`: given the current beneficiaries (KPM), who the model and the rules
  would add and remove, by kecamatan and group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from targeting.audit.decisions import CRITERION_PREFIX, AuditData, as_audit_data
from targeting.decide.schema import PROGRAM_PREFIX

REACH_COLUMNS: tuple[str, ...] = (
    "key", "kind", "desil_min", "desil_max", "households", "weighted_households", "persons", "coverage",
    "poor_reached", "poor_coverage", "inclusion_error", "is_selection",
)  # fmt: skip
UNKNOWN_COLUMNS: tuple[str, ...] = (
    "group",
    "n_households",
    "n_unknown",
    "share_unknown",
    "ratio_to_overall",
    "risk",
    "criteria",
)
CHANGE_COLUMNS: tuple[str, ...] = (
    "grouping", "group", "n_households", "current", "model_selected", "model_keep", "model_add",
    "model_remove", "rules_eligible", "rules_add", "rules_remove", "persons_current", "persons_model_add",
    "persons_model_remove",
)  # fmt: skip


def _reach_row(data: AuditData, mask: np.ndarray, key: str, kind: str, **extra: Any) -> dict[str, Any]:
    w, rw, pers = data.weight, data.rate_weight, data.weight * data.size
    known = data.truth_known
    total = float(rw.sum())
    row: dict[str, Any] = {
        "key": key, "kind": kind, "desil_min": None, "desil_max": None,
        "households": int(mask.sum()), "weighted_households": float(w[mask].sum()),
        "persons": float(pers[mask].sum()),
        "coverage": float(rw[mask].sum()) / total if total > 0 else np.nan,
        "poor_reached": np.nan, "poor_coverage": np.nan, "inclusion_error": np.nan, "is_selection": False,
    }  # fmt: skip
    if data.has_truth:
        poor = data.poor & known
        poor_total = float(rw[poor].sum())
        sel_known = float(rw[mask & known].sum())
        row["poor_reached"] = float(rw[mask & poor].sum())
        row["poor_coverage"] = row["poor_reached"] / poor_total if poor_total > 0 else np.nan
        row["inclusion_error"] = (
            float(rw[mask & known & ~poor].sum()) / sel_known if sel_known > 0 else np.nan
        )
    row.update(extra)
    return row


def programme_reach(
    decisions: pd.DataFrame | AuditData,
    programs: Mapping[str, Mapping[str, Any]] | None = None,
    selection: str | None = None,
) -> pd.DataFrame:
    """One row per programme (its ``program_<id>`` column) and per selection audited.

    ``programs`` is the table's own programme description (``DecisionsMeta.programs``: names and
    desil ranges); ``selection`` the programme the model's selection is (``DecisionsMeta.selection``).
    Counts: ``households`` (rows), ``weighted_households``, ``persons``; rates (``coverage``,
    ``poor_coverage`` = P∧S / P, ``inclusion_error`` = S∧¬P / S) count the audit's unit.
    """
    data = as_audit_data(decisions)
    frame = data.frame
    rows = []
    for col in [c for c in frame.columns if str(c).startswith(PROGRAM_PREFIX)]:
        key = str(col)[len(PROGRAM_PREFIX) :]
        mask = frame[col].astype("boolean").fillna(False).to_numpy(dtype=bool)
        spec = (programs or {}).get(key, {})
        rows.append(
            _reach_row(
                data,
                mask,
                key,
                "program",
                desil_min=spec.get("desil_min"),
                desil_max=spec.get("desil_max"),
                is_selection=key == selection,
            )
        )
    for subject in data.subjects:
        rows.append(_reach_row(data, data.selection(subject), subject, "subject"))
    return (
        pd.DataFrame.from_records(rows, columns=list(REACH_COLUMNS))
        if rows
        else pd.DataFrame(columns=list(REACH_COLUMNS))
    )


def unknown_verdicts(
    decisions: pd.DataFrame | AuditData,
    by: str = "kecamatan",
    *,
    risk_ratio: float = 2.0,
    min_unknown: int = 10,
) -> pd.DataFrame:
    """Households whose rule verdict is ``unknown``, per group of ``by`` (households, not persons).

    ``risk`` marks a group whose share is at least ``risk_ratio`` times the overall share with at
    least ``min_unknown`` such households; ``criteria`` lists the criteria left unanswered among
    them, most frequent first ("h: 120; c: 31"). The last row (``group`` = ``__all__``) is the total.
    Empty without a rule set or without the column.
    """
    data = as_audit_data(decisions)
    if not data.has_rules or by not in data.frame.columns:
        return pd.DataFrame(columns=list(UNKNOWN_COLUMNS))
    unknown = data.rules_unknown
    frame = data.frame
    groups = frame[by].astype("string").fillna("NA")
    crit_na = {c: frame[CRITERION_PREFIX + c].isna().to_numpy() & unknown for c in data.criteria}
    overall = float(unknown.mean()) if data.n else np.nan

    def criteria_text(mask: np.ndarray) -> str:
        counts = sorted(((int((v & mask).sum()), c) for c, v in crit_na.items()), reverse=True)
        return "; ".join(f"{c}: {n:,}" for n, c in counts if n > 0)

    rows = []
    for g in sorted(groups.unique()):
        mask = (groups == g).to_numpy()
        n, k = int(mask.sum()), int((unknown & mask).sum())
        share = k / n if n else np.nan
        ratio = share / overall if overall > 0 else np.nan
        rows.append({"group": g, "n_households": n, "n_unknown": k, "share_unknown": share,
                     "ratio_to_overall": ratio, "risk": bool(k >= min_unknown and ratio >= risk_ratio),
                     "criteria": criteria_text(mask)})  # fmt: skip
    rows.sort(key=lambda r: -np.nan_to_num(r["share_unknown"]))
    rows.append({"group": "__all__", "n_households": data.n, "n_unknown": int(unknown.sum()),
                 "share_unknown": overall, "ratio_to_overall": 1.0, "risk": False,
                 "criteria": criteria_text(np.ones(data.n, dtype=bool))})  # fmt: skip
    return pd.DataFrame.from_records(rows, columns=list(UNKNOWN_COLUMNS))


def beneficiary_changes(
    decisions: pd.DataFrame | AuditData, current: np.ndarray, by: Sequence[str] | None = None
) -> pd.DataFrame:
    """Current beneficiaries against the model's selection and the rules' eligibility, by group.

    ``current`` marks each household of the table that is on the current list (KPM). Per group (and
    the district, ``grouping`` = ``__all__``): households, current beneficiaries, the model's
    selection with who it keeps, adds and removes, the same for the rules' eligible, and persons.
    """
    data = as_audit_data(decisions)
    cur = np.asarray(current, dtype=bool)
    if cur.shape[0] != data.n:
        raise ValueError(f"current has {cur.shape[0]} entries for {data.n} households")
    sel = data.selected
    elig = data.eligible if data.has_rules else np.zeros(data.n, dtype=bool)
    pers = data.weight * data.size

    def row(grouping: str, group: str, mask: np.ndarray) -> dict[str, Any]:
        c, s, e = cur & mask, sel & mask, elig & mask
        return {
            "grouping": grouping, "group": group, "n_households": int(mask.sum()), "current": int(c.sum()),
            "model_selected": int(s.sum()), "model_keep": int((c & s).sum()),
            "model_add": int((s & ~c).sum()),
            "model_remove": int((c & ~s).sum()),
            "rules_eligible": int(e.sum()) if data.has_rules else np.nan,
            "rules_add": int((e & ~c).sum()) if data.has_rules else np.nan,
            "rules_remove": int((c & ~e).sum()) if data.has_rules else np.nan,
            "persons_current": float(pers[c].sum()), "persons_model_add": float(pers[s & ~c].sum()),
            "persons_model_remove": float(pers[c & ~s].sum()),
        }  # fmt: skip

    rows = [row("__all__", "__all__", np.ones(data.n, dtype=bool))]
    for attr in by if by is not None else data.group_columns():
        if attr not in data.frame.columns:
            continue
        values = data.frame[attr].astype("string").fillna("NA")
        for g in sorted(values.unique()):
            rows.append(row(attr, str(g), (values == g).to_numpy()))
    return pd.DataFrame.from_records(rows, columns=list(CHANGE_COLUMNS))
