"""One call that runs the whole audit and keeps every table it produced, JSON-serialisable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targeting.audit.compare import compare, criteria_profile, flagged_households
from targeting.audit.decisions import AuditData, as_audit_data
from targeting.audit.groups import MinCell, group_metrics
from targeting.audit.overall import (
    DEFAULT_BOTTOM_SHARE,
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    audit_metrics,
    metric_value,
)
from targeting.audit.ranking import decile_confusion, targeting_curve
from targeting.audit.reach import beneficiary_changes, programme_reach, unknown_verdicts
from targeting.decide.schema import DecisionsMeta
from targeting.pmt.design import Unit

#: Headline numbers of the report's summary: key -> (subject, metric) in the metrics table.
SUMMARY_METRICS: dict[str, tuple[str, str]] = {
    "model.coverage": ("model", "coverage"),
    "rules.coverage": ("rules", "coverage"),
    "model_within_rules.coverage": ("model_within_rules", "coverage"),
    "truth.poverty_rate": ("truth", "poverty_rate"),
    "model.exclusion_error": ("model", "exclusion_error"),
    "model.inclusion_error": ("model", "inclusion_error"),
    "model.inclusion_error_nonpoor": ("model", "inclusion_error_nonpoor"),
    "rules.exclusion_error": ("rules", "exclusion_error"),
    "rules.inclusion_error": ("rules", "inclusion_error"),
    "model_within_rules.exclusion_error": ("model_within_rules", "exclusion_error"),
    "model_within_rules.inclusion_error": ("model_within_rules", "inclusion_error"),
    "model.spearman": ("model", "spearman"),
    "model.auc": ("model", "auc"),
    "model_vs_rules.agreement": ("model_vs_rules", "agreement"),
    "model_vs_rules.model_not_rules": ("model_vs_rules", "model_not_rules"),
    "model_vs_rules.rules_not_model": ("model_vs_rules", "rules_not_model"),
}


@dataclass(frozen=True)
class AuditResult:
    """Every table of one audit (see the functions that make them).

    Attributes
    ----------
    metrics : :func:`~targeting.audit.overall.audit_metrics`.
    groups : :func:`~targeting.audit.groups.group_metrics`.
    flags : :func:`~targeting.audit.compare.compare` (every household; NIK pseudonymised).
    flagged : the flagged rows, in field-verification order.
    deciles : :func:`~targeting.audit.ranking.decile_confusion`.
    curve : :func:`~targeting.audit.ranking.targeting_curve`.
    criteria : :func:`~targeting.audit.compare.criteria_profile`.
    settings : parameters of the run (replicates, seed, minimum cell, ...).
    programmes : :func:`~targeting.audit.reach.programme_reach` (each programme and selection).
    unknowns : :func:`~targeting.audit.reach.unknown_verdicts` by kecamatan.
    changes : :func:`~targeting.audit.reach.beneficiary_changes` against the current beneficiaries
        (empty unless they were given); ``settings["current"]`` says how many matched.
    """

    metrics: pd.DataFrame
    groups: pd.DataFrame
    flags: pd.DataFrame
    flagged: pd.DataFrame
    deciles: pd.DataFrame
    curve: pd.DataFrame
    criteria: pd.DataFrame
    n_households: int
    weighted_households: float
    weighted_persons: float
    has_truth: bool
    n_truth: int
    settings: dict[str, Any] = field(default_factory=dict)
    programmes: pd.DataFrame = field(default_factory=pd.DataFrame)
    unknowns: pd.DataFrame = field(default_factory=pd.DataFrame)
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> dict[str, float]:
        """Headline numbers (the report's summary shows exactly these; nan if not computed)."""
        out = {k: metric_value(self.metrics, s, m) for k, (s, m) in SUMMARY_METRICS.items()}
        out["households"] = float(self.n_households)
        out["weighted_households"] = float(self.weighted_households)
        out["weighted_persons"] = float(self.weighted_persons)
        out["households_with_truth"] = float(self.n_truth)
        out["flagged"] = float(len(self.flagged))
        for flag in ("exclusion_error", "inclusion_error", "model_not_rules", "rules_not_model"):
            out[f"flagged.{flag}"] = float(self.flags[flag].to_numpy(dtype=bool, na_value=False).sum())
        out["rules_unknown"] = float(self.flags["rules_unknown"].sum())
        return out

    def to_dict(self, *, include_households: bool = False) -> dict[str, Any]:
        """Plain JSON-serialisable form (``nan`` -> None); household rows only if asked."""
        out: dict[str, Any] = {
            "summary": self.summary(),
            "settings": self.settings,
            "has_truth": self.has_truth,
            "metrics": _records(self.metrics),
            "groups": _records(self.groups),
            "deciles": _records(self.deciles.reset_index()),
            "curve": _records(self.curve),
            "criteria": _records(self.criteria.reset_index()),
            "programmes": _records(self.programmes),
            "unknowns": _records(self.unknowns),
            "changes": _records(self.changes),
        }
        if include_households:
            out["flagged"] = _records(self.flagged)
        return _plain(out)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """Recursively turn numpy/pandas scalars into JSON types; nan and NA into None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_audit(
    decisions: pd.DataFrame | AuditData,
    *,
    key: bytes | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    bottom_share: float = DEFAULT_BOTTOM_SHARE,
    groups: Sequence[str] | None = None,
    intersections: bool = True,
    min_cell: MinCell | None = None,
    cluster: str | None = None,
    unit: Unit = "person",
    meta: DecisionsMeta | None = None,
    pseudonymize_household_id: bool = False,
    current: np.ndarray | None = None,
    current_info: dict[str, Any] | None = None,
    metrics: Future[pd.DataFrame] | None = None,
) -> AuditResult:
    """The whole audit: metrics, groups, flags, deciles, targeting curve, criteria profile.

    ``unit`` (persons or households) is what every share and rate counts; ``meta`` is the
    decisions table's own description (its groups, truth, selection); ``current`` marks the
    households on the current beneficiary list (KPM), ``current_info`` describes that list (file,
    ids given, matched). ``metrics`` is :func:`audit_metrics` of the same data and settings already
    running elsewhere (a thread: its bootstrap releases the GIL), waited for after everything else.
    Other parameters as in :func:`audit_metrics`, :func:`group_metrics` and :func:`compare`.
    """
    data = decisions if isinstance(decisions, AuditData) else as_audit_data(decisions, unit=unit, meta=meta)
    rule = min_cell or MinCell()
    flags = compare(data, key=key, pseudonymize_household_id=pseudonymize_household_id)
    return AuditResult(
        groups=group_metrics(
            data,
            by=groups,
            intersections=intersections,
            min_cell=rule,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
            cluster=cluster,
        ),
        flags=flags,
        flagged=flagged_households(flags),
        deciles=decile_confusion(data),
        curve=targeting_curve(data),
        criteria=criteria_profile(data),
        programmes=programme_reach(
            data,
            programs=meta.programs if meta is not None else None,
            selection=(meta.selection or {}).get("program") if meta is not None else None,
        ),
        unknowns=unknown_verdicts(data, by=meta.region if meta is not None and meta.region else "kecamatan"),
        changes=beneficiary_changes(data, current) if current is not None else pd.DataFrame(),
        n_households=data.n,
        weighted_households=float(data.weight.sum()),
        weighted_persons=float((data.weight * data.size).sum()),
        has_truth=data.has_truth,
        n_truth=int(data.truth_known.sum()),
        settings={
            "n_boot": n_boot,
            "seed": seed,
            "confidence": confidence,
            "cluster": cluster,
            "bottom_share": bottom_share,
            "min_cell": rule.to_dict(),
            "groups": list(data.group_columns(groups)),
            "missing_groups": [g for g in (groups or ()) if g not in data.frame.columns],
            "unit": data.unit,
            "has_rules": data.has_rules,
            "intersections": intersections,
            "criteria": list(data.criteria),
            "bootstrap_unit": cluster or "household",
            "registry": bool(np.allclose(data.weight, 1.0)),
            "current": dict(current_info or {}) if current is not None else None,
        },
        # Last (arguments are evaluated in order): a bootstrap running in another thread is waited
        # for only once everything above is done.
        metrics=metrics.result() if metrics is not None else audit_metrics(
            data,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
            bottom_share=bottom_share,
            cluster=cluster,
        ),
    )
