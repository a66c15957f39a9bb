"""Per-indicator drift between two surveys (or a survey and a registry), and of predicted welfare.

For every indicator the model reads (`targeting.pmt.design_frame`: the survey's features plus the
region), the reference and current distributions are compared on weighted shares:

* categorical and binary indicators: one bin per code, codes new in the current data included, and
  missing as a bin of its own; a chi-square test on Kish effective counts;
* numeric indicators: bins at the reference's weighted deciles (merged where they coincide), missing
  as a bin of its own; a weighted Kolmogorov–Smirnov test on the observed values.

The p-values of one comparison's indicators are corrected together (``thresholds.correction``).
Predicted welfare (and measured welfare, where both sides have it) get a row each, binned at the
reference's deciles of it, tested on their own. The flag of a row is its PSI band ("moderate",
"major") when the test is also significant after correction (``require_significance``), else "stable".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.drift._stats import (
    TestResult,
    adjust_pvalues,
    numeric_bin_codes,
    numeric_bin_labels,
    psi_null_mean,
    psi_terms,
    quantile_edges,
    weighted_chi2_2samp,
    weighted_ks_2samp,
    weighted_shares,
)
from targeting.drift._thresholds import DriftThresholds, load_thresholds
from targeting.errors import SpecError
from targeting.survey.dataset import SurveyData

Unit = Literal["household", "person"]
Kind = Literal["categorical", "binary", "numeric", "prediction", "welfare"]
Level = Literal["stable", "moderate", "major"]
LEVELS: tuple[Level, ...] = ("stable", "moderate", "major")
PREDICTION_ROW = "predicted_log_welfare"
WELFARE_ROW = "log_welfare"
MISSING_BIN = "missing"

#: Columns of :attr:`DriftResult.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "indicator", "kind", "n_bins", "psi", "psi_null", "level", "test", "statistic", "dof", "p_value",
    "p_adjusted", "significant", "flag", "missing_reference", "missing_current", "mean_reference",
    "mean_current", "n_eff_reference", "n_eff_current", "top_bin", "top_bin_reference", "top_bin_current",
)


@dataclass(frozen=True)
class DriftResult:
    """One comparison: a row per indicator (then predicted and measured welfare), and the shares per bin.

    ``table`` columns (:data:`TABLE_COLUMNS`): indicator; kind; n_bins (bins non-empty on either
    side); psi; psi_null (the PSI expected from sampling noise alone, (B - 1)(1/n + 1/m) with
    effective sizes); level (PSI band); test (``chi2`` or ``ks``), statistic, dof (chi-square only),
    p_value, p_adjusted (indicators: corrected together; welfare rows: their own p), significant;
    flag (the level if significant or significance is not required, else ``stable``); weighted
    missing shares; weighted means (numeric rows); Kish effective sizes; and the bin with the largest
    PSI term with its two shares. ``bins`` columns: indicator, bin, reference_share, current_share,
    psi_term.
    """

    reference: str
    current: str
    unit: Unit
    thresholds: DriftThresholds
    table: pd.DataFrame
    bins: pd.DataFrame
    only_reference: tuple[str, ...] = ()
    only_current: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """The per-indicator table (a copy), with the two dataset names as the first columns."""
        out = self.table.copy()
        out.insert(0, "current", self.current)
        out.insert(0, "reference", self.reference)
        return out

    def flagged(self, at_least: Level = "moderate") -> list[str]:
        """Indicators (welfare rows excluded) whose flag is ``at_least`` or stronger."""
        rank = {lv: i for i, lv in enumerate(LEVELS)}
        rows = self.table[~self.table["kind"].isin(["prediction", "welfare"])]
        return [str(r.indicator) for r in rows.itertuples() if rank[r.flag] >= rank[at_least]]

    def row(self, indicator: str) -> pd.Series:
        """The table row of one indicator (or of ``predicted_log_welfare`` / ``log_welfare``)."""
        hit = self.table[self.table["indicator"] == indicator]
        if hit.empty:
            raise KeyError(f"no drift row for {indicator!r}")
        return hit.iloc[0]

    def flat_metrics(self, prefix: str = "drift") -> dict[str, float]:
        """MLflow-ready metrics: per-row PSI and adjusted p, plus counts of flags.

        Names: ``<prefix>.psi.<indicator>``, ``<prefix>.p_adjusted.<indicator>``, ``<prefix>.n_indicators``,
        ``<prefix>.n_flag_moderate``, ``<prefix>.n_flag_major``, ``<prefix>.n_significant``,
        ``<prefix>.max_psi``; for predicted welfare ``<prefix>.prediction.psi`` and ``.ks``
        (``welfare`` likewise). Characters MLflow refuses in a key become ``_``.
        """
        out: dict[str, float] = {}
        ind = self.table[~self.table["kind"].isin(["prediction", "welfare"])]
        for r in ind.itertuples():
            name = _metric_key(str(r.indicator))
            out[f"{prefix}.psi.{name}"] = float(r.psi)
            out[f"{prefix}.p_adjusted.{name}"] = float(r.p_adjusted)
        out[f"{prefix}.n_indicators"] = float(len(ind))
        out[f"{prefix}.n_flag_moderate"] = float((ind["flag"] == "moderate").sum())
        out[f"{prefix}.n_flag_major"] = float((ind["flag"] == "major").sum())
        out[f"{prefix}.n_significant"] = float(ind["significant"].sum())
        out[f"{prefix}.max_psi"] = float(ind["psi"].max()) if len(ind) else 0.0
        for kind, key in (("prediction", "prediction"), ("welfare", "welfare")):
            sub = self.table[self.table["kind"] == kind]
            if len(sub):
                out[f"{prefix}.{key}.psi"] = float(sub["psi"].iloc[0])
                out[f"{prefix}.{key}.ks"] = float(sub["statistic"].iloc[0])
                out[f"{prefix}.{key}.p_value"] = float(sub["p_value"].iloc[0])
        return {k: v for k, v in out.items() if np.isfinite(v)}


_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. /:]")


def _metric_key(name: str) -> str:
    return _KEY_BAD.sub("_", name)


def _unit_weight(data: SurveyData, unit: Unit) -> npt.NDArray[np.float64]:
    if unit == "household":
        return data.weight.to_numpy(dtype=np.float64)
    if unit == "person":
        return data.population_weight.to_numpy(dtype=np.float64)
    raise ValueError(f"unit must be 'household' or 'person', got {unit!r}")


# ---- one distribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binned:
    labels: list[str]
    reference: npt.NDArray[np.int64]
    current: npt.NDArray[np.int64]


def _labels_of(values: pd.Series, kind: str) -> tuple[pd.Series, list[str]]:
    """Codes as text (missing stays missing) and their order (category order, else natural)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in values.cat.categories]
        return values.astype("string"), cats
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    text = x.map(lambda v: f"{v:g}", na_action="ignore").astype("string")
    return text, [f"{v:g}" for v in np.unique(x[np.isfinite(x)])]


