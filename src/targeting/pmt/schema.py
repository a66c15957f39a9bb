"""The input schema a PMT model was trained on, and the one numeric matrix every backend reads.

Categorical features become float category codes (``NaN`` = missing or a value outside the training
code list) so the linear encoder and LightGBM see identical inputs; numeric and binary features
stay float64 with ``NaN`` for missing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting._frames import column_values, python_values
from targeting.survey.validate import float_values

FeatureKind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class InputSchema:
    """Names, kinds and category lists of the model's input features, in column order."""

    names: tuple[str, ...]
    kinds: tuple[FeatureKind, ...]
    categories: tuple[tuple[Any, ...] | None, ...]

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def categorical_indices(self) -> list[int]:
        return [j for j, k in enumerate(self.kinds) if k == "categorical"]

    @classmethod
    def from_frame(cls, X: pd.DataFrame) -> InputSchema:
        """Infer the schema from a frame's dtypes.

        ``category`` dtype keeps its full category list; text columns become categorical with their
        sorted observed values; everything else (numbers, booleans) is numeric.
        """
        kinds: list[FeatureKind] = []
        cats: list[tuple[Any, ...] | None] = []
        for name in X.columns:
            col = X[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                kinds.append("categorical")
                cats.append(tuple(_plain(v) for v in col.dtype.categories))
            elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
                kinds.append("numeric")
                cats.append(None)
            else:
                kinds.append("categorical")
                cats.append(tuple(sorted(str(v) for v in col.dropna().unique())))
        return cls(tuple(str(c) for c in X.columns), tuple(kinds), tuple(cats))

    @classmethod
    def numeric(cls, n_features: int) -> InputSchema:
        """Schema for a plain numeric array (names ``x0``, ``x1``, ... as scikit-learn does)."""
        numeric: FeatureKind = "numeric"
        kinds = tuple(numeric for _ in range(n_features))
        return cls(
            tuple(f"x{j}" for j in range(n_features)),
            kinds,
            (None,) * n_features,
        )

    def to_matrix(self, X: pd.DataFrame | FloatArray) -> FloatArray:
        """The float64 matrix backends read: categories as codes of the training code list."""
        if not isinstance(X, pd.DataFrame):
            arr = np.asarray(X, dtype=np.float64)
            if self.categorical_indices:
                raise ValueError("this model has categorical features: pass a pandas DataFrame")
            return _check_finite_or_nan(arr, self.names)
        out = np.empty((len(X), self.n_features), dtype=np.float64)
        if X.shape[1] < self.n_features:
            raise IndexError(f"expected {self.n_features} columns, got {X.shape[1]}")
        # Columns by position, as arrays (a Series per column costs ~8 µs, which a one-household
        # request pays for every feature).
        columns = column_values(X)
        for j, (kind, cats, col) in enumerate(zip(self.kinds, self.categories, columns, strict=False)):
            if kind == "categorical":
                assert cats is not None
                out[:, j] = _codes(col, cats)
            elif pd.api.types.is_numeric_dtype(col.dtype):  # to_numeric would return it unchanged
                out[:, j] = float_values(col)
            else:
                out[:, j] = float_values(pd.to_numeric(pd.Series(col, copy=False), errors="raise"))
        return _check_finite_or_nan(out, self.names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [
                {"name": n, "kind": k, "categories": None if c is None else list(c)}
                for n, k, c in zip(self.names, self.kinds, self.categories, strict=True)
            ]
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSchema:
        feats = d["features"]
        return cls(
            tuple(f["name"] for f in feats),
            tuple(f["kind"] for f in feats),
            tuple(None if f["categories"] is None else tuple(f["categories"]) for f in feats),
        )


def _codes(col: Any, cats: tuple[Any, ...]) -> FloatArray:
    """Positions of a column's values (array or Series) in the training code list (NaN: missing or absent)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        categorical = col.array if isinstance(col, pd.Series) else col
        categories = categorical.categories
        codes = categorical.codes
        # Compared as Python values: iterating a text Index builds a scalar per element (~25 µs a column).
        if len(categories) == len(cats) and python_values(categories.array) == list(cats):
            # The column already uses the training code list (the contract's): its codes are the positions.
            pos = codes
        else:
            # Map the (few) categories, then the integer codes: fast for 260,000 rows.
            lookup = np.append(_index(cats).get_indexer(categories), -1)
            pos = lookup[codes]  # code -1 (missing) picks the appended -1
    else:
        pos = _index(cats).get_indexer(pd.Series(col, copy=False).astype(object).to_numpy())
    return np.where(pos < 0, np.nan, pos).astype(np.float64)


@functools.lru_cache(maxsize=256)
def _index(cats: tuple[Any, ...]) -> pd.Index:
    """The training code list as an index, built once per list (a one-household request pays it once)."""
    return pd.Index(list(cats))


def _plain(v: Any) -> Any:
    """A JSON-friendly Python scalar (numpy ints/floats become int/float)."""
    return v.item() if isinstance(v, np.generic) else v


def _check_finite_or_nan(arr: FloatArray, names: tuple[str, ...]) -> FloatArray:
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d array, got {arr.ndim} dimension(s)")
    bad = np.isinf(arr)
    if bad.any():
        j = int(np.nonzero(bad.any(axis=0))[0][0])
        name = names[j] if j < len(names) else str(j)
        raise ValueError(f"Input contains infinity in column {name!r}")
    return arr


def data_fingerprint(
    matrix: FloatArray, y: FloatArray, sample_weight: FloatArray, schema: InputSchema
) -> str:
    """Sha256 of the canonical training bytes.

    Schema JSON, then features, target and weights as little-endian float64 in C order
    (categories as codes), so the hash depends only on the values the model saw, not on pandas
    versions or dtypes.
    """
    h = hashlib.sha256()
    h.update(json.dumps(schema.to_dict(), sort_keys=True, default=str).encode())
    for arr in (matrix, y, sample_weight):
        a = np.ascontiguousarray(arr, dtype="<f8")
        h.update(np.where(np.isnan(a), np.nan, a).astype("<f8").tobytes())  # one NaN bit pattern
    return h.hexdigest()
