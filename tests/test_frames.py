"""`targeting._frames.column_values` reads a frame's columns from pandas' block manager: the same arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting._frames import (
    _series_values,
    column_values,
    frame_of,
    masked_parts,
    python_values,
    text_categorical,
)

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


def _array(col: pd.Series):
    """A column as the arrays the validation hands over (numpy for numpy dtypes, else the extension array)."""
    return _series_values(col).copy()


@settings(max_examples=80, deadline=None)
@given(kinds=st.lists(st.sampled_from((*KINDS, "datetime", "series")), min_size=0, max_size=10),
       n=st.integers(0, 4), data=st.data(), consolidate=st.booleans())
def test_frame_of_is_the_dataframe_constructor(kinds, n, data, consolidate):
    """The same frame as ``pd.DataFrame(columns, index=..., copy=False)``: columns, dtypes, values, index."""
    columns = {}
    for j, kind in enumerate(kinds):
        values = data.draw(st.lists(st.none() | st.integers(-5, 5).map(float), min_size=n, max_size=n))
        if kind == "datetime":  # not a stored form here: the public constructor decides
            columns[f"c{j}"] = np.array(["2026-01-01"] * n, dtype="datetime64[ns]")
        elif kind == "series":
            columns[f"c{j}"] = _column("float64", values)
        else:
            columns[f"c{j}"] = _array(_column(kind, values))
    index = pd.RangeIndex(n)
    got = frame_of(columns, index, consolidate=consolidate)
    expected = pd.DataFrame(columns, index=index, copy=False)
    pd.testing.assert_frame_equal(got, expected, check_column_type=True, check_index_type=True)
    if consolidate and kinds and not {"datetime", "series", "object"} & set(kinds):
        # numpy columns of a dtype in one block, as ``pd.DataFrame(columns)`` (which copies) gives
        assert got._mgr.nblocks == pd.DataFrame(columns, index=index)._mgr.nblocks
    assert [type(v) for v in column_values(got)] == [type(v) for v in column_values(expected)]


def test_frame_of_takes_the_arrays_without_copying():
    x = np.array([1.0, 2.0])
    s = pd.array(["a", None], dtype="string")
    frame = frame_of({"x": x, "s": s}, pd.RangeIndex(2))
    got_x, got_s = column_values(frame)
    assert np.shares_memory(got_x, x) and got_s is s
    assert frame_of({}, pd.RangeIndex(3)).shape == (3, 0)  # no columns: the public constructor's frame


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(KINDS), values=st.lists(st.none() | st.integers(-5, 5).map(float), max_size=6))
def test_python_values_are_to_numpy_object_with_none(kind, values):
    """Python scalars of the same types, None where missing, as pandas' own conversion gives."""
    col = _column(kind, values)
    array = _series_values(col)
    expected = col.to_numpy(dtype=object, na_value=None).tolist()
    if kind == "float64":
        expected = [None if v != v else v for v in expected]  # NaN is a float64 column's missing value
    got = python_values(array)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(("Int64", "boolean", "Float64")),
       values=st.lists(st.none() | st.integers(-5, 5).map(float), max_size=6))
def test_masked_parts_are_the_values_and_the_missing_cells(kind, values):
    array = _series_values(_column(kind, values))
    parts = masked_parts(array)
    assert parts is not None
    data, mask = parts
    np.testing.assert_array_equal(mask, np.asarray(array.isna()))
    present = ~mask
    np.testing.assert_array_equal(data[present], array[present].to_numpy())
    assert masked_parts(np.zeros(2)) is None and masked_parts(pd.Categorical(["a"])) is None


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(max_size=6), max_size=6, unique=True), data=st.data())
def test_text_categorical_is_from_codes_with_a_list(texts, data):
    codes = np.array(data.draw(st.lists(st.integers(-1, len(texts) - 1), max_size=8)), dtype=np.int64)
    got = text_categorical(codes, list(texts))
    expected = pd.Categorical.from_codes(codes, categories=list(texts))
    assert got.dtype == expected.dtype and got.categories.dtype == expected.categories.dtype
    pd.testing.assert_index_equal(got.categories, expected.categories, exact=True)
    np.testing.assert_array_equal(got.codes, expected.codes)
    pd.testing.assert_extension_array_equal(got, expected)
