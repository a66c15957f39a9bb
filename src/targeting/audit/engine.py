"""The one metrics engine: point estimates and bootstrap intervals of any set of selections and scores.

Both the audit (model, rules, model within rules on a decisions table) and the PMT's validation
(every backend at every coverage on out-of-sample predictions) describe what they measure as
*families* of metrics over the same households and run them here, on the same replicates:

* a family's point estimates come from the pure functions of :mod:`targeting.audit.metrics`;
* its replicates from the vectorised kernels of :mod:`targeting.audit.bootstrap`, which compute the
  same definitions for a whole block of replicate weights at once;
* replicates are Poisson(1) multipliers per sampling unit (household, or cluster when one is given),
  drawn once per run and shared by every family, so paired differences (a backend minus the
  baseline) have intervals of their own.

A family counts in the unit its weight says: survey weight for households, survey weight x
household size for persons (:mod:`targeting.pmt.design`); a selection is fixed (the decision made),
and only the weights are resampled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.audit import bootstrap as bs
from targeting.audit.metrics import (
    auc_weighted,
    cgh_indicator,
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    poor_coverage_rate,
    r2_weighted,
    spearman_weighted,
    targeting_differential,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Key = tuple[str, str]  # (subject, metric)
BlockFn = Callable[[FloatArray], dict[Key, FloatArray]]

#: Truth-based rate -> the metrics.py function that defines it.
RATE_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exclusion_error": exclusion_error_rate,
    "inclusion_error": inclusion_error_rate,
    "inclusion_error_nonpoor": inclusion_error_rate_nonpoor,
    "poor_coverage": poor_coverage_rate,
    "targeting_differential": targeting_differential,
}


@dataclass(frozen=True)
class Family:
    """Metrics computed together on one set of rows: estimates now, replicates per block.

    ``block`` receives the replicate *multipliers* of the family's rows (replicates x rows) and
    applies its own weights, so families counting persons and households can share replicates.
    """

    rows: IntArray | None  # None = every household
    estimates: dict[Key, float]
    block: BlockFn
    definitions: dict[Key, str] = field(default_factory=dict)
    weighted_total: float = float("nan")
    #: ``block`` takes the multipliers of *every* household and selects ``rows`` itself (the compiled
    #: rank kernels do, without a (replicates x rows) temporary).
    full_block: bool = False


def rows_of(mask: BoolArray) -> IntArray | None:
    """Row indices of a mask, or None when it keeps every row (no copy needed)."""
    return None if bool(mask.all()) else np.flatnonzero(mask)


def take(a: np.ndarray, rows: IntArray | None) -> np.ndarray:
    return a if rows is None else a[rows]


def coverage_family(selections: Mapping[str, BoolArray], weight: FloatArray) -> Family:
    """Coverage S / N of each selection (subject = selection name)."""
    names = list(selections)
    sels = np.stack([np.asarray(selections[s], dtype=bool) for s in names]).astype(np.float64)
    est = {(s, "coverage"): coverage_rate(sel, sel, sample_weight=weight)
           for s, sel in zip(names, sels.astype(bool), strict=True)}

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        W = m * weight
        cov = bs._div(W @ sels.T, W.sum(axis=1, keepdims=True))
        return {(s, "coverage"): cov[:, j] for j, s in enumerate(names)}

    return Family(None, est, block, weighted_total=float(weight.sum()))


def confusion_family(
    poor: BoolArray,
    known: BoolArray,
    selections: Mapping[str, BoolArray],
    weight: FloatArray,
    *,
    rates: Sequence[str] = tuple(RATE_FUNCTIONS),
    poverty_rate: Key | None = ("truth", "poverty_rate"),
) -> Family:
    """Confusion-based rates of each selection against the truth, on rows where the truth is known.

    ``poverty_rate`` names the key under which P / N is reported (None: not reported).
    """
    rows = rows_of(known)
    p = take(poor, rows)
    w = take(weight, rows)
    all_known = np.ones_like(p)
    est: dict[Key, float] = {}
    if poverty_rate is not None:
        est[poverty_rate] = coverage_rate(p, p, sample_weight=w)
    indicators = {}
    for s, selected in selections.items():
        sel = take(np.asarray(selected, dtype=bool), rows)
        est.update({(s, m): RATE_FUNCTIONS[m](p, sel, sample_weight=w) for m in rates})
        indicators[s] = bs.onehot(bs.confusion_codes(p, sel, all_known), bs.N_CELLS)

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        W = m * w
        out: dict[Key, FloatArray] = {}
        cells = None
        for s, ind in indicators.items():
            cells = bs.rates_from_cells(bs.code_sums(W, ind))
            out.update({(s, r): cells[r] for r in rates})
        if poverty_rate is not None:
            if cells is None:
                cells = bs.rates_from_cells(bs.code_sums(W, bs.onehot(2 * p.astype(np.int64), bs.N_CELLS)))
            out[poverty_rate] = cells["poverty_rate"]
        return out

    return Family(rows, est, block, weighted_total=float(w.sum()))


def spearman_family(
    welfare: FloatArray, scores: Mapping[str, FloatArray], weight: FloatArray, rows: IntArray | None,
    definitions: Mapping[Key, str] | None = None,
) -> Family:
    """Weighted Spearman correlation of measured welfare and each ranking score (on ``rows``)."""
    t, w = take(welfare, rows), take(weight, rows)
    tg = bs.tie_groups(t)
    sg = {s: bs.tie_groups(take(x, rows)) for s, x in scores.items()}
    est = {(s, "spearman"): spearman_weighted(t, take(x, rows), sample_weight=w) for s, x in scores.items()}

    r = np.arange(welfare.shape[0], dtype=np.int64) if rows is None else rows.astype(np.int64)

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        return {(s, "spearman"): bs.spearman_block(m, tg, g, rows=r, weight=w) for s, g in sg.items()}

    return Family(rows, est, block, dict(definitions or {}), weighted_total=float(w.sum()), full_block=True)


def auc_family(
    poor: BoolArray, scores: Mapping[str, FloatArray], weight: FloatArray, rows: IntArray | None,
    definitions: Mapping[Key, str] | None = None,
) -> Family:
    """Weighted AUC of ranking the poor below the non-poor, for each score (on ``rows``)."""
    p, w = take(poor, rows), take(weight, rows)
    ag = {s: bs.tie_groups(take(x, rows)) for s, x in scores.items()}
    est = {(s, "auc"): auc_weighted(p, take(x, rows), sample_weight=w) for s, x in scores.items()}

    r = np.arange(poor.shape[0], dtype=np.int64) if rows is None else rows.astype(np.int64)

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        return {(s, "auc"): bs.auc_block(m, p, g, rows=r, weight=w) for s, g in ag.items()}

    return Family(rows, est, block, dict(definitions or {}), weighted_total=float(w.sum()), full_block=True)


def r2_family(target: FloatArray, predictions: Mapping[str, FloatArray], weight: FloatArray,
              metric: str = "r2_log_welfare") -> Family:
    """Weighted R² of each prediction of ``target`` (log welfare for a PMT)."""
    est = {(s, metric): r2_weighted(target, p, sample_weight=weight) for s, p in predictions.items()}

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        W = m * weight
        return {(s, metric): bs.r2_block(W, target, p) for s, p in predictions.items()}

    return Family(None, est, block, weighted_total=float(weight.sum()))


def cgh_family(
    welfare: FloatArray, benefits: Mapping[str, BoolArray], weight: FloatArray, size: FloatArray,
    bottom_share: float, definition: str = "",
) -> Family | None:
    """CGH indicator of each selection (persons ranked by measured welfare; ``weight`` = households)."""
    rows = np.flatnonzero(np.isfinite(welfare))
    if rows.size == 0:
        return None
    y, w, sz = welfare[rows], weight[rows], size[rows]
    names = list(benefits)
    ben = np.stack([np.asarray(benefits[s], dtype=bool)[rows] for s in names]).astype(np.float64)
    groups = bs.tie_groups(y)
    est = {(s, "cgh"): cgh_indicator(y, ben[j], sample_weight=w, household_size=sz, bottom_share=bottom_share)
           for j, s in enumerate(names)}

    def block(m: FloatArray) -> dict[Key, FloatArray]:
        reps = bs.cgh_block(m, groups, ben, sz, bottom_share, rows=rows.astype(np.int64), weight=w)
        return {(s, "cgh"): reps[:, j] for j, s in enumerate(names)}

    return Family(rows, est, block, dict.fromkeys(est, definition), weighted_total=float(w.sum()),
                  full_block=True)


@dataclass(frozen=True)
class EngineResult:
    """Intervals of every family's metrics, and of the requested paired differences."""

    intervals: list[dict[Key, tuple[float, float]]]
    differences: dict[tuple[Key, Key], tuple[float, float]]


