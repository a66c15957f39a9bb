"""Honest out-of-sample validation of PMT backends: grouped k-fold and temporal, with bootstrap CIs.

Protocol
--------
* Target: log per-capita welfare. Models are fitted with survey weights and the sampling clusters as
  ``groups``, so all tuning, early stopping and stacking happen inside the training part only; the
  test fold (or test year) is touched once, to predict.
* K-fold folds hold whole clusters (``GroupKFold`` with shuffling, seeded) when the survey has
  clusters, so neighbours of a test household never train its model.
* Poor: ``SurveyData.poor`` if the survey ships it, else welfare < poverty line, else the bottom
  ``poor_share`` of true welfare (:data:`DEFAULT_POOR_SHARE` if not given). An explicit
  ``poor_share`` overrides the line.
* Unit: by default every share and rate counts **persons** (survey weight x household size):
  coverage is a population share (as DTSEN deciles are), the poverty rate is a headcount rate and
  the error rates are shares of poor/selected/non-poor persons. ``unit="household"`` counts
  households (survey weight only) throughout.
* Metrics on the pooled out-of-fold predictions: weighted Spearman, R² of log welfare, AUC of the
  poor/non-poor split, and at each coverage (the poverty rate, 20%, 30%, 40%): exclusion error
  (P∧¬S/P), inclusion error beneficiary-based (S∧¬P/S) and non-poor-based (S∧¬P/¬P). The
  selection rule ``"poverty_line"`` instead selects households whose *predicted* welfare is below
  their poverty line (coverage is then whatever share that selects): the rule under which a
  mean-regression PMT is known to exclude many of the poor (Brown, Ravallion & van de Walle 2018).
* Metrics come from the audit's engine (:mod:`targeting.audit.engine`), the project's one metrics
  engine: a backend's exclusion error at a coverage is what the audit reports for that selection.
* Confidence intervals: Poisson bootstrap over clusters (households if none) of the pooled
  predictions, with each selection fixed as made, vectorised over replicates. They capture sampling
  variation of the evaluation sample, not refitting variation. Differences to the baseline are
  paired (same replicates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold

from targeting.errors import SpecError
from targeting.pmt.design import (
    DEFAULT_POOR_SHARE,
    Unit,
    check_unit,
    design_frame,
    log_welfare,
    poor_flags,
    size_feature,
    target,
)
from targeting.pmt.estimator import PMTRegressor
from targeting.pmt.ranking import population_shares
from targeting.survey.dataset import SurveyData

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Coverage = float | Literal["poverty_rate", "poverty_line"]

__all__ = [
    "DEFAULT_COVERAGES",
    "DEFAULT_POOR_SHARE",
    "ValidationResult",
    "compare_backends",
    "cross_validate",
    "design_frame",
    "evaluate_predictions",
    "log_welfare",
    "make_estimators",
    "plot_targeting_curve",
    "poor_flags",
    "size_feature",
    "targeting_curve",
    "temporal_validation",
]

DEFAULT_COVERAGES: tuple[Coverage, ...] = ("poverty_rate", 0.2, 0.3, 0.4, "poverty_line")
DEFAULT_BACKENDS: tuple[str, ...] = ("ols", "lightgbm", "quantile", "ensemble")
CURVE_COVERAGES: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
RANK_METRICS = ("spearman", "r2_log_welfare", "auc_poor")
COVERAGE_METRICS = ("exclusion_error", "inclusion_error", "inclusion_error_nonpoor")
# Relative fitting cost of each backend (to schedule parallel folds).
_COST = {"ensemble": 8, "quantile": 4, "lightgbm": 2, "ols": 1}


@dataclass(frozen=True)
class ValidationResult:
    """Tidy metrics table plus the out-of-fold (or out-of-period) prediction of every household.

    ``table`` columns: dataset, backend, metric, coverage, coverage_label, estimate, ci_low,
    ci_high, diff_vs_baseline, diff_ci_low, diff_ci_high. ``predictions`` columns: household_id,
    fold, region, cluster, weight, household_size, log_welfare, poor, poverty_line (NaN if none),
    then ``pred_<backend>`` (predicted log per-capita welfare) for each backend.
    """

    dataset: str
    backends: tuple[str, ...]
    baseline: str
    unit: Unit
    poverty_rate: float
    table: pd.DataFrame
    predictions: pd.DataFrame

    def records(self) -> list[dict[str, Any]]:
        """The table as JSON-friendly records (NaN becomes None), e.g. for a model card."""
        clean = self.table.astype(object).where(self.table.notna(), None)
        return [dict(r) for r in clean.to_dict(orient="records")]


def make_estimators(
    backends: Sequence[str] | Mapping[str, PMTRegressor],
    data: SurveyData | None = None,
    *,
    params: Mapping[str, Any] | None = None,
) -> dict[str, PMTRegressor]:
    """Named estimators: names become ``PMTRegressor(name, **params)``; estimators pass through.

    With ``data``, ``size_feature`` is set to the survey's household-size feature.
    """
    if isinstance(backends, Mapping):
        return {str(k): v for k, v in backends.items()}
    extra = dict(params or {})
    if data is not None and "size_feature" not in extra:
        extra["size_feature"] = size_feature(data)
    return {str(b): PMTRegressor(b, **extra) for b in backends}  # type: ignore[arg-type]


def _cluster_codes(data: SurveyData) -> npt.NDArray[np.int64] | None:
    """Integer cluster codes (a household without a cluster is a cluster of its own)."""
    if data.cluster is None:
        return None
    codes, uniques = pd.factorize(data.cluster.astype("string"))
    missing = codes < 0
    codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes.astype(np.int64)


def _prediction_frame(data: SurveyData, poor: BoolArray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": data.household_id.to_numpy(),
            "fold": np.zeros(len(data), dtype=np.int64),
            "region": None if data.region is None else data.region.to_numpy(),
            "cluster": None if data.cluster is None else data.cluster.to_numpy(),
            "weight": data.weight.to_numpy(dtype=np.float64),
            "household_size": data.household_size.to_numpy(dtype=np.float64),
            "log_welfare": target(data, check_leaks=False),
            "poor": poor,
            "poverty_line": np.nan
            if data.poverty_line is None
            else data.poverty_line.to_numpy(dtype=np.float64),
        }
    )


# ---- validation protocols -------------------------------------------------------------------------


def cross_validate(
    data: SurveyData,
    backends: Sequence[str] | Mapping[str, PMTRegressor] = DEFAULT_BACKENDS,
    *,
    params: Mapping[str, Any] | None = None,
    n_splits: int = 5,
    seed: int = 0,
    coverages: Sequence[Coverage] = DEFAULT_COVERAGES,
    n_bootstrap: int = 300,
    poor_share: float | None = None,
    unit: Unit = "person",
    include_region: bool = True,
    baseline: str = "ols",
    n_jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ValidationResult:
    """K-fold cross-validation (whole clusters per fold) of every backend on one survey.

    ``progress`` is told each (fold, backend) fit as it ends, with counts, then the bootstrap.

    ``n_jobs`` > 1 fits (fold, backend) pairs in parallel processes (joblib); give the estimators
    ``n_jobs=1`` then (``params={"n_jobs": 1}``), because two processes with one LightGBM thread
    each beat one process with two threads on survey-sized data, and nesting both oversubscribes.
    """
    estimators = make_estimators(backends, data, params=params)
    X = design_frame(data, include_region=include_region)
    y = target(data)
    w = data.weight.to_numpy(dtype=np.float64)
    groups = _cluster_codes(data)
    if groups is not None and len(np.unique(groups)) >= n_splits:
        splits = list(GroupKFold(n_splits, shuffle=True, random_state=seed).split(X, groups=groups))
    else:
        splits = list(KFold(n_splits, shuffle=True, random_state=seed).split(X))
    pred = _prediction_frame(data, poor_flags(data, poor_share=poor_share, unit=unit))
    tasks = [(fold, name) for fold in range(len(splits)) for name in estimators]
    # Costliest first, so parallel workers finish together.
    tasks.sort(key=lambda t: -_COST.get(estimators[t[1]].backend, 1))

    def job(fold: int, name: str) -> FloatArray:
        tr, te = splits[fold]
        model = clone(estimators[name]).fit(
            X.iloc[tr], y[tr], w[tr], groups=None if groups is None else groups[tr]
        )
        return np.asarray(model.predict(X.iloc[te]), dtype=np.float64)

    def told(done: int, fold: int, name: str) -> None:
        if progress is not None:
            progress(f"lipatan / fold {fold + 1} dari / of {len(splits)}: {name} "
                     f"({done}/{len(tasks)} model dilatih / fits done)")

    results: list[FloatArray] = []
    if n_jobs is not None and n_jobs != 1:
        from joblib import Parallel, delayed

        # In order as they end: the counts move while the other fits run.
        for (f, n), values in zip(tasks, Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(job)(f, n) for f, n in tasks), strict=True):
            results.append(values)
            told(len(results), f, n)
    else:
        for f, n in tasks:
            results.append(job(f, n))
            told(len(results), f, n)
    out = {name: np.full(len(data), np.nan) for name in estimators}
    for (fold, name), values in zip(tasks, results, strict=True):
        out[name][splits[fold][1]] = values
    for fold, (_, te) in enumerate(splits):
        pred.loc[te, "fold"] = fold
    for name, values in out.items():
        pred[f"pred_{name}"] = values
    _told_bootstrap(progress, n_bootstrap)
    return _result(data.name, pred, tuple(estimators), baseline, coverages, n_bootstrap, seed, unit,
                   money=data.welfare_is_money)


def temporal_validation(
    train: SurveyData,
    test: SurveyData,
    backends: Sequence[str] | Mapping[str, PMTRegressor] = DEFAULT_BACKENDS,
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    coverages: Sequence[Coverage] = DEFAULT_COVERAGES,
    n_bootstrap: int = 300,
    poor_share: float | None = None,
    unit: Unit = "person",
    include_region: bool = True,
    baseline: str = "ols",
    progress: Callable[[str], None] | None = None,
) -> ValidationResult:
    """Train on one survey (e.g. 2023), predict another (e.g. 2024): the deployment situation."""
    estimators = make_estimators(backends, train, params=params)
    X_train = design_frame(train, include_region=include_region)
    X_test = design_frame(test, include_region=include_region)
    missing = [c for c in X_train.columns if c not in X_test.columns]
    if missing:
        raise SpecError(
            f"test dataset {test.name!r} lacks feature(s) of {train.name!r}: {', '.join(missing)}"
        )
    X_test = X_test[list(X_train.columns)]
    y = target(train)
    w = train.weight.to_numpy(dtype=np.float64)
    groups = _cluster_codes(train)
    pred = _prediction_frame(test, poor_flags(test, poor_share=poor_share, unit=unit))
    for i, (name, est) in enumerate(estimators.items(), start=1):
        model = clone(est).fit(X_train, y, w, groups=groups)
        pred[f"pred_{name}"] = model.predict(X_test)
        if progress is not None:
            progress(f"{name} dilatih / fitted ({i}/{len(estimators)})")
    _told_bootstrap(progress, n_bootstrap)
    name = f"{train.name} -> {test.name}"
    return _result(name, pred, tuple(estimators), baseline, coverages, n_bootstrap, seed, unit,
                   money=train.welfare_is_money and test.welfare_is_money)


def _told_bootstrap(progress: Callable[[str], None] | None, n_bootstrap: int) -> None:
    if progress is not None and n_bootstrap:
        progress(f"bootstrap: {n_bootstrap} ulangan / replicates (rentang kepercayaan / intervals)")


def _result(
    dataset: str,
    pred: pd.DataFrame,
    backends: tuple[str, ...],
    baseline: str,
    coverages: Sequence[Coverage],
    n_bootstrap: int,
    seed: int,
    unit: Unit,
    *,
    money: bool = True,
) -> ValidationResult:
    table = evaluate_predictions(
        pred,
        backends,
        dataset=dataset,
        coverages=coverages,
        n_bootstrap=n_bootstrap,
        seed=seed,
        unit=unit,
        baseline=baseline,
        money=money,
    )
    uw = _unit_weight_of(pred, unit)
    rate = float(uw[pred["poor"].to_numpy(bool)].sum() / uw.sum())
    return ValidationResult(dataset, backends, baseline, unit, rate, table, pred)


def _unit_weight_of(pred: pd.DataFrame, unit: Unit) -> FloatArray:
    w = pred["weight"].to_numpy(dtype=np.float64)
    if check_unit(unit) == "person":
        return w * pred["household_size"].to_numpy(dtype=np.float64)
    return w


# ---- metrics: the audit's engine on out-of-sample predictions --------------------------------------


def coverage_selections(
    pred: pd.DataFrame, backends: Sequence[str], coverages: Sequence[Coverage], unit: Unit
) -> dict[tuple[str, Coverage], BoolArray]:
    """Who each backend selects at each coverage (point selection, fixed for the bootstrap).

    A share ``c`` selects the households whose population share (mid-point rule of
    `targeting.pmt.ranking`, counted in ``unit``) is below ``c`` — deciles 1..10c when ``unit`` is
    persons; ``"poverty_rate"`` uses the share of the poor as ``c``; ``"poverty_line"`` selects
    predicted welfare below the household's line (absent without a line).
    """
    uw = _unit_weight_of(pred, unit)
    poor = pred["poor"].to_numpy(dtype=bool)
    rate = float(uw[poor].sum() / uw.sum())
    log_line = _log_line(pred)
    out: dict[tuple[str, Coverage], BoolArray] = {}
    for b in backends:
        p = pred[f"pred_{b}"].to_numpy(dtype=np.float64)
        shares = population_shares(p, uw)
        for c in coverages:
            if c == "poverty_line":
                if log_line is not None:
                    out[b, c] = p < log_line
                continue
            cut = rate if c == "poverty_rate" else float(c)
            out[b, c] = shares < cut
    return out


def evaluate_predictions(
    pred: pd.DataFrame,
    backends: Sequence[str],
    *,
    dataset: str = "",
    coverages: Sequence[Coverage] = DEFAULT_COVERAGES,
    n_bootstrap: int = 300,
    seed: int = 0,
    unit: Unit = "person",
    baseline: str | None = "ols",
    ci_level: float = 0.95,
    money: bool = True,
) -> pd.DataFrame:
    """Tidy metrics (with cluster-bootstrap CIs) of out-of-sample predictions.

    ``money`` False (welfare is an ordinal class or a poverty flag): Spearman and R² against
    welfare and the poverty-line rule need money and are skipped (NaN, ``note`` says why).

    Computed by the audit's engine (:mod:`targeting.audit.engine`), so a backend's exclusion error
    at 20 % coverage here is the audit's exclusion error of the same selection (desil 1–2 when
    counting persons). ``pred`` has the columns of :attr:`ValidationResult.predictions`;
    ``coverages`` are population shares, ``"poverty_rate"`` (the share of the poor, so that the
    exclusion and beneficiary-based inclusion errors are equal) or ``"poverty_line"`` (select
    predicted welfare below the line; its rows are NaN without a ``poverty_line`` column).
    Intervals resample clusters (Poisson multipliers; the selections stay as made); differences to
    the baseline are paired (same replicates).
    """
    from targeting.audit import engine

    names = _metric_names(coverages)
    if np.isnan(np.column_stack([pred[f"pred_{b}"].to_numpy(dtype=np.float64) for b in backends])).any():
        raise ValueError("predictions contain NaN (a fold did not predict every household)")
    y = pred["log_welfare"].to_numpy(dtype=np.float64)
    poor = pred["poor"].to_numpy(dtype=bool)
    uw = _unit_weight_of(pred, unit)
    P = {b: pred[f"pred_{b}"].to_numpy(dtype=np.float64) for b in backends}
    sels = coverage_selections(pred, backends, [c for c in coverages if money or c != "poverty_line"], unit)
    subject = {key: f"{key[0]}@{_coverage_label(key[1])}" for key in sels}
    families = [
        engine.confusion_family(poor, np.ones_like(poor), {subject[k]: v for k, v in sels.items()}, uw,
                                rates=COVERAGE_METRICS, poverty_rate=None),
        engine.auc_family(poor, P, uw, None),
    ]
    if money:
        families += [engine.spearman_family(y, P, uw, None),
                     engine.r2_family(y, P, uw, metric="r2_log_welfare")]
    skipped = "" if money else "skipped: welfare is a class or a flag, not money"
    auc_key = {"auc_poor": "auc", "spearman": "spearman", "r2_log_welfare": "r2_log_welfare"}

    def key(backend: str, metric: str, cov: Coverage | None) -> engine.Key:
        if cov is None:
            return backend, auc_key[metric]
        return subject.get((backend, cov), f"{backend}@{_coverage_label(cov)}"), metric

    pairs = [(key(b, m, c), key(baseline, m, c)) for b in backends if baseline is not None
             and baseline in backends and b != baseline for m, c in names]
    run = engine.run_families(families, len(pred), n_boot=n_bootstrap, seed=seed, confidence=ci_level,
                              cluster=_cluster_codes_of(pred), pairs=pairs)
    estimates = {k: v for fam in families for k, v in fam.estimates.items()}
    intervals = {k: v for cis in run.intervals for k, v in cis.items()}
    rate = float(uw[poor].sum() / uw.sum())
    rows = []
    nan2 = (np.nan, np.nan)
    for metric, cov in names:
        for b in backends:
            k = key(b, metric, cov)
            est = estimates.get(k, np.nan)
            lo, hi = intervals.get(k, nan2)
            d = dlo = dhi = np.nan
            if baseline is not None and baseline in backends and b != baseline:
                d = est - estimates.get(key(baseline, metric, cov), np.nan)
                dlo, dhi = run.differences.get((k, key(baseline, metric, cov)), nan2)
            if cov == "poverty_rate":
                coverage = rate
            elif cov == "poverty_line":
                sel = sels.get((b, cov))
                coverage = float(uw @ sel / uw.sum()) if sel is not None else np.nan
            else:
                coverage = np.nan if cov is None else float(cov)
            needs_money = metric in ("spearman", "r2_log_welfare") or cov == "poverty_line"
            rows.append({
                "dataset": dataset, "backend": b, "metric": metric, "coverage": coverage,
                "coverage_label": _coverage_label(cov), "estimate": float(est), "ci_low": lo,
                "ci_high": hi, "diff_vs_baseline": float(d), "diff_ci_low": dlo, "diff_ci_high": dhi,
                "note": skipped if needs_money else "",
            })
    table = pd.DataFrame(rows)
    table.attrs["unit"] = unit
    return table


def _cluster_codes_of(pred: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Resampling units: clusters; a household without a cluster is a unit of its own."""
    codes, uniques = pd.factorize(pred["cluster"].astype("string"))
    missing = codes < 0
    codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes.astype(np.int64)