def _bin_codes(reference: pd.Series, current: pd.Series, kind: str,
               reference_weight: npt.NDArray[np.float64], n_bins: int) -> _Binned:
    if kind in ("categorical", "binary"):
        ref_text, ref_cats = _labels_of(reference, kind)
        cur_text, cur_cats = _labels_of(current, kind)
        # The reference's code list first; codes only the current data has are bins of their own.
        cats = list(dict.fromkeys([*ref_cats, *cur_cats]))
        labels = [*cats, MISSING_BIN]

        def codes(text: pd.Series) -> npt.NDArray[np.int64]:
            c = pd.Categorical(text, categories=cats).codes.astype(np.int64)
            c[c < 0] = len(cats)
            return c

        return _Binned(labels, codes(ref_text), codes(cur_text))
    x = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    y = current.to_numpy(dtype=np.float64, na_value=np.nan)
    edges = quantile_edges(x, reference_weight, n_bins)
    return _Binned(numeric_bin_labels(edges), numeric_bin_codes(x, edges), numeric_bin_codes(y, edges))


def _compare(name: str, kind: Kind, reference: pd.Series, current: pd.Series,
             reference_weight: npt.NDArray[np.float64], current_weight: npt.NDArray[np.float64],
             thresholds: DriftThresholds) -> tuple[dict[str, Any], pd.DataFrame]:
    binned = _bin_codes(reference, current, kind, reference_weight, thresholds.numeric_bins)
    n = len(binned.labels)
    r = weighted_shares(binned.reference, reference_weight, n)
    c = weighted_shares(binned.current, current_weight, n)
    terms = psi_terms(r, c, epsilon=thresholds.psi_epsilon)
    used = (r > 0) | (c > 0)
    # A bin empty on both sides is not a bin of either distribution: no term, not counted.
    terms = np.where(used, terms, 0.0)
    test: TestResult
    if kind in ("categorical", "binary"):
        test = weighted_chi2_2samp(binned.reference, binned.current, n,
                                   reference_weight=reference_weight, current_weight=current_weight)
        test_name = "chi2"
        means = (np.nan, np.nan)
    else:
        x = reference.to_numpy(dtype=np.float64, na_value=np.nan)
        y = current.to_numpy(dtype=np.float64, na_value=np.nan)
        test = weighted_ks_2samp(x, y, reference_weight=reference_weight, current_weight=current_weight)
        test_name = "ks"
        means = (_wmean(x, reference_weight), _wmean(y, current_weight))
    top = int(np.argmax(terms)) if n else 0
    row = {
        "indicator": name, "kind": kind, "n_bins": int(used.sum()), "psi": float(terms.sum()),
        "psi_null": psi_null_mean(int(used.sum()), test.n_reference, test.n_current),
        "test": test_name, "statistic": test.statistic, "dof": test.dof, "p_value": test.pvalue,
        "missing_reference": float(r[-1]) if binned.labels[-1] == MISSING_BIN else 0.0,
        "missing_current": float(c[-1]) if binned.labels[-1] == MISSING_BIN else 0.0,
        "mean_reference": means[0], "mean_current": means[1],
        "n_eff_reference": test.n_reference, "n_eff_current": test.n_current,
        "top_bin": binned.labels[top], "top_bin_reference": float(r[top]), "top_bin_current": float(c[top]),
    }
    bins = pd.DataFrame({"indicator": name, "bin": binned.labels, "reference_share": r,
                         "current_share": c, "psi_term": terms})
    return row, bins[used].reset_index(drop=True)


