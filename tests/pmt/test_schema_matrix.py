"""The model matrix of a frame: each column's values as floats, categories as training-list positions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.pmt.schema import InputSchema

CATS = ("earth", "bamboo", "tile_ceramic")
ROWS = st.integers(1, 6)


@st.composite
def _column(draw: st.DrawFn, kind: str, n: int) -> tuple[pd.Series, list[float]]:
    """A column of ``kind`` with missing values, and the floats the model should read from it."""
    if kind == "Int64":
        values = draw(st.lists(st.none() | st.integers(-10**6, 10**6), min_size=n, max_size=n))
        return pd.Series(values, dtype="Int64"), [math.nan if v is None else float(v) for v in values]
    if kind == "boolean":
        flags = draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n))
        return pd.Series(flags, dtype="boolean"), [math.nan if v is None else float(v) for v in flags]
    if kind == "bool":
        bools = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return pd.Series(bools, dtype=bool), [float(v) for v in bools]
    if kind == "float64":
        floats = draw(st.lists(st.none() | st.floats(-1e9, 1e9), min_size=n, max_size=n))
        return pd.Series([math.nan if v is None else v for v in floats], dtype="float64"), \
            [math.nan if v is None else v for v in floats]
    if kind == "object numbers":
        ints = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
        return pd.Series([str(v) for v in ints], dtype=object), [float(v) for v in ints]
    # categories: the training list itself, or another list (other order, a code it does not know)
    labels = draw(st.lists(st.none() | st.sampled_from([*CATS, "marble"]), min_size=n, max_size=n))
    own = kind == "category (training list)"
    categories = list(CATS) if own else ["marble", *reversed(CATS)]
    if own:
        labels = [v if v != "marble" else None for v in labels]
    col = pd.Series(pd.Categorical(labels, categories=categories))
    return col, [CATS.index(v) if v in CATS else math.nan for v in labels]


KINDS = ["Int64", "boolean", "bool", "float64", "object numbers", "category (training list)",
         "category (other list)"]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=ROWS, kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
def test_matrix_reads_every_dtype_as_its_values(data: st.DataObject, n: int, kinds: list[str]) -> None:
    columns, expected = {}, []
    for j, kind in enumerate(kinds):
        col, floats = data.draw(_column(kind, n))
        columns[f"f{j}"] = col
        expected.append(floats)
    X = pd.DataFrame(columns)
    schema = InputSchema(
        tuple(X.columns),
        tuple("categorical" if k.startswith("category") else "numeric" for k in kinds),
        tuple(CATS if k.startswith("category") else None for k in kinds),
    )
    M = schema.to_matrix(X)
    np.testing.assert_array_equal(M, np.array(expected, dtype=np.float64).T.reshape(n, len(kinds)))


def test_columns_beyond_the_schema_are_not_read():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": pd.Categorical(["bamboo", None], categories=list(CATS)),
                      "extra": ["not", "a number"]})
    schema = InputSchema(("a", "b"), ("numeric", "categorical"), (None, CATS))
    np.testing.assert_array_equal(schema.to_matrix(X), np.array([[1.0, 1.0], [2.0, np.nan]]))