def run_families(
    families: Sequence[Family],
    n: int,
    *,
    n_boot: int,
    seed: int,
    confidence: float,
    cluster: npt.ArrayLike | None = None,
    pairs: Sequence[tuple[Key, Key]] = (),
) -> EngineResult:
    """Bootstrap every family on the same replicates.

    ``pairs`` lists (a, b) keys whose difference a − b gets its own percentile interval from the
    paired replicates (both keys must belong to some family).
    """
    reps: list[dict[Key, list[FloatArray]]] = [{k: [] for k in f.estimates} for f in families]
    for M in bs.replicate_blocks(np.ones(n), n_boot=n_boot, seed=seed, cluster=cluster):
        for fam, store in zip(families, reps, strict=True):
            out = fam.block(M if fam.rows is None or fam.full_block else np.take(M, fam.rows, axis=1))
            for k in store:
                store[k].append(np.asarray(out[k], dtype=np.float64))
    flat: dict[Key, FloatArray] = {}
    intervals: list[dict[Key, tuple[float, float]]] = []
    for store in reps:
        fam_ci: dict[Key, tuple[float, float]] = {}
        for k, chunks in store.items():
            if chunks:
                values = np.concatenate(chunks, axis=0)
                flat[k] = values
                low, high = bs.percentile_interval(values, confidence)
                fam_ci[k] = (float(low), float(high))
            else:
                fam_ci[k] = (float("nan"), float("nan"))
        intervals.append(fam_ci)
    differences: dict[tuple[Key, Key], tuple[float, float]] = {}
    for a, b in pairs:
        if a in flat and b in flat:
            low, high = bs.percentile_interval(flat[a] - flat[b], confidence)
            differences[a, b] = (float(low), float(high))
        else:
            differences[a, b] = (float("nan"), float("nan"))
    return EngineResult(intervals, differences)


def estimates_table(families: Sequence[Family], result: EngineResult) -> pd.DataFrame:
    """One row per (subject, metric): estimate, ci_low, ci_high, n_households, weighted_total."""
    records = []
    for fam, cis in zip(families, result.intervals, strict=True):
        n_rows = None if fam.rows is None else int(fam.rows.size)
        for (subject, metric), est in fam.estimates.items():
            low, high = cis[subject, metric]
            records.append({"subject": subject, "metric": metric, "estimate": float(est), "ci_low": low,
                            "ci_high": high, "definition": fam.definitions.get((subject, metric)),
                            "n_rows": n_rows, "weighted_total": fam.weighted_total})
    return pd.DataFrame.from_records(
        records, columns=["subject", "metric", "estimate", "ci_low", "ci_high", "definition", "n_rows",
                          "weighted_total"])
