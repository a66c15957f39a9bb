"""District-wide targeting metrics for the model, the rules and the model within the rules.

Point estimates come from :mod:`targeting.audit.metrics`; intervals from the vectorised bootstrap of
:mod:`targeting.audit.bootstrap`, which recomputes the same definitions on every replicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targeting.audit import bootstrap as bs
from targeting.audit.decisions import SUBJECTS, AuditData, BoolArray, FloatArray, IntArray, as_audit_data
from targeting.audit.definitions import (
    METRIC_DEFINITIONS,
    TRUTH_RATES,
    cgh_definition,
    rank_definition,
)
from targeting.audit.metrics import (
    auc_weighted,
    cgh_indicator,
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    poor_coverage_rate,
    spearman_weighted,
    targeting_differential,
)

#: Truth-based rate -> the metrics.py function that defines it.
RATE_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exclusion_error": exclusion_error_rate,
    "inclusion_error": inclusion_error_rate,
    "inclusion_error_nonpoor": inclusion_error_rate_nonpoor,
    "poor_coverage": poor_coverage_rate,
    "targeting_differential": targeting_differential,
}
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

Key = tuple[str, str]  # (subject, metric)
BlockFn = Callable[[FloatArray], dict[Key, FloatArray]]


@dataclass(frozen=True)
class _Family:
    """Metrics computed together on one set of rows: estimates now, replicates per block."""

    rows: IntArray | None  # None = every household
    estimates: dict[Key, float]
    block: BlockFn
    definitions: dict[Key, str] = field(default_factory=dict)


def _rows(mask: BoolArray) -> IntArray | None:
    return None if bool(mask.all()) else np.flatnonzero(mask)


def _take(a: np.ndarray, rows: IntArray | None) -> np.ndarray:
    return a if rows is None else a[rows]


def _block_cols(W: FloatArray, rows: IntArray | None) -> FloatArray:
    return W if rows is None else W[:, rows]


def _coverage_family(data: AuditData) -> _Family:
    sels = np.stack([data.selection(s) for s in SUBJECTS]).astype(np.float64)
    est = {
        (s, "coverage"): coverage_rate(sel, sel, sample_weight=data.weight)
        for s, sel in zip(SUBJECTS, sels.astype(bool), strict=True)
    }

    def block(W: FloatArray) -> dict[Key, FloatArray]:
        cov = bs._div(W @ sels.T, W.sum(axis=1, keepdims=True))
        return {(s, "coverage"): cov[:, j] for j, s in enumerate(SUBJECTS)}

    return _Family(None, est, block)


def _truth_family(data: AuditData) -> _Family:
    """Confusion rates of the three selections, and the poverty rate, on rows with a truth."""
    rows = _rows(data.truth_known)
    poor = _take(data.poor, rows)
    w = _take(data.weight, rows)
    all_known = np.ones_like(poor)
    est: dict[Key, float] = {("truth", "poverty_rate"): coverage_rate(poor, poor, sample_weight=w)}
    indicators = {}
    for s in SUBJECTS:
        sel = _take(data.selection(s), rows)
        est.update({(s, m): fn(poor, sel, sample_weight=w) for m, fn in RATE_FUNCTIONS.items()})
        indicators[s] = bs.onehot(bs.confusion_codes(poor, sel, all_known), bs.N_CELLS)

    def block(W: FloatArray) -> dict[Key, FloatArray]:
        out: dict[Key, FloatArray] = {}
        for s, ind in indicators.items():
            rates = bs.rates_from_cells(bs.code_sums(W, ind))
            out.update({(s, m): rates[m] for m in TRUTH_RATES})
        out["truth", "poverty_rate"] = rates["poverty_rate"]
        return out

    return _Family(rows, est, block)


def _agreement_family(data: AuditData) -> _Family:
    sel, elig, unknown = data.selected, data.eligible, data.rules_unknown
    w = data.weight
    est: dict[Key, float] = {
        ("model_vs_rules", "agreement"): 1.0 - coverage_rate(sel, sel != elig, sample_weight=w),
        ("model_vs_rules", "model_not_rules"): inclusion_error_rate(elig, sel, sample_weight=w),
        ("model_vs_rules", "rules_not_model"): exclusion_error_rate(elig, sel, sample_weight=w),
        ("model_vs_rules", "rules_unknown"): coverage_rate(unknown, unknown, sample_weight=w),
    }
    ind = bs.onehot(bs.confusion_codes(elig, sel, np.ones_like(sel)), bs.N_CELLS)

    def block(W: FloatArray) -> dict[Key, FloatArray]:
        rates = bs.rates_from_cells(bs.code_sums(W, ind))
        return {
            ("model_vs_rules", "agreement"): rates["agreement"],
            ("model_vs_rules", "model_not_rules"): rates["inclusion_error"],
            ("model_vs_rules", "rules_not_model"): rates["exclusion_error"],
            ("model_vs_rules", "rules_unknown"): bs._div(W @ unknown.astype(np.float64), W.sum(axis=1)),
        }

    return _Family(None, est, block)


def _rank_families(data: AuditData) -> list[_Family]:
    """Spearman (rows with measured welfare) and AUC (rows with a truth) of each ranking score.

    The model ranks by predicted welfare; the rules, when criteria are given, by the number of
    criteria met (more = poorer). The model within the rules keeps the model's ranking.
    """
    scores: dict[str, FloatArray] = {"model": data.predicted}
    if data.criteria:
        scores["rules"] = -data.n_met.astype(np.float64)
    fams: list[_Family] = []
    defs = {
        (s, m): f"{METRIC_DEFINITIONS[m]}; {rank_definition(s)}" for s in scores for m in ("spearman", "auc")
    }
    has_welfare = data.truth_known & np.isfinite(data.welfare_true)
    if has_welfare.any():
        rows_s = np.flatnonzero(has_welfare)
        t, w = data.welfare_true[rows_s], data.weight[rows_s]
        tg = bs.tie_groups(t)
        sg = {s: bs.tie_groups(x[rows_s]) for s, x in scores.items()}
        est = {(s, "spearman"): spearman_weighted(t, x[rows_s], sample_weight=w) for s, x in scores.items()}

        def block_s(W: FloatArray) -> dict[Key, FloatArray]:
            return {(s, "spearman"): bs.spearman_block(W, tg, g) for s, g in sg.items()}

        fams.append(_Family(rows_s, est, block_s, {k: defs[k] for k in est}))
    if data.has_truth:
        rows_a = np.flatnonzero(data.truth_known)
        poor, w_a = data.poor[rows_a], data.weight[rows_a]
        ag = {s: bs.tie_groups(x[rows_a]) for s, x in scores.items()}
        est_a = {(s, "auc"): auc_weighted(poor, x[rows_a], sample_weight=w_a) for s, x in scores.items()}

        def block_a(W: FloatArray) -> dict[Key, FloatArray]:
            return {(s, "auc"): bs.auc_block(W, poor, g) for s, g in ag.items()}

        fams.append(_Family(rows_a, est_a, block_a, {k: defs[k] for k in est_a}))
    return fams


def _cgh_family(data: AuditData, bottom_share: float) -> _Family | None:
    """CGH indicator of the three selections (one shared ranking of persons by welfare)."""
    rows = np.flatnonzero(np.isfinite(data.welfare_true))
    if rows.size == 0:
        return None
    y, w, size = data.welfare_true[rows], data.weight[rows], data.size[rows]
    benefits = np.stack([data.selection(s)[rows] for s in SUBJECTS]).astype(np.float64)
    groups = bs.tie_groups(y)
    est = {
        (s, "cgh"): cgh_indicator(
            y, benefits[j], sample_weight=w, household_size=size, bottom_share=bottom_share
        )
        for j, s in enumerate(SUBJECTS)
    }

    def block(W: FloatArray) -> dict[Key, FloatArray]:
        reps = bs.cgh_block(W, groups, benefits, size, bottom_share)
        return {(s, "cgh"): reps[:, j] for j, s in enumerate(SUBJECTS)}

    return _Family(rows, est, block, {k: cgh_definition(bottom_share) for k in est})


def _families(data: AuditData, bottom_share: float) -> list[_Family]:
    fams = [_coverage_family(data)]
    if data.has_truth:
        fams.append(_truth_family(data))
    fams.extend(_rank_families(data))
    cgh = _cgh_family(data, bottom_share)
    if cgh is not None:
        fams.append(cgh)
    fams.append(_agreement_family(data))
    return fams


def run_families(
    data: AuditData,
    families: list[_Family],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
    cluster: str | None,
) -> list[dict[Key, tuple[FloatArray, FloatArray]]]:
    """Bootstrap every family on the same replicates; per family, key -> (ci_low, ci_high)."""
    reps: list[dict[Key, list[FloatArray]]] = [{k: [] for k in f.estimates} for f in families]
    clusters = None if cluster is None else data.frame[cluster].to_numpy()
    for W in bs.replicate_blocks(data.weight, n_boot=n_boot, seed=seed, cluster=clusters):
        for fam, store in zip(families, reps, strict=True):
            out = fam.block(_block_cols(W, fam.rows))
            for k in store:
                store[k].append(np.asarray(out[k], dtype=np.float64))
    result: list[dict[Key, tuple[FloatArray, FloatArray]]] = []
    nan = np.asarray(np.nan)
    for store in reps:
        result.append(
            {
                k: bs.percentile_interval(np.concatenate(chunks, axis=0), confidence)
                if chunks
                else (nan, nan)
                for k, chunks in store.items()
            }
        )
    return result


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
    cis = run_families(data, families, n_boot=n_boot, seed=seed, confidence=confidence, cluster=cluster)
    records: list[dict[str, object]] = []
    for fam, fam_ci in zip(families, cis, strict=True):
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
    order = {s: i for i, s in enumerate((*SUBJECTS, "model_vs_rules", "truth"))}
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
    }
    return table


def metric_value(table: pd.DataFrame, subject: str, metric: str) -> float:
    """One estimate from an :func:`audit_metrics` table (nan if absent)."""
    hit = table[(table["subject"] == subject) & (table["metric"] == metric)]
    return float(hit["estimate"].iloc[0]) if len(hit) else float("nan")