def _wmean(x: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> float:
    ok = np.isfinite(x) & (w > 0)
    return float(np.average(x[ok], weights=w[ok])) if ok.any() else float("nan")


def _finish(rows: list[dict[str, Any]], thresholds: DriftThresholds, *, corrected: bool) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[c for c in TABLE_COLUMNS if c not in
                                        ("level", "p_adjusted", "significant", "flag")])
    p = table["p_value"].to_numpy(dtype=np.float64)
    padj = adjust_pvalues(p, thresholds.correction) if corrected else p.copy()
    psi = table["psi"].to_numpy(dtype=np.float64)
    level = np.where(psi >= thresholds.psi_major, "major",
                     np.where(psi >= thresholds.psi_moderate, "moderate", "stable"))
    significant = np.isfinite(padj) & (padj < thresholds.alpha)
    flag = level if not thresholds.require_significance else np.where(significant, level, "stable")
    table["level"] = level
    table["p_adjusted"] = padj
    table["significant"] = significant
    table["flag"] = flag
    return table[list(TABLE_COLUMNS)]


# ---- public entry points ---------------------------------------------------------------------------


def indicator_drift(
    reference: SurveyData,
    current: SurveyData,
    *,
    thresholds: DriftThresholds | None = None,
    unit: Unit = "household",
    indicators: Sequence[str] | None = None,
) -> DriftResult:
    """Drift of every model input (features plus region) from ``reference`` to ``current``.

    ``unit="household"`` weighs each household by its survey weight (shares of households, as an
    indicator describes a dwelling); ``"person"`` by weight x household size. Indicators only one side
    has are listed in ``only_reference`` / ``only_current``, not compared.
    """
    from targeting.pmt import design_frame

    thresholds = thresholds or load_thresholds()
    X_ref, X_cur = design_frame(reference), design_frame(current)
    types_ref = _types(reference, X_ref)
    types_cur = _types(current, X_cur)
    names = [c for c in X_ref.columns if c in X_cur.columns]
    if indicators is not None:
        unknown = [c for c in indicators if c not in names]
        if unknown:
            raise SpecError(f"indicator(s) not in both datasets: {', '.join(map(str, unknown))}")
        names = list(indicators)
    only_ref = tuple(str(c) for c in X_ref.columns if c not in X_cur.columns)
    only_cur = tuple(str(c) for c in X_cur.columns if c not in X_ref.columns)
    w_ref, w_cur = _unit_weight(reference, unit), _unit_weight(current, unit)
    rows, bins = [], []
    for name in names:
        kind = types_ref[name]
        if _family(kind) != _family(types_cur[name]):
            raise SpecError(
                f"indicator {name!r} is {kind} in {reference.name!r} "
                f"but {types_cur[name]} in {current.name!r}"
            )
        row, b = _compare(str(name), kind, X_ref[name], X_cur[name], w_ref, w_cur, thresholds)
        rows.append(row)
        bins.append(b)
    table = _finish(rows, thresholds, corrected=True)
    return DriftResult(
        reference=reference.name, current=current.name, unit=unit, thresholds=thresholds, table=table,
        bins=_concat(bins), only_reference=only_ref, only_current=only_cur,
    )