def _coverage_label(cov: Coverage | None) -> str:
    if cov is None:
        return ""
    if cov == "poverty_rate":
        return "poverty rate"
    if cov == "poverty_line":
        return "poverty line"
    return f"{100 * float(cov):g}%"


def _metric_names(coverages: Sequence[Coverage]) -> list[tuple[str, Coverage | None]]:
    names: list[tuple[str, Coverage | None]] = [(m, None) for m in RANK_METRICS]
    for c in coverages:
        if c not in ("poverty_rate", "poverty_line") and not 0 <= float(c) <= 1:
            raise ValueError(
                f"coverage must be a share in [0, 1], 'poverty_rate' or 'poverty_line', got {c!r}"
            )
        names += [(m, c) for m in COVERAGE_METRICS]
    return names


def _log_line(pred: pd.DataFrame) -> FloatArray | None:
    if "poverty_line" not in pred.columns:
        return None
    line = pred["poverty_line"].to_numpy(dtype=np.float64)
    if np.isnan(line).any() or np.any(line <= 0):
        return None
    return np.log(line)


# ---- presentation ---------------------------------------------------------------------------------


def compare_backends(
    table: pd.DataFrame, *, baseline: str = "ols", digits: int = 3, formatted: bool = True
) -> pd.DataFrame:
    """Side-by-side table: one row per metric (and coverage), each backend next to the baseline.

    Formatted cells read ``0.512 [0.480, 0.540]``; every non-baseline backend gets a
    ``Δ <backend>`` column with the paired-bootstrap difference to the baseline. With
    ``formatted=False`` the estimates and differences come back as numbers.
    """
    t = table.copy()
    t["row"] = [f"{m} @ {lab}" if lab else m for m, lab in zip(t["metric"], t["coverage_label"], strict=True)]
    rows = list(dict.fromkeys(t["row"]))
    backends = list(dict.fromkeys(t["backend"]))
    if baseline in backends:
        backends = [baseline] + [b for b in backends if b != baseline]
    idx = t.set_index(["row", "backend"])
    out: dict[str, list[Any]] = {}
    for b in backends:
        sub = idx.xs(b, level="backend").reindex(rows)
        if formatted:
            out[b] = [
                _cell(e, lo, hi, digits)
                for e, lo, hi in zip(sub["estimate"], sub["ci_low"], sub["ci_high"], strict=True)
            ]
        else:
            out[b] = sub["estimate"].tolist()
        if b != baseline and baseline in backends:
            if formatted:
                out[f"Δ {b}"] = [
                    _cell(e, lo, hi, digits, signed=True)
                    for e, lo, hi in zip(
                        sub["diff_vs_baseline"], sub["diff_ci_low"], sub["diff_ci_high"], strict=True
                    )
                ]
            else:
                out[f"Δ {b}"] = sub["diff_vs_baseline"].tolist()
    return pd.DataFrame(out, index=pd.Index(rows, name="metric"))


