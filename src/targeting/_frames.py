"""Reading a DataFrame's columns as arrays, and framing arrays, without pandas' per-column wrapping.

``frame[name]`` (or ``frame.items()``) builds a Series per column, ~8 µs each: a one-household
request reads ~100 columns that way (the validation, the model matrix), about a millisecond of a
request whose goal is ten. pandas keeps each column's values in its block manager; reading them
from there costs well under a microsecond a column. That manager is not public API, so
`column_values` falls back to the Series reads when it is not there or does not answer as pandas 3
does, and ``tests/test_frames.py`` checks the two agree for every dtype the project reads.

The other way round, ``pd.DataFrame(dict_of_arrays)`` runs ~75 Python calls a column to check and
"sanitize" arrays that the validation has just built in their final form: ~3,300 calls for the
request frame of one household, and a request built four such frames. `frame_of` hands the arrays
to the block manager directly (~15 calls a column) when every one is already in its stored form,
and otherwise calls the public constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def column_values(frame: pd.DataFrame) -> list[Any]:
    """Each column's values in order: a numpy array for numpy dtypes, else the extension array.

    What ``frame.iloc[:, j].array`` holds (the numpy array itself rather than its wrapper); the
    arrays are the frame's own (no copy): callers read them and must not write to them.
    """
    mgr = getattr(frame, "_mgr", None)
    iget = getattr(mgr, "iget_values", None)
    if iget is not None:
        try:
            values = [iget(j) for j in range(frame.shape[1])]
        except (AttributeError, IndexError, TypeError):  # pragma: no cover - a pandas without it
            values = []
        n = frame.shape[0]
        if len(values) == frame.shape[1] and all(len(v) == n for v in values):
            return values
    return [_series_values(col) for _, col in frame.items()]  # pragma: no cover - see above


def _series_values(col: pd.Series) -> Any:
    return col.to_numpy(copy=False) if not isinstance(col.dtype, pd.api.extensions.ExtensionDtype) \
        else col.array


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The column labels as ``pd.DataFrame`` makes them, built once per list of names.

    pandas infers and converts a list of texts on every call (~0.1 ms for a request's 46 names);
    an Index is immutable, and pandas itself shares one between frames (a shallow copy does).
    """
    return pd.Index(list(names))


def frame_of(columns: Mapping[str, Any], index: pd.Index, *, consolidate: bool = False) -> pd.DataFrame:
    """``pd.DataFrame(columns, index=index, copy=False)`` for arrays already in their stored form.

    The arrays become the frame's own columns, uncopied (the caller hands them over and must not
    write to them), one block each; with ``consolidate``, the numpy columns of one dtype are copied
    into one block (as the public constructor does), which later per-block work then pays once.
    That form is a 1-D numpy array of a number or bool dtype, or a pandas extension array
    (``Categorical``, ``Int64``, ``boolean``, ``string``), of the index's length, under text names,
    on a ``RangeIndex``; otherwise (or with a pandas without the internal constructor) the public
    constructor decides, as it always did.
    """
    arrays = list(columns.values())
    n = len(index)
    stored = all(
        (type(a) is np.ndarray and a.ndim == 1 and a.dtype.kind in "biuf" and len(a) == n)
        or (isinstance(a, pd.api.extensions.ExtensionArray)
            and not isinstance(a, pd.arrays.NumpyExtensionArray) and len(a) == n)
        for a in arrays
    )
    names = list(columns)
    if stored and names and all(type(name) is str for name in names) and isinstance(index, pd.RangeIndex):
        try:
            from pandas.core.internals.managers import create_block_manager_from_column_arrays

            mgr = create_block_manager_from_column_arrays(
                arrays, [_column_index(tuple(names)), index], consolidate=consolidate,
                refs=[None] * len(arrays))
            return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)
        except (ImportError, AttributeError, TypeError):  # pragma: no cover - a pandas without it
            pass
    return pd.DataFrame(columns, index=index, copy=False)


#: The public classes of pandas' masked arrays: values in ``_data``, missing cells in ``_mask``.
_MASKED = (pd.arrays.IntegerArray, pd.arrays.BooleanArray, pd.arrays.FloatingArray)


def masked_parts(values: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The values and the missing mask behind an ``Int64``, ``boolean`` or ``Float64`` array, uncopied.

    None for any other value, or when the array does not hold them as pandas 3 does. The values
    under the mask are undefined. ``to_numpy(dtype=..., na_value=...)`` gives the same numbers at
    ~30 calls a column; these two attributes cost none.
    """
    if not isinstance(values, _MASKED):
        return None
    data, mask = getattr(values, "_data", None), getattr(values, "_mask", None)
    if type(data) is np.ndarray and type(mask) is np.ndarray and data.shape == mask.shape == (len(values),):
        return data, mask
    return None  # pragma: no cover - a pandas that stores them otherwise


def python_values(values: Any) -> list[Any]:
    """An array's values as Python scalars, None where missing: ``to_numpy(object, na_value=None).tolist()``.

    Direct for what the validation builds: numpy numbers (NaN -> None), ``Int64`` and ``boolean``
    (their values and mask), ``Categorical`` (its categories by code) and Arrow-backed text (pyarrow's
    own list); anything else through pandas. A one-household request reads ~45 columns this way.
    """
    if type(values) is np.ndarray and values.dtype.kind in "biuf":
        return [None if x != x else x for x in values.tolist()]  # NaN is the only value unequal to itself
    if isinstance(values, (pd.arrays.IntegerArray, pd.arrays.BooleanArray)):
        parts = masked_parts(values)
        if parts is not None:
            return [None if m else v for v, m in zip(parts[0].tolist(), parts[1].tolist(), strict=True)]
    if isinstance(values, pd.Categorical):
        labels = python_values(values.categories.array)
        return [None if k < 0 else labels[k] for k in values.codes.tolist()]
    if isinstance(values, pd.arrays.ArrowStringArray):
        arrow = values.__arrow_array__()
        if isinstance(arrow, (pa.Array, pa.ChunkedArray)) and (
                pa.types.is_large_string(arrow.type) or pa.types.is_string(arrow.type)):
            out_text: list[Any] = arrow.to_pylist()
            return out_text
    out: list[Any] = pd.Series(values, copy=False).to_numpy(dtype=object, na_value=None).tolist()
    return out


@cache
def _inferred_text_dtype() -> Any:
    """The dtype pandas infers for a list of texts (pandas 3: ``str``, on pyarrow storage)."""
    return pd.Index(["text"]).dtype


def text_categorical(codes: np.ndarray, texts: list[str]) -> pd.Categorical:
    """``pd.Categorical.from_codes(codes, categories=texts)``: distinct texts, codes -1 (missing) to n-1.

    pandas infers a list's type and converts it to its text array on every call: ~90 µs for eight
    reason texts, three times in a one-household request. When pandas infers its Arrow-backed
    ``str`` dtype, the texts go to Arrow directly and the codes, which the caller built, are not
    checked again; the categories' values and dtype are the same.
    """
    dtype = _inferred_text_dtype()
    if texts and isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        array = dtype.__from_arrow__(pa.array(texts, type=pa.large_string()))
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(array)), validate=False)
    return pd.Categorical.from_codes(codes, categories=texts)
