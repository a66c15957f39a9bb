"""A chunk's decisions before its households are ranked: what a registry's first pass keeps for the second.

Everything in a decision except where the household stands (percentile, desil, programmes, the
selection and so the direction of its reasons) can be computed from the household alone:
prediction, rule verdicts, exact contributions. :meth:`targeting.decide.Scorer.prepare` computes it,
:meth:`Prepared.compact` keeps each household's reasons for both possible directions (k indicator
indices, matrix values and contributions each) and drops the n x p contributions, and
:meth:`Prepared.to_arrow` turns it into an Arrow table that pass 1 spills to disk.
:meth:`targeting.decide.Scorer.finish` then needs only the ranks, so a registry is read,
validated and explained once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Reasons = tuple[IntArray, FloatArray, FloatArray]

__all__ = ["Prepared", "pick_reasons"]

#: Key of the layout (which columns are which) in a spilled table's schema metadata.
LAYOUT_KEY = b"targeting.prepared"
_POPULATION = "__population"
_EXTRA = "__extra_"
_DIRECTIONS = ("down", "up")
_PARTS = ("idx", "x", "c")


def pick_reasons(values: FloatArray, matrix: FloatArray, selected: npt.ArrayLike, k: int,
                 min_abs: float) -> Reasons:
    """Reason indicator indices (-1: empty), their matrix values and contributions (NaN where empty)."""
    from targeting.explain import select_reasons

    n = values.shape[0]
    if k <= 0:
        return np.full((n, 0), -1, dtype=np.int64), np.empty((n, 0)), np.empty((n, 0))
    idx = select_reasons(values, selected, k, min_abs=min_abs)
    if not n:
        return idx, np.empty((0, k)), np.empty((0, k))
    has = idx >= 0
    safe = np.maximum(idx, 0)
    x = np.where(has, np.take_along_axis(matrix, safe, axis=1), np.nan)
    c = np.where(has, np.take_along_axis(values, safe, axis=1), np.nan)
    return idx, x, c


@dataclass
class Prepared:
    """The rank-independent columns of a chunk's decisions, in table order, and the means to its reasons.

    ``head`` holds the columns before the ranks (id, pseudonym, region, cluster, weight, size,
    predictions), ``rules`` the rule set's, ``tail`` the audit groups and truth. Reasons come from
    the contributions (``values``, ``matrix``) while they are in memory, or from ``candidates``
    (both directions, after :meth:`compact`). ``extra`` holds per-household columns that finishing
    needs but the table does not show (the welfare intervals' group labels).
    """

    head: dict[str, Any]
    rules: dict[str, Any]
    tail: dict[str, Any]
    prediction: FloatArray
    population: FloatArray
    region: npt.NDArray[np.object_] | None
    region_column: str | None
    top_k: int
    min_abs: float = 0.0
    values: FloatArray | None = None
    matrix: FloatArray | None = None
    candidates: dict[str, Reasons] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.prediction.shape[0])

    def reasons(self, selected: BoolArray) -> Reasons:
        """Each household's reasons in the direction of its decision (down when selected)."""
        if self.values is not None:
            assert self.matrix is not None
            return pick_reasons(self.values, self.matrix, selected, self.top_k, self.min_abs)
        if self.candidates is None:
            raise ValueError("prepared households have neither contributions nor reason candidates")
        down, up = self.candidates["down"], self.candidates["up"]
        pick = np.asarray(selected, dtype=bool)[:, None]
        idx, x, c = (np.where(pick, d, u) for d, u in zip(down, up, strict=True))
        return idx.astype(np.int64), x, c

    def compact(self) -> Prepared:
        """The same households with reasons for both directions instead of every contribution."""
        if self.values is None:
            return self
        assert self.matrix is not None
        n = len(self)
        candidates = {
            direction: pick_reasons(self.values, self.matrix, np.full(n, direction == "down"), self.top_k,
                                    self.min_abs)
            for direction in _DIRECTIONS
        }
        return replace(self, values=None, matrix=None, candidates=candidates)

    # ---- on disk ------------------------------------------------------------------------------

    def to_arrow(self) -> pa.Table:
        """A compact Arrow table of these households (the layout and each column's kind in its metadata).

        Built column by column, not through a DataFrame: pandas' frame constructor and
        ``Table.from_pandas`` copied every numeric column twice (into blocks and out again).
        """
        prepared = self.compact()
        assert prepared.candidates is not None
        cols: dict[str, Any] = {**prepared.head, **prepared.rules, **prepared.tail,
                                _POPULATION: prepared.population,
                                **{_EXTRA + name: col for name, col in prepared.extra.items()}}
        for direction in _DIRECTIONS:
            parts = prepared.candidates[direction]
            for part, arr in zip(_PARTS, parts, strict=True):
                for slot in range(prepared.top_k):
                    col = arr[:, slot]
                    cols[_candidate(direction, part, slot)] = col.astype(np.int16) if part == "idx" else col
        kinds = {name: _kind(col) for name, col in cols.items()}
        table = pa.table({name: _to_arrow(col, kinds[name]) for name, col in cols.items()})
        layout = {"head": list(prepared.head), "rules": list(prepared.rules), "tail": list(prepared.tail),
                  "extra": list(prepared.extra),
                  "region_column": prepared.region_column, "top_k": prepared.top_k,
                  "min_abs": prepared.min_abs, "kinds": kinds}
        return table.replace_schema_metadata({LAYOUT_KEY: json.dumps(layout).encode("utf-8")})

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Prepared:
        """The households :meth:`to_arrow` wrote, each column as the kind of array it was."""
        meta = table.schema.metadata or {}
        if LAYOUT_KEY not in meta:
            raise ValueError("not a table of prepared decisions (no layout in its metadata)")
        layout = json.loads(meta[LAYOUT_KEY].decode("utf-8"))
        if "kinds" not in layout:
            raise ValueError("prepared decisions spilled by an older version of targeting: score again "
                             "into a new output folder")
        kinds: dict[str, str] = layout["kinds"]

        def column(name: str) -> Any:
            return _from_arrow(table.column(name), kinds[name])

        k = int(layout["top_k"])
        candidates: dict[str, Reasons] = {}
        for direction in _DIRECTIONS:
            idx, x, c = (_slots(column, len(table), direction, part, k) for part in _PARTS)
            candidates[direction] = (idx.astype(np.int64), x, c)
        region_column = layout["region_column"]
        from targeting.decide import schema as s

        return cls(
            head={name: column(name) for name in layout["head"]},
            rules={name: column(name) for name in layout["rules"]},
            tail={name: column(name) for name in layout["tail"]},
            prediction=np.asarray(column(s.PREDICTED_LOG), dtype=np.float64),
            population=np.asarray(column(_POPULATION), dtype=np.float64),
            region=None if region_column is None else np.asarray(column(region_column), dtype=object),
            region_column=region_column, top_k=k, min_abs=float(layout["min_abs"]), candidates=candidates,
            extra={name: column(_EXTRA + name) for name in layout.get("extra", [])},
        )


def _kind(col: Any) -> str:
    """How a column is kept: a numpy dtype's name, or the pandas array it comes back as."""
    if isinstance(col, np.ndarray):
        return "object" if col.dtype == object else col.dtype.str
    if isinstance(col, pd.Categorical):
        return "category"
    if isinstance(col.dtype, pd.StringDtype):
        return f"string[{col.dtype.storage}]" + ("+nan" if col.dtype.na_value is not pd.NA else "")
    if isinstance(col.dtype, pd.BooleanDtype | pd.Int64Dtype):
        return col.dtype.name
    raise TypeError(f"no spill format for a column of {type(col).__name__} ({col.dtype})")


def _to_arrow(col: Any, kind: str) -> pa.Array | pa.ChunkedArray:
    if kind == "object":
        return pa.array(col, type=pa.large_string())  # texts (an object column holds nothing else here)
    return pa.array(col)


def _from_arrow(arr: pa.ChunkedArray, kind: str) -> Any:
    if kind == "category":
        chunk = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        return pd.Categorical.from_codes(
            np.asarray(chunk.indices.fill_null(-1)), categories=pd.Index(chunk.dictionary.to_pylist()),
            ordered=chunk.type.ordered)
    if kind == "object":
        return arr.to_numpy()
    if kind.startswith("string["):
        storage, nan = kind[len("string["):].split("]")
        return pd.StringDtype(storage, na_value=np.nan if nan else pd.NA).__from_arrow__(arr)
    if kind in ("boolean", "Int64"):
        return pd.api.types.pandas_dtype(kind).__from_arrow__(arr)
    return arr.to_numpy().astype(np.dtype(kind), copy=False)


def _slots(column: Any, n: int, direction: str, part: str, k: int) -> npt.NDArray[Any]:
    """One part of a direction's reason candidates as an (n, k) array."""
    dtype = np.int64 if part == "idx" else np.float64
    if not k:
        return np.empty((n, 0), dtype=dtype)
    return np.column_stack([np.asarray(column(_candidate(direction, part, slot)), dtype=dtype)
                            for slot in range(k)])


def _candidate(direction: str, part: str, slot: int) -> str:
    return f"__{direction}_{part}_{slot + 1}"
