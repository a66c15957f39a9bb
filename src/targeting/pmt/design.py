"""The PMT's data roles in one place: its input frame, its target, the counting unit and who is poor.

Training, validation, scoring and the audit all read these from here, so "poor", "log welfare" and
"a person vs a household" mean the same thing everywhere.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.errors import InputFileError
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
    X = data.features.copy()
    if include_region and data.region is not None:
        region = data.region.astype("string")
        name = str(data.region.name or "region")
        already = any(
            X[c].astype("string").reset_index(drop=True).equals(region.reset_index(drop=True))
            for c in X.columns
            if isinstance(X[c].dtype, pd.CategoricalDtype) or X[c].dtype == object
        )
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

    The bottom ``poor_share`` of true welfare if given; else the survey's poverty flag; else
    welfare < poverty line; else the bottom :data:`DEFAULT_POOR_SHARE` (shares counted in ``unit``).
    """
    if poor_share is None:
        if data.poor is not None:
            return data.poor.to_numpy(dtype=bool)
        if data.poverty_line is not None and data.welfare is not None:
            return data.welfare.to_numpy(dtype=np.float64) < data.poverty_line.to_numpy(dtype=np.float64)
        poor_share = DEFAULT_POOR_SHARE
    if not 0 < poor_share < 1:
        raise ValueError(f"poor_share must be in (0, 1), got {poor_share}")
    if data.welfare is None:
        raise InputFileError(f"dataset {data.name!r} has no welfare: cannot rank the true poor")
    shares = population_shares(data.welfare.to_numpy(dtype=np.float64), unit_weight(data, unit))
    return shares < poor_share
