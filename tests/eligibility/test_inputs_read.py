"""The rule engine reads a column's values and which are known without Series methods: the same
arrays the Series expressions gave, for every dtype a frame may hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.eligibility._contract import ContractField
from targeting.eligibility._evaluate import _Inputs
from targeting.errors import InputFileError

VALUES = st.lists(st.one_of(st.none(), st.sampled_from([0, 1, 2, -1, 0.5, 30])), min_size=1, max_size=6)
DTYPES = ["Int64", "float64", "boolean", "bool", "object", "string"]


def _column(values: list, dtype: str) -> pd.Series:
    if dtype in ("boolean", "bool"):
        flags = [None if v is None else bool(v) for v in values]
        return pd.Series([bool(f) for f in flags] if dtype == "bool" else flags, dtype=dtype)
    if dtype == "Int64":
        return pd.Series([None if v is None else int(v) for v in values], dtype="Int64")
    if dtype == "string":
        return pd.Series([None if v is None else str(v) for v in values], dtype="string")
    return pd.Series(values, dtype=dtype)


def _old(col: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The Series expressions the reader used before (without the error checks)."""
    known = col.notna().to_numpy()
    if kind == "bool":
        x = col.to_numpy(dtype=float, na_value=np.nan)
        return x == 1.0, known & ~np.isin(x, [0.0, 1.0])
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return x, known & np.isnan(x)


@settings(max_examples=200, deadline=None)
@given(VALUES, st.sampled_from(DTYPES), st.sampled_from(["int", "float", "bool"]))
def test_numbers_and_flags_are_read_as_before(values, dtype, kind):
    col = _column(values, dtype)
    if kind == "bool" and not pd.api.types.is_numeric_dtype(col.dtype):
        return  # text flags go through the words, unchanged
    frame = pd.DataFrame({"x": col, "household_id": [f"H{i}" for i in range(len(col))]})
    inputs = _Inputs(frame, {"x": ContractField("x", kind)}, set())
    expected, bad = _old(col, kind)
    if bad.any():
        with pytest.raises(InputFileError):
            inputs.get("x")
        return
    got, known = inputs.get("x")
    np.testing.assert_array_equal(known, col.notna().to_numpy())
    assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()
