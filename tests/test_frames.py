"""`targeting._frames.column_values` reads a frame's columns from pandas' block manager: the same arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting._frames import _series_values, column_values

KINDS = ("float64", "int64", "bool", "Int64", "boolean", "Float64", "string", "category", "object")


def _column(kind: str, values: list[float | None]) -> pd.Series:
    x = [None if v is None else v for v in values]
    if kind == "float64":
        return pd.Series([np.nan if v is None else v for v in x], dtype="float64")
    if kind == "int64":
        return pd.Series([0 if v is None else int(v) for v in x], dtype="int64")
    if kind == "bool":
        return pd.Series([bool(v) for v in x], dtype="bool")
    if kind in ("Int64", "boolean"):
        cast = int if kind == "Int64" else bool
        return pd.Series([None if v is None else cast(v) for v in x], dtype=kind)
    if kind == "Float64":
        return pd.Series(x, dtype="Float64")
    if kind == "string":
        return pd.Series([None if v is None else f"t{v}" for v in x], dtype="string")
    if kind == "category":
        return pd.Series([None if v is None else f"c{int(v) % 3}" for v in x], dtype="category")
    return pd.Series([None if v is None else ("a" if v > 0 else 1) for v in x], dtype=object)


@settings(max_examples=80, deadline=None)
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=0, max_size=12), n=st.integers(0, 5),
       data=st.data(), how=st.sampled_from(["dict", "insert", "concat", "rows", "columns"]))
def test_column_values_are_the_series_values(kinds, n, data, how):
    values = [data.draw(st.lists(st.none() | st.integers(-5, 5).map(float), min_size=n, max_size=n))
              for _ in kinds]
    columns = {f"c{j}": _column(kind, v) for j, (kind, v) in enumerate(zip(kinds, values, strict=True))}
    if how == "dict":
        frame = pd.DataFrame(columns)
    elif how == "insert":  # one block per column, inserted one by one
        frame = pd.DataFrame(index=pd.RangeIndex(n))
        for name, col in columns.items():
            frame[name] = col
    elif how == "concat":
        frame = pd.concat([pd.DataFrame({k: v}) for k, v in columns.items()], axis=1) if columns \
            else pd.DataFrame(index=pd.RangeIndex(n))
    elif how == "rows":  # a row selection (copy-on-write views)
        frame = pd.DataFrame(columns).iloc[::-1].reset_index(drop=True)
    else:  # a column selection in another order, with a repeated name
        full = pd.DataFrame(columns)
        order = list(full.columns)[::-1]
        frame = full[order + order[:1]]
    got = column_values(frame)
    assert len(got) == frame.shape[1]
    for j, value in enumerate(got):
        col = frame.iloc[:, j]
        expected = _series_values(col)
        assert type(value) is type(expected)
        assert value.dtype == col.dtype
        assert len(value) == len(frame)
        pd.testing.assert_series_equal(pd.Series(value, name=col.name, dtype=col.dtype),
                                       col.reset_index(drop=True), check_index_type=False)


def test_the_arrays_are_the_frames_own():
    frame = pd.DataFrame({"x": [1.0, 2.0], "s": pd.array(["a", None], dtype="string")})
    x, s = column_values(frame)
    assert np.shares_memory(x, frame["x"].to_numpy()) and s is frame["s"].array
