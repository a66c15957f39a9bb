"""The PMT's data roles in one place: its input frame, its target, the counting unit and who is poor.

Training, validation, scoring and the audit all read these from here, so "poor", "log welfare" and
"a person vs a household" mean the same thing everywhere.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting._frames import column_values, python_values
from targeting.errors import InputFileError, SpecError
from targeting.pmt.ranking import population_shares
from targeting.survey.dataset import SurveyData

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: What a share or a rate counts: persons (survey weight x household size) or households (weight).
Unit = Literal["person", "household"]
UNITS: tuple[str, str] = ("person", "household")
#: The poor when a survey has neither a poverty flag nor a line: the bottom fifth (counted in the unit).
DEFAULT_POOR_SHARE = 0.2

__all__ = [
    "DEFAULT_POOR_SHARE",
    "UNITS",
    "Unit",
    "check_unit",
    "design_frame",
    "log_welfare",
    "poor_flags",
    "size_feature",
    "target",
    "unit_weight",
]


def check_unit(unit: str) -> Unit:
    """``unit`` if it is ``person`` or ``household``; a ValueError naming both otherwise."""
    if unit not in UNITS:
        raise ValueError(f"unit must be 'person' or 'household', got {unit!r}")
    return unit  # type: ignore[return-value]


def design_frame(data: SurveyData, *, include_region: bool = True) -> pd.DataFrame:
    """The PMT's input frame: the survey's features, plus the region as a categorical feature.

    The region column is added (named after ``data.region``, default ``region``) only when the
    features do not already hold an identical column, so region effects enter every backend.
    """
    # A shallow copy: pandas' copy-on-write keeps the features intact if a caller writes to X.
    X = data.features.copy(deep=False)
    if include_region and data.region is not None:
        region = data.region.astype("string")
        name = str(data.region.name or "region")
        # The column named like the region first: a contract survey's region is that feature, and
        # each other column's comparison converts it to text (~0.1 ms for one household).
        columns = dict(zip(X.columns.tolist(), column_values(X), strict=True))
        candidates = sorted(columns, key=lambda c: c != name)
        shown = python_values(region.array)
        already = False
        for c in candidates:
            values = columns[c]
            if isinstance(values, pd.Categorical) and pd.api.types.is_string_dtype(values.categories.dtype):
                # Labels that are texts are what ``astype("string")`` gives: compared as Python values.
                already = python_values(values) == shown
            elif isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
                already = pd.Series(values).astype("string").equals(region.reset_index(drop=True))
            if already:
                break
        if not already:
            if name in X.columns:
                name = f"{name}_region"
            X[name] = pd.Categorical(region, categories=sorted(region.dropna().unique()))
    return X


def size_feature(data: SurveyData) -> str | None:
    """The feature column holding household size (for the OLS size terms), if any."""
    size = data.household_size.to_numpy(dtype=np.float64)
    for name in data.features.columns:
        col = data.features[name]
        if pd.api.types.is_numeric_dtype(col.dtype) and np.array_equal(
            col.to_numpy(dtype=np.float64, na_value=np.nan), size
        ):
            return str(name)
    return None


def target(data: SurveyData, *, check_leaks: bool = True) -> FloatArray:
    """What the PMT regresses: log per-capita welfare (money), else the class rank or not-poor flag.

    Every training path asks for it, so it first refuses inputs that leak welfare
    (:func:`check_welfare_leaks`).
    """
    if check_leaks:
        check_welfare_leaks(data)
    if data.welfare is not None and not data.welfare_is_money:
        w = data.welfare.to_numpy(dtype=np.float64)
        if np.isnan(w).any():
            raise InputFileError(f"dataset {data.name!r}: the welfare class is missing for some households")
        return w
    return log_welfare(data)


def log_welfare(data: SurveyData) -> FloatArray:
    """Log per-capita welfare, the PMT target; refuses missing or non-positive welfare."""
    if data.welfare is None:
        raise InputFileError(f"dataset {data.name!r} has no welfare column: cannot train a PMT")
    w = data.welfare.to_numpy(dtype=np.float64)
    bad = np.nonzero(~(w > 0))[0]
    if bad.size:
        raise InputFileError(
            f"dataset {data.name!r}: welfare must be positive for the log; row {int(bad[0])} "
            f"(household {data.household_id.iloc[int(bad[0])]}) has {w[bad[0]]!r} "
            f"({bad.size} such rows; set welfare.log_floor in the dataset spec)"
        )
    return np.log(w)


def unit_weight(data: SurveyData, unit: Unit) -> FloatArray:
    """Persons (weight x size) or households (weight) represented by each row."""
    if check_unit(unit) == "person":
        return data.population_weight.to_numpy(dtype=np.float64)
    return data.weight.to_numpy(dtype=np.float64)


def poor_flags(data: SurveyData, *, poor_share: float | None = None, unit: Unit = "person") -> BoolArray:
    """Who is truly poor.

    The bottom ``poor_share`` of true welfare if given; else the survey's own truth (its flag or
    poor class, or welfare below its line: decided once, when the spec is read); else the bottom
    :data:`DEFAULT_POOR_SHARE` (shares counted in ``unit``).
    """
    if poor_share is None:
        if data.poor is not None:
            return data.poor.to_numpy(dtype=bool)
        poor_share = DEFAULT_POOR_SHARE
    if not 0 < poor_share < 1:
        raise ValueError(f"poor_share must be in (0, 1), got {poor_share}")
    if data.welfare is None:
        raise InputFileError(f"dataset {data.name!r} has no welfare: cannot rank the true poor")
    shares = population_shares(data.welfare.to_numpy(dtype=np.float64), unit_weight(data, unit))
    return shares < poor_share


#: A feature or role whose rank correlation with welfare exceeds this is a welfare proxy, not a PMT input.
LEAK_THRESHOLD = 0.9
#: Below this many households a correlation mostly measures noise: the check is not run.
LEAK_MIN_HOUSEHOLDS = 50


def welfare_correlations(data: SurveyData) -> pd.Series:
    """Weighted rank correlation with welfare of every model input and role column (absolute value).

    Numbers: weighted Spearman. Categories (a region, a cluster, a code list): the weighted
    correlation of each household's welfare rank with the mean welfare rank of the *other*
    households of its category (leave-one-out: the correlation ratio, without letting small clusters
    look like leaks by fitting their own members), so an income-decile column shows ~1.
    """
    from targeting.audit.metrics import spearman_weighted, weighted_midranks

    if data.welfare is None:
        return pd.Series(dtype="float64")
    w = data.population_weight.to_numpy(dtype=np.float64)
    y = data.welfare.to_numpy(dtype=np.float64)
    ok = np.isfinite(y)
    r = np.full(len(y), np.nan)
    r[ok] = weighted_midranks(y[ok], w[ok])
    X = design_frame(data)
    columns: dict[str, pd.Series] = {str(c): X[c] for c in X.columns}
    if data.cluster is not None:
        columns.setdefault(data.cluster_column or "cluster", data.cluster)
    for name in data.groups.columns:
        if name != "region":
            columns.setdefault(f"group:{name}", data.groups[name])
    out = {}
    for name, col in columns.items():
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col.dtype) \
                or pd.api.types.is_bool_dtype(col.dtype):
            codes, _ = pd.factorize(col.astype("string"))
            use = ok & (codes >= 0)
            sw = np.bincount(codes[use], weights=w[use])
            swr = np.bincount(codes[use], weights=w[use] * r[use])
            c = codes[use]
            rest = sw[c] - w[use]
            loo = np.where(rest > 0, (swr[c] - w[use] * r[use]) / np.where(rest > 0, rest, 1), np.nan)
            keep = np.isfinite(loo)
            # Pearson, not Spearman: ranking the leave-one-out means would order each category's
            # members by their own (subtracted) rank and scramble the comparison.
            rho = _weighted_pearson(r[use][keep], loo[keep], w[use][keep]) if keep.sum() > 2 else np.nan
        else:
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
            use = ok & np.isfinite(x)
            rho = spearman_weighted(y[use], x[use], sample_weight=w[use]) if use.sum() > 2 else np.nan
        out[name] = abs(rho) if np.isfinite(rho) else np.nan
    return pd.Series(out, dtype="float64").sort_values(ascending=False)


def _weighted_pearson(a: FloatArray, b: FloatArray, w: FloatArray) -> float:
    c = np.cov(np.vstack([a, b]), aweights=w)
    den = np.sqrt(c[0, 0] * c[1, 1])
    return float(c[0, 1] / den) if den > 0 else float("nan")


def check_welfare_leaks(data: SurveyData, threshold: float = LEAK_THRESHOLD) -> None:
    """Refuse to train on a survey where an input or role tracks welfare too closely.

    A column above ``threshold`` is allowed only if the spec says why (``welfare_leak_allowed``).
    """
    if data.welfare is None or len(data) < LEAK_MIN_HOUSEHOLDS:
        return
    corr = welfare_correlations(data)
    bad = corr[(corr > threshold) & ~corr.index.isin(list(data.leak_allowed))]
    if len(bad):
        listed = ", ".join(f"{name} ({value:.3f})" for name, value in bad.items())
        raise SpecError(
            f"dataset {data.name!r}: column(s) whose rank correlation with welfare exceeds {threshold} — "
            f"{listed}. A proxy of welfare is leakage, not an indicator: list it in never_features, or, if "
            "it truly belongs, say why under welfare_leak_allowed in the dataset spec"
        )