def _cell(e: float, lo: float, hi: float, digits: int, *, signed: bool = False) -> str:
    if not np.isfinite(e):
        return "–"
    f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{f.format(e)} [{f.format(lo)}, {f.format(hi)}]"
    return f.format(e)


def targeting_curve(
    pred: pd.DataFrame,
    backends: Sequence[str],
    *,
    coverages: Sequence[float] = CURVE_COVERAGES,
    unit: Unit = "person",
    perfect: bool = True,
) -> pd.DataFrame:
    """Exclusion and inclusion errors against coverage for each backend (point estimates).

    Tidy columns: backend, coverage, exclusion_error, inclusion_error, inclusion_error_nonpoor.
    With ``perfect``, a ``true welfare`` row set shows the errors of ranking by true welfare: the
    floor any PMT faces at that coverage.
    """
    from targeting.audit.engine import confusion_family

    frame = pred.copy()
    names = list(backends)
    if perfect:
        frame["pred_true welfare"] = frame["log_welfare"]
        names.append("true welfare")
    sels = coverage_selections(frame, names, list(coverages), unit)
    poor = frame["poor"].to_numpy(dtype=bool)
    est = confusion_family(poor, np.ones_like(poor), {f"{b}|{c}": s for (b, c), s in sels.items()},
                           _unit_weight_of(frame, unit), rates=COVERAGE_METRICS, poverty_rate=None).estimates
    rows = [{"backend": b, "coverage": float(c),
             **{m: est[f"{b}|{c}", m] for m in COVERAGE_METRICS}}
            for c in coverages for b in names]
    return pd.DataFrame(rows)


def plot_targeting_curve(
    curve: pd.DataFrame,
    path: str | Path,
    *,
    poverty_rate: float | None = None,
    title: str | None = None,
) -> Path:
    """Save the targeting curve (exclusion and beneficiary-based inclusion error vs coverage)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharex=True)
    panels = (
        ("exclusion_error", "Exclusion error (P∧¬S / P)"),
        ("inclusion_error", "Inclusion error (S∧¬P / S)"),
    )
    for ax, (col, label) in zip(axes, panels, strict=True):
        for backend, sub in curve.groupby("backend", sort=False):
            style = "--" if backend == "true welfare" else "-"
            ax.plot(sub["coverage"], sub[col], style, label=str(backend), linewidth=1.5)
        if poverty_rate is not None:
            ax.axvline(poverty_rate, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("Coverage (population share selected)")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
