"""Reading a DataFrame's columns as arrays without building a Series for each.

``frame[name]`` (or ``frame.items()``) builds a Series per column, ~8 µs each: a one-household
request reads ~100 columns that way (the validation, the model matrix), about a millisecond of a
request whose goal is ten. pandas keeps each column's values in its block manager; reading them
from there costs well under a microsecond a column. That manager is not public API, so
`column_values` falls back to the Series reads when it is not there or does not answer as pandas 3
does, and ``tests/test_frames.py`` checks the two agree for every dtype the project reads.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


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
        if len(values) == frame.shape[1] and all(len(v) == len(frame) for v in values):
            return values
    return [_series_values(col) for _, col in frame.items()]  # pragma: no cover - see above


def _series_values(col: pd.Series) -> Any:
    return col.to_numpy(copy=False) if not isinstance(col.dtype, pd.api.extensions.ExtensionDtype) \
        else col.array
