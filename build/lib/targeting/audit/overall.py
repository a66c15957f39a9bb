"""District-wide targeting metrics for the model, the rules and the model within the rules.

The metrics are families of :mod:`targeting.audit.engine` (the project's one metrics engine, which
the PMT's validation uses too): point estimates from :mod:`targeting.audit.metrics`, intervals from
the vectorised bootstrap that recomputes the same definitions on every replicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.audit import bootstrap as bs
from targeting.audit import engine
from targeting.audit.decisions import AuditData, FloatArray, as_audit_data
from targeting.audit.definitions import (
    METRIC_DEFINITIONS,
    TRUTH_RATES,
    cgh_definition,
    rank_definition,
)
from targeting.audit.engine import RATE_FUNCTIONS
from targeting.audit.metrics import coverage_rate, exclusion_error_rate, inclusion_error_rate

METRICS_COLUMNS: tuple[str, ...] = (
    "subject",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "definition",
    "n_households",
    "weighted_households",
)
DEFAULT_N_BOOT = 200
DEFAULT_SEED = 2024
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOTTOM_SHARE = 0.4

__all__ = ["RATE_FUNCTIONS", "audit_metrics", "metric_value"]


def _agreement_family(data: AuditData, w: FloatArray) -> engine.Family:
    """Model–rules agreement: the rules' verdict in the place of the truth, every household."""
    sel, elig, unknown = data.selected, data.eligible, data.rules_unknown
    est: dict[engine.Key, float] = {
        ("model_vs_rules", "agreement"): 1.0 - coverage_rate(sel, sel != elig, sample_weight=w),
        ("model_vs_rules", "model_not_rules"): inclusion_error_rate(elig, sel, sample_weight=w),
        ("model_vs_rules", "rules_not_model"): exclusion_error_rate(elig, sel, sample_weight=w),
        ("model_vs_rules", "rules_unknown"): coverage_rate(unknown, unknown, sample_weight=w),
    }
    ind = bs.onehot(bs.confusion_codes(elig, sel, np.ones_like(sel)), bs.N_CELLS)

    def block(m: FloatArray) -> dict[engine.Key, FloatArray]:
        W = m * w
        rates = bs.rates_from_cells(bs.code_sums(W, ind))
        return {
            ("model_vs_rules", "agreement"): rates["agreement"],
            ("model_vs_rules", "model_not_rules"): rates["inclusion_error"],
            ("model_vs_rules", "rules_not_model"): rates["exclusion_error"],
            ("model_vs_rules", "rules_unknown"): bs._div(W @ unknown.astype(np.float64), W.sum(axis=1)),
        }

    return engine.Family(None, est, block, weighted_total=float(w.sum()))


def _families(data: AuditData, bottom_share: float) -> list[engine.Family]:
    w = data.rate_weight
    subjects = data.subjects
    selections = {s: data.selection(s) for s in subjects}
    fams = [engine.coverage_family(selections, w)]
    if data.has_truth:
        fams.append(engine.confusion_family(data.poor, data.truth_known, selections, w,
                                            rates=TRUTH_RATES))
    # Ranking scores: the model by predicted welfare; the rules, when criteria are given, by the
    # number of criteria met (more = poorer). The model within the rules keeps the model's ranking.
    scores: dict[str, FloatArray] = {"model": data.predicted}
    if data.has_rules and data.criteria:
        scores["rules"] = -data.n_met.astype(np.float64)
    defs = {(s, m): f"{METRIC_DEFINITIONS[m]}; {rank_definition(s)}"
            for s in scores for m in ("spearman", "auc")}
    has_welfare = data.truth_known & np.isfinite(data.welfare_true)
    if has_welfare.any():
        fams.append(engine.spearman_family(data.welfare_true, scores, w, np.flatnonzero(has_welfare), defs))
    if data.has_truth:
        fams.append(engine.auc_family(data.poor, scores, w, np.flatnonzero(data.truth_known), defs))
    cgh = engine.cgh_family(data.welfare_true, selections, data.weight, data.size, bottom_share,
                            cgh_definition(bottom_share))
    if cgh is not None:
        fams.append(cgh)
    if data.has_rules:
        fams.append(_agreement_family(data, w))
    return fams


def audit_metrics(
    decisions: pd.DataFrame | AuditData,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    bottom_share: float = DEFAULT_BOTTOM_SHARE,
    cluster: str | None = None,
) -> pd.DataFrame:
    """Survey-weighted targeting metrics with bootstrap intervals, as a tidy table.

    Parameters
    ----------
    decisions : the decisions frame (or an :class:`AuditData` already checked).
    n_boot : bootstrap replicates (0 = no intervals).
    seed : seed of the replicate multipliers (same seed, same intervals).
    confidence : two-sided percentile interval level.
    bottom_share : q of the CGH indicator (share of persons counted as the target group).
    cluster : column of sampling clusters (PSU) to resample whole clusters; default: households.

    Returns
    -------
    DataFrame with one row per (subject, metric): ``subject`` in ``model``, ``rules``,
    ``model_within_rules`` (the three selections), ``model_vs_rules`` (agreement) and ``truth``
    (poverty rate); ``estimate``, ``ci_low``, ``ci_high``, ``definition`` (always naming which
    inclusion error), ``n_households`` (sample rows used) and ``weighted_households``.
    Truth-based rows are absent when no household has a measured truth; rank metrics (Spearman,
    AUC) are given for the model and, by criteria count, for the rules.
    """
    data = as_audit_data(decisions)
    families = _families(data, bottom_share)
    clusters = None if cluster is None else data.frame[cluster].to_numpy()
    run = engine.run_families(families, data.n, n_boot=n_boot, seed=seed, confidence=confidence,
                              cluster=clusters)
    records: list[dict[str, object]] = []
    for fam, fam_ci in zip(families, run.intervals, strict=True):
        n = data.n if fam.rows is None else int(fam.rows.size)
        wn = float(data.weight.sum() if fam.rows is None else data.weight[fam.rows].sum())
        for (subject, metric), est in fam.estimates.items():
            low, high = fam_ci[subject, metric]
            records.append(
                {
                    "subject": subject,
                    "metric": metric,
                    "estimate": float(est),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "definition": fam.definitions.get((subject, metric), METRIC_DEFINITIONS[metric]),
                    "n_households": n,
                    "weighted_households": wn,
                }
            )
    order = {s: i for i, s in enumerate(("model", "rules", "model_within_rules", "model_vs_rules", "truth"))}
    metric_order = {m: i for i, m in enumerate(METRIC_DEFINITIONS)}
    records.sort(key=lambda r: (order[str(r["subject"])], metric_order[str(r["metric"])]))
    table = pd.DataFrame.from_records(records, columns=list(METRICS_COLUMNS))
    table.attrs = {
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "bottom_share": bottom_share,
        "cluster": cluster,
        "has_truth": data.has_truth,
        "unit": data.unit,
    }
    return table


def metric_value(table: pd.DataFrame, subject: str, metric: str) -> float:
    """One estimate from an :func:`audit_metrics` table (nan if absent)."""
    hit = table[(table["subject"] == subject) & (table["metric"] == metric)]
    return float(hit["estimate"].iloc[0]) if len(hit) else float("nan")
