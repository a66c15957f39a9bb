"""The indicator design shared by the community models: one-hot levels, imputed and scaled numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FloatArray = npt.NDArray[np.float64]
MISSING_LEVEL = "__missing__"


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s)


def as_frame(X: Any) -> pd.DataFrame:
    """Indicators as a DataFrame; categorical columns as text with missing as its own level."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=np.float64))
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    for c in frame.columns:
        if _is_categorical(frame[c]):
            text = frame[c].astype(object).where(frame[c].notna(), MISSING_LEVEL)
            frame[c] = pd.Series(np.asarray(text, dtype=str).astype(object), index=frame.index, dtype=object)
        else:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
    return frame


def make_design(frame: pd.DataFrame) -> ColumnTransformer:
    """Unfitted design of the indicators, every column standardised (one ridge penalty fits all).

    One-hot categorical levels (an unseen level is all zero); numbers median-imputed with a
    missing-value indicator.
    """
    cat = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    num = [c for c in frame.columns if c not in cat]
    parts: list[tuple[str, Any, list[str]]] = []
    if num:
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        parts.append(("num", make_pipeline(imputer, StandardScaler()), num))
    if cat:
        parts.append(
            (
                "cat",
                make_pipeline(
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False), StandardScaler()
                ),
                cat,
            )
        )
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=True)