def prediction_drift(
    reference_prediction: npt.ArrayLike,
    current_prediction: npt.ArrayLike,
    *,
    reference_weight: npt.ArrayLike,
    current_weight: npt.ArrayLike,
    thresholds: DriftThresholds | None = None,
    name: str = PREDICTION_ROW,
    kind: Literal["prediction", "welfare"] = "prediction",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drift of a welfare distribution: PSI over the reference's weighted deciles, and a weighted KS.

    With population weights (weight x size) the bins are the reference's desil, so the current shares
    read as "the share of the current population that would fall in each reference desil". Returns
    the table row (one-row frame, p-value uncorrected) and its bins.
    """
    thresholds = thresholds or load_thresholds()
    ref = pd.Series(np.asarray(reference_prediction, dtype=np.float64))
    cur = pd.Series(np.asarray(current_prediction, dtype=np.float64))
    row, bins = _compare(name, kind, ref, cur, np.asarray(reference_weight, dtype=np.float64),
                         np.asarray(current_weight, dtype=np.float64), thresholds)
    return _finish([row], thresholds, corrected=False), bins


def survey_drift(
    reference: SurveyData,
    current: SurveyData,
    *,
    model: Any | None = None,
    thresholds: DriftThresholds | None = None,
    unit: Unit = "household",
    indicators: Sequence[str] | None = None,
    include_welfare: bool = True,
) -> DriftResult:
    """:func:`indicator_drift`, plus predicted welfare under ``model`` and measured welfare if both have it.

    Welfare rows use population weights (weight x size) whatever ``unit`` is: desil are shares of
    persons. ``model`` is a fitted PMT (``predict`` on its input frame, ``schema_.names``).
    """
    thresholds = thresholds or load_thresholds()
    result = indicator_drift(reference, current, thresholds=thresholds, unit=unit, indicators=indicators)
    rows, bins = [result.table], [result.bins]
    notes = list(result.notes)
    pop_ref = reference.population_weight.to_numpy(dtype=np.float64)
    pop_cur = current.population_weight.to_numpy(dtype=np.float64)
    if model is not None:
        row, b = prediction_drift(predict(model, reference), predict(model, current),
                                  reference_weight=pop_ref, current_weight=pop_cur, thresholds=thresholds)
        rows.append(row)
        bins.append(b)
    if include_welfare and reference.welfare is not None and current.welfare is not None:
        row, b = prediction_drift(np.log(reference.welfare.to_numpy(dtype=np.float64)),
                                  np.log(current.welfare.to_numpy(dtype=np.float64)),
                                  reference_weight=pop_ref, current_weight=pop_cur, thresholds=thresholds,
                                  name=WELFARE_ROW, kind="welfare")
        rows.append(row)
        bins.append(b)
        notes.append("measured welfare is in each round's own currency units: nominal growth shows as drift")
    return DriftResult(
        reference=result.reference, current=result.current, unit=unit, thresholds=thresholds,
        table=pd.concat(rows, ignore_index=True), bins=_concat(bins),
        only_reference=result.only_reference, only_current=result.only_current, notes=tuple(notes),
    )


def predict(model: Any, data: SurveyData) -> npt.NDArray[np.float64]:
    """Predicted log welfare of every household of ``data`` under a fitted PMT."""
    from targeting.pmt import design_frame

    X = design_frame(data)
    names = list(model.schema_.names)
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise SpecError(f"dataset {data.name!r} lacks the model's indicator(s): {', '.join(missing)}")
    return np.asarray(model.predict(X[names]), dtype=np.float64)


def _types(data: SurveyData, X: pd.DataFrame) -> dict[str, Kind]:
    out: dict[str, Kind] = {}
    for c in X.columns:
        t = data.feature_types.get(c)
        if t is None:  # the region design_frame adds
            t = "categorical" if isinstance(X[c].dtype, pd.CategoricalDtype) else "numeric"
        out[c] = t
    return out


def _family(kind: str) -> str:
    return "numeric" if kind == "numeric" else "codes"


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["indicator", "bin", "reference_share", "current_share", "psi_term"])
    return pd.concat(frames, ignore_index=True)
