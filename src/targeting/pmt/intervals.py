"""Calibrated prediction intervals on log per-capita welfare, by group (Mondrian conformal).

How it works
------------
* **Out-of-sample residuals.** The PMT is cross-fitted on the training survey with folds that hold
  whole sampling clusters (:func:`targeting.pmt.validation.cross_validate`), so a household's own
  village never trains the model that scores its residual ``r = y − ŷ`` (log welfare).
* **Survey-weighted.** The residual distribution of each group is the survey-weighted empirical
  distribution (weights = households represented), so coverage is a statement about the district's
  households, not about the sample.
* **Mondrian groups.** Residuals are calibrated per cell of ``levels`` (finest first, e.g.
  kecamatan × urban, then kecamatan, then urban/rural, then the whole survey). A cell is calibrated
  on its own only when its Kish effective size ``(Σw)² / Σw²`` reaches ``min_group_size``; a
  household whose cell is smaller (or unseen, or has a missing group value) takes the first coarser
  level whose cell is large enough, and the whole survey at the end. The default minimum, 400, is
  where the calibration quantile's own sampling error (binomial SD of coverage, √(L(1−L)/n)) falls
  to 2 points at L = 80 %.
* **A quantile grid, not one quantile.** Each cell stores the inverted-CDF weighted quantiles of its
  residuals on :data:`DEFAULT_PROBS` (steps of 0.001 in the tails, 0.005 in the middle), so any
  level and any cut work at scoring time: :meth:`WelfareIntervals.interval` (equal-tailed, with the
  split-conformal finite-sample correction ``τ → τ (n + 1) / n`` using the effective size, rounded
  outwards to the grid) and :meth:`WelfareIntervals.prob_below` (the calibrated probability that
  true log welfare lies below a cut, interpolated on the grid and bounded by its resolution,
  [0.001, 0.999]).

The intervals are for *measured* welfare (what the survey observed, measurement error included).
The scoring model is the one fitted on the whole survey while the residuals come from models fitted
on 4/5 of it, so intervals are, if anything, slightly conservative (MAPIE's cross-conformal
``method="base"``). MAPIE 1.x is not used for the calibration itself: its conformalisation takes no
survey weights and has no group-conditional (Mondrian) mode; ``tests/pmt/test_intervals.py`` checks
that with unit weights and one group the bounds agree with MAPIE's ``SplitConformalRegressor``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from targeting.errors import ModelIntegrityError, SpecError
from targeting.survey.dataset import SurveyData

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GroupsLike: TypeAlias = "pd.DataFrame | Mapping[str, Any] | IntArray | None"

__all__ = [
    "DEFAULT_GROUP_COLUMNS",
    "DEFAULT_MIN_GROUP_SIZE",
    "DEFAULT_PROBS",
    "INTERVALS_FILE",
    "SCHEMA_VERSION",
    "WelfareIntervals",
    "cqr_interval",
    "cqr_scores",
    "cross_fit_predictions",
    "effective_size",
    "fit_intervals",
    "interval_group_arrays",
    "interval_groups",
    "load_intervals",
    "mondrian_levels",
    "save_intervals",
    "weighted_quantile",
]

SCHEMA_VERSION = 1
INTERVALS_FILE = "intervals.json"
KIND = "targeting.welfare_intervals"
DEFAULT_MIN_GROUP_SIZE = 400.0
DEFAULT_GROUP_COLUMNS: tuple[str, ...] = ("region", "urban")
#: Probabilities of the stored quantile grid: fine in the tails, where interval ends live.
DEFAULT_PROBS: FloatArray = np.round(
    np.concatenate([np.arange(1, 50) / 1000, np.arange(10, 190) / 200, np.arange(950, 1000) / 1000]), 6
)
# Log points: quantiles are stored rounded so that a JSON round trip is exact.
_DECIMALS = 6
# Tolerance when a corrected tail probability is compared with the grid's probabilities.
_GRID_TOL = 1e-9


# ---- weighted quantiles --------------------------------------------------------------------------


def weighted_quantile(
    values: npt.ArrayLike, probs: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
) -> FloatArray:
    """Inverted-CDF weighted quantiles: the smallest value whose cumulative weight share reaches ``p``.

    With unit weights this is ``np.quantile(values, p, method="inverted_cdf")``, the order statistic
    ``⌈n p⌉`` (so split conformal's ``⌈(n + 1)(1 − α)⌉``-th score is ``p = (1 − α)(n + 1) / n``).
    Zero weights are ignored; ``p = 0`` gives the smallest value with positive weight.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    w = np.ones_like(v) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape != v.shape:
        raise ValueError(f"sample_weight has {w.shape[0]} entries, values {v.shape[0]}")
    if np.any(~np.isfinite(v)) or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("values and weights must be finite, weights non-negative")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    keep = w > 0
    if not keep.any():
        raise ValueError("weighted quantile of an empty set (no positive weight)")
    v, w = v[keep], w[keep]
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(w[order])
    # Relative tolerance: a share that equals p up to rounding counts as reaching it.
    target = p * cum[-1] * (1 - 1e-12)
    idx = np.minimum(np.searchsorted(cum, target, side="left"), v.size - 1)
    return np.asarray(v[idx], dtype=np.float64)


def effective_size(sample_weight: npt.ArrayLike) -> float:
    """Kish effective sample size ``(Σw)² / Σw²`` (the count itself under equal weights)."""
    w = np.asarray(sample_weight, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


# ---- group keys ----------------------------------------------------------------------------------


def mondrian_levels(columns: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Fallback levels from group columns: all of them together, then each one alone, in order."""
    cols = tuple(str(c) for c in columns)
    if len(cols) <= 1:
        return (cols,) if cols else ()
    return (cols, *((c,) for c in cols))


def _key_texts(values: npt.ArrayLike) -> tuple[IntArray, list[str]]:
    """Codes and canonical texts of group values (True -> 'true', 2.0 -> '2'); missing -> code -1.

    Keys are compared as text so that a model calibrated on a CSV survey scores a Parquet registry.
    """
    # An array is factorised as it is: wrapping it in a Series first infers a text dtype for
    # strings (~30 µs a call) and gives the same codes and values (tests/pmt/test_intervals.py).
    codes, uniques = pd.factorize(values if isinstance(values, pd.Series | np.ndarray) else pd.Series(values))
    texts = []
    for u in np.asarray(uniques, dtype=object):
        if isinstance(u, bool | np.bool_):
            texts.append("true" if u else "false")
        elif isinstance(u, float | np.floating) and float(u).is_integer():
            texts.append(str(int(u)))
        else:
            texts.append(str(u))
    return codes.astype(np.int64), texts


def _level_keys(
    frame: Mapping[str, Any], columns: tuple[str, ...], n: int,
    keyed: dict[str, tuple[IntArray, list[str]]] | None = None,
) -> tuple[IntArray, list[tuple[str, ...]]]:
    """One integer per household for its cell at this level (−1 if any value is missing), and the keys.

    ``keyed`` holds the `_key_texts` of columns already read (a column is in several levels).
    """
    if not columns:
        return np.zeros(n, dtype=np.int64), [()]
    combined = np.zeros(n, dtype=np.int64)
    parts = []
    keyed = {} if keyed is None else keyed
    for col in columns:
        if col not in frame:
            raise SpecError(f"group column {col!r} is missing (the intervals were calibrated by {columns})")
        if col not in keyed:
            keyed[col] = _key_texts(frame[col])
        codes, texts = keyed[col]
        if codes.shape[0] != n:
            raise ValueError(f"group column {col!r} has {codes.shape[0]} values, expected {n}")
        parts.append((codes, texts))
        combined = np.where((combined < 0) | (codes < 0), -1, combined * (len(texts) + 1) + codes)
    uniq, inverse = np.unique(combined, return_inverse=True)
    keys: list[tuple[str, ...]] = []
    first = np.zeros(uniq.size, dtype=np.int64)
    first[inverse[::-1]] = np.arange(n)[::-1]  # a representative row of each cell
    for j, u in enumerate(uniq):
        if u < 0:
            keys.append(())  # placeholder: a missing value matches no cell
            continue
        row = first[j]
        keys.append(tuple(texts[codes[row]] for codes, texts in parts))
    inverse = inverse.astype(np.int64)
    if uniq.size and uniq[0] < 0:
        inverse = np.where(inverse == 0, -1, inverse)
    return inverse, keys


def interval_groups(data: SurveyData, columns: Sequence[str] = DEFAULT_GROUP_COLUMNS) -> pd.DataFrame:
    """The Mondrian group columns of a survey or registry: from its groups, its region, or its frame.

    ``region`` is the dataset's region role (kecamatan, department); other names are audit groups
    (``urban``...) or raw columns. Columns the data lack are left out (its levels then skip them).
    """
    return pd.DataFrame(interval_group_arrays(data, columns), index=pd.RangeIndex(len(data)))


def interval_group_arrays(data: SurveyData, columns: Sequence[str] = DEFAULT_GROUP_COLUMNS) -> dict[str, Any]:
    """The columns of `interval_groups` as arrays (a scorer keeps them, no frame needed)."""
    out: dict[str, Any] = {}
    for col in columns:
        if col in data.groups.columns:
            out[col] = data.groups[col].to_numpy()
        elif col == "region" and data.region is not None:
            out[col] = data.region.to_numpy()
        elif col in data.frame.columns:
            out[col] = data.frame[col].to_numpy()
    return out


# ---- the calibrated object -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One calibrated group: its level, key, sizes and the residual quantiles on the grid."""

    level: int
    key: tuple[str, ...]
    n: int
    n_eff: float
    weight: float
    quantiles: FloatArray


class WelfareIntervals(BaseEstimator):
    """Group-conditional (Mondrian) calibration of log-welfare residuals on a quantile grid.

    Fit on out-of-sample residuals ``y − ŷ`` (see :func:`fit_intervals`); then, for new households'
    predictions ``ŷ`` and their group columns, :meth:`interval` gives calibrated bounds at any level
    and :meth:`prob_below` the probability that log welfare is below any cut.

    Parameters
    ----------
    levels : group-column tuples, finest first; the whole survey is always the last fallback.
    min_group_size : smallest Kish effective size for a cell to be calibrated on its own.
    probs : probabilities of the stored quantile grid (increasing, inside (0, 1)); default
        :data:`DEFAULT_PROBS`.
    measurement_error_sd : standard deviation of the survey's measurement error in log welfare, to
        take out of the residuals. The default, 0, calibrates for *measured* welfare (what a survey
        finds). A positive value shrinks each cell's residuals about their weighted median so their
        variance falls by its square (exact when both the error and the rest are Gaussian): the
        intervals then target welfare measured without error, like the synthetic registry's truth.
        The value cannot be learnt from one survey round; it comes from validation studies.

    Attributes
    ----------
    cells_ : tuple of :class:`Cell`, the whole survey first.
    info_ : dict of provenance (model fingerprint, folds, dataset) written with the JSON.
    """

    def __init__(
        self,
        levels: Sequence[Sequence[str]] = mondrian_levels(DEFAULT_GROUP_COLUMNS),
        *,
        min_group_size: float = DEFAULT_MIN_GROUP_SIZE,
        probs: npt.ArrayLike | None = None,
        measurement_error_sd: float = 0.0,
    ) -> None:
        self.levels = levels
        self.min_group_size = min_group_size
        self.probs = probs
        self.measurement_error_sd = measurement_error_sd

    def fit(
        self,
        residuals: npt.ArrayLike,
        groups: pd.DataFrame | Mapping[str, npt.ArrayLike] | None = None,
        sample_weight: npt.ArrayLike | None = None,
        *,
        info: Mapping[str, Any] | None = None,
    ) -> Self:
        """Calibrate on out-of-sample residuals (log welfare minus its out-of-fold prediction)."""
        r = np.asarray(residuals, dtype=np.float64).reshape(-1)
        n = r.shape[0]
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape[0] != n:
            raise ValueError(f"sample_weight has {w.shape[0]} entries, residuals {n}")
        if not np.all(np.isfinite(r)):
            raise ValueError("residuals contain NaN or infinity (a fold did not predict every household)")
        probs = self._check_probs()
        levels = self._check_levels()
        if levels and groups is None:
            raise ValueError(f"groups are needed to calibrate by {levels}")
        if self.min_group_size < 1:
            raise ValueError(f"min_group_size must be at least 1, got {self.min_group_size}")
        frame: Mapping[str, Any] = {} if groups is None else groups
        cells = [self._cell(-1, (), r, w, probs)]
        for li, cols in enumerate(levels):
            codes, keys = _level_keys(frame, cols, n)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
            for j, key in enumerate(keys):
                rows = order[bounds[j] : bounds[j + 1]]
                if not key or rows.size == 0:
                    continue
                if effective_size(w[rows]) >= self.min_group_size and w[rows].sum() > 0:
                    cells.append(self._cell(li, key, r[rows], w[rows], probs))
        self.cells_: tuple[Cell, ...] = tuple(cells)
        self.probs_: FloatArray = probs
        self.levels_: tuple[tuple[str, ...], ...] = levels
        self.info_: dict[str, Any] = dict(info or {})
        self._index()
        return self

    def _check_probs(self) -> FloatArray:
        p = np.asarray(DEFAULT_PROBS if self.probs is None else self.probs, dtype=np.float64).reshape(-1)
        if p.size < 2 or np.any(np.diff(p) <= 0) or p[0] <= 0 or p[-1] >= 1:
            raise ValueError("probs must be increasing and strictly inside (0, 1)")
        return p

    def _check_levels(self) -> tuple[tuple[str, ...], ...]:
        levels = tuple(tuple(str(c) for c in lv) for lv in self.levels)
        if any(len(lv) == 0 for lv in levels):
            raise ValueError("a level needs at least one column (the whole survey is always the last one)")
        return levels

    def _cell(
        self, level: int, key: tuple[str, ...], r: FloatArray, w: FloatArray, probs: FloatArray
    ) -> Cell:
        sd = float(self.measurement_error_sd)
        if sd < 0:
            raise ValueError(f"measurement_error_sd must be non-negative, got {sd}")
        if sd > 0:
            med = float(weighted_quantile(r, [0.5], w)[0])
            var = float(np.average((r - med) ** 2, weights=w))
            shrink = np.sqrt(max(var - sd * sd, 0.0) / var) if var > 0 else 0.0
            r = med + (r - med) * shrink
        q = np.round(weighted_quantile(r, probs, w), _DECIMALS)
        return Cell(level, key, int(r.size), float(effective_size(w)), float(w.sum()), q)

    def _index(self) -> None:
        # Per level: key -> cell index; the grid as one (cells x probs) array for vectorised scoring.
        self._lookup: list[dict[tuple[str, ...], int]] = [{} for _ in self.levels_]
        for i, c in enumerate(self.cells_):
            if c.level >= 0:
                self._lookup[c.level][c.key] = i
        self._grid = np.vstack([c.quantiles for c in self.cells_])
        # Strictly increasing copies for interpolation (ties in a small cell repeat a value).
        step = 1e-12 * np.arange(self._grid.shape[1])
        self._grid_strict = np.maximum.accumulate(self._grid, axis=1) + step
        self._n_eff = np.array([c.n_eff for c in self.cells_])
        span = float(self._grid_strict.max() - self._grid_strict.min()) + 1.0
        self._shift = span * np.arange(len(self.cells_), dtype=np.float64)
        self._flat = (self._grid_strict + self._shift[:, None]).ravel()

    # ---- scoring ---------------------------------------------------------------------------------------

    def assign(self, groups: GroupsLike, n: int | None = None) -> IntArray:
        """The calibrated cell of each household: its finest level with a large enough cell.

        Pass the result as ``groups`` to the other methods to look the cells up once.
        """
        check_is_fitted(self)
        if isinstance(groups, np.ndarray):
            if not np.issubdtype(groups.dtype, np.integer):
                raise TypeError("groups as an array must be the cell indices from `assign`; pass a frame")
            cells = groups.astype(np.int64).reshape(-1)
            if cells.size and (cells.min() < 0 or cells.max() >= len(self.cells_)):
                raise ValueError("cell indices out of range for these intervals")
            return cells
        if groups is None:
            if self.levels_:
                raise ValueError(f"groups are needed: these intervals are calibrated by {self.levels_}")
            if n is None:
                raise ValueError("without groups, give the number of households")
            return np.zeros(n, dtype=np.int64)
        frame: Mapping[str, Any] = groups
        if n is not None:
            size = n
        elif isinstance(groups, pd.DataFrame):
            size = len(groups)
        else:
            size = len(next(iter(groups.values()), []))
        out = np.zeros(size, dtype=np.int64)
        keyed: dict[str, tuple[IntArray, list[str]]] = {}
        # Coarsest first, so the finest level that has the household's cell wins.
        for li in range(len(self.levels_) - 1, -1, -1):
            codes, keys = _level_keys(frame, self.levels_[li], size, keyed)
            table = np.array([self._lookup[li].get(k, -1) if k else -1 for k in keys], dtype=np.int64)
            hit = table[codes] if codes.size else np.zeros(0, dtype=np.int64)
            hit = np.where(codes >= 0, hit, -1)
            out = np.where(hit >= 0, hit, out)
        return out

    def _tail_offsets(self, level: float) -> tuple[FloatArray, FloatArray]:
        """Per cell: residual quantiles at the corrected lower and upper tail of a central interval."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        tau = (1 - (1 - level) / 2) * (self._n_eff + 1) / self._n_eff
        lo_p, hi_p = 1 - tau, tau
        probs = self.probs_
        # Outwards to the grid: the upper end at the first grid point >= tau, the lower at the last <= 1-tau.
        j_hi = np.searchsorted(probs, hi_p - _GRID_TOL, side="left")
        j_lo = np.searchsorted(probs, lo_p + _GRID_TOL, side="right") - 1
        rows = np.arange(len(self.cells_))
        hi = np.where(j_hi < probs.size, self._grid[rows, np.minimum(j_hi, probs.size - 1)], np.inf)
        lo = np.where(j_lo >= 0, self._grid[rows, np.maximum(j_lo, 0)], -np.inf)
        return lo, hi

    def interval(
        self, pred_log_welfare: npt.ArrayLike, groups: GroupsLike = None, level: float = 0.9
    ) -> tuple[FloatArray, FloatArray]:
        """Calibrated central interval ``(low, high)`` of log welfare at ``level`` (e.g. 0.8, 0.9).

        A cell too small for the level's corrected tail gets an infinite bound (never a silent
        under-coverage); with the default grid and minimum group size that happens above 0.99.
        """
        check_is_fitted(self)
        pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
        cells = self.assign(groups, pred.shape[0])
        if cells.shape[0] != pred.shape[0]:
            raise ValueError(f"groups have {cells.shape[0]} rows, predictions {pred.shape[0]}")
        lo, hi = self._tail_offsets(level)
        return pred + lo[cells], pred + hi[cells]

    def quantile(self, pred_log_welfare: npt.ArrayLike, groups: GroupsLike, prob: float) -> FloatArray:
        """The calibrated ``prob`` quantile of log welfare (no finite-sample correction; linear on grid)."""
        check_is_fitted(self)
        pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
        cells = self.assign(groups, pred.shape[0])
        if not self.probs_[0] <= prob <= self.probs_[-1]:
            raise ValueError(f"prob must lie within the grid [{self.probs_[0]}, {self.probs_[-1]}]")
        per_cell = np.array([np.interp(prob, self.probs_, g) for g in self._grid])
        return pred + per_cell[cells]

    def prob_below(
        self, pred_log_welfare: npt.ArrayLike, cut_log_welfare: npt.ArrayLike, groups: GroupsLike = None
    ) -> FloatArray:
        """Probability that log welfare is below ``cut`` (a scalar or one cut per household).

        The cell's calibrated residual CDF at ``cut − ŷ``, linear between grid points and bounded by
        the grid's resolution (0.001 and 0.999 by default): never a certainty. Non-decreasing in the
        cut and non-increasing in the prediction.
        """
        check_is_fitted(self)
        pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
        n = pred.shape[0]
        cut = np.broadcast_to(np.asarray(cut_log_welfare, dtype=np.float64), (n,))
        if np.isnan(cut).any() or np.isnan(pred).any():
            raise ValueError("predictions and cuts must not be missing")
        cells = self.assign(groups, n)
        return self._cdf(cut - pred, cells)

    def _cdf(self, t: FloatArray, cells: IntArray) -> FloatArray:
        """Calibrated residual CDF at ``t`` in each household's cell, in one vectorised pass.

        The cells' grids are laid end to end, each shifted past the previous one's range, so a single
        ``searchsorted`` finds every household's grid interval.
        """
        grid, probs = self._grid_strict, self.probs_
        k = probs.size
        x = np.clip(t, grid[cells, 0], grid[cells, -1]) + self._shift[cells]
        j = np.searchsorted(self._flat, x, side="right") - 1
        local = np.clip(j - cells * k, 0, k - 2)
        j = cells * k + local
        left, right = self._flat[j], self._flat[j + 1]
        frac = np.clip((x - left) / (right - left), 0.0, 1.0)
        return np.asarray(probs[local] + frac * (probs[local + 1] - probs[local]), dtype=np.float64)

    def score_quantile(self, groups: GroupsLike, level: float, n: int | None = None) -> FloatArray:
        """Per household: the conformal upper ``level`` quantile of the stored score (for CQR)."""
        check_is_fitted(self)
        cells = self.assign(groups, n)
        tau = level * (self._n_eff + 1) / self._n_eff
        j = np.searchsorted(self.probs_, tau - _GRID_TOL, side="left")
        rows = np.arange(len(self.cells_))
        q = np.where(j < self.probs_.size, self._grid[rows, np.minimum(j, self.probs_.size - 1)], np.inf)
        return np.asarray(q[cells], dtype=np.float64)

    @property
    def welfare_desil_boundaries(self) -> FloatArray | None:
        """Measured log welfare at desil boundaries 1..9 of the training survey (persons), if recorded."""
        check_is_fitted(self)
        b = self.info_.get("welfare_desil_boundaries")
        return None if b is None else np.asarray(b, dtype=np.float64)

    @property
    def residual_range(self) -> tuple[float, float]:
        """Smallest and largest residual on any cell's grid (bounds a search over cuts)."""
        check_is_fitted(self)
        return float(self._grid[:, 0].min()), float(self._grid[:, -1].max())

    def cell_table(self) -> pd.DataFrame:
        """One row per calibrated cell: level columns, key, sizes and the 80 % / 90 % residual ends."""
        check_is_fitted(self)
        lo80, hi80 = self._tail_offsets(0.8)
        lo90, hi90 = self._tail_offsets(0.9)
        rows = []
        for i, c in enumerate(self.cells_):
            cols = ("(semua / all)",) if c.level < 0 else self.levels_[c.level]
            rows.append({
                "level": " × ".join(cols),
                "cell": " × ".join(c.key) if c.key else "(semua / all)",
                "n": c.n,
                "n_eff": round(c.n_eff, 1),
                "width_80": hi80[i] - lo80[i],
                "width_90": hi90[i] - lo90[i],
            })
        return pd.DataFrame(rows)

    # ---- serialisation ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (schema version, grid, levels, cells, provenance)."""
        check_is_fitted(self)
        return {
            "kind": KIND,
            "schema_version": SCHEMA_VERSION,
            "score": "residual of natural-log per-capita welfare: y - prediction",
            "weights": "survey weight (households represented)",
            "min_group_size": float(self.min_group_size),
            "measurement_error_sd": float(self.measurement_error_sd),
            "levels": [list(lv) for lv in self.levels_],
            "probs": [float(p) for p in self.probs_],
            "cells": [
                {
                    "level": c.level,
                    "key": list(c.key),
                    "n": c.n,
                    "n_eff": c.n_eff,
                    "weight": c.weight,
                    "quantiles": [float(q) for q in c.quantiles],
                }
                for c in self.cells_
            ],
            "info": _jsonable(self.info_),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> WelfareIntervals:
        """Rebuild from :meth:`to_dict` output; refuses another kind or schema version."""
        if state.get("kind") != KIND:
            raise ValueError(f"not a welfare-intervals file (kind {state.get('kind')!r})")
        if state.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"intervals schema version {state.get('schema_version')!r} is not {SCHEMA_VERSION}"
            )
        probs = np.asarray(state["probs"], dtype=np.float64)
        levels = tuple(tuple(str(c) for c in lv) for lv in state["levels"])
        obj = cls(levels, min_group_size=float(state["min_group_size"]), probs=probs,
                  measurement_error_sd=float(state.get("measurement_error_sd", 0.0)))
        obj._check_probs()
        cells = []
        for c in state["cells"]:
            q = np.asarray(c["quantiles"], dtype=np.float64)
            if q.shape != probs.shape or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ValueError(
                    f"cell {c.get('key')!r}: quantiles must be finite, non-decreasing, one per prob"
                )
            level = int(c["level"])
            if not -1 <= level < len(levels) or len(c["key"]) != (0 if level < 0 else len(levels[level])):
                raise ValueError(f"cell {c.get('key')!r}: key does not match level {level}")
            cells.append(Cell(level, tuple(str(k) for k in c["key"]), int(c["n"]), float(c["n_eff"]),
                              float(c["weight"]), q))
        if not cells or cells[0].level != -1 or any(c.n_eff <= 0 for c in cells):
            raise ValueError("the first cell must be the whole survey, and every cell needs n_eff > 0")
        obj.cells_ = tuple(cells)
        obj.probs_ = probs
        obj.levels_ = levels
        obj.info_ = dict(state.get("info") or {})
        obj._index()
        return obj


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---- training-time fitting -----------------------------------------------------------------------


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold predictions of one estimator on a survey, folds holding whole clusters."""

    prediction: FloatArray
    log_welfare: FloatArray
    weight: FloatArray
    fold: IntArray

    @property
    def residual(self) -> FloatArray:
        return self.log_welfare - self.prediction


def cross_fit_predictions(
    estimator: Any, data: SurveyData, *, n_splits: int = 5, seed: int = 0, n_jobs: int | None = None
) -> CrossFit:
    """Out-of-fold log-welfare predictions from the project's one CV protocol (clusters kept whole)."""
    from targeting.pmt.validation import cross_validate

    result = cross_validate(
        data, {"pmt": clone(estimator)}, n_splits=n_splits, seed=seed, n_bootstrap=0, n_jobs=n_jobs,
        baseline="pmt",
    )
    pred = result.predictions
    return CrossFit(
        prediction=pred["pred_pmt"].to_numpy(dtype=np.float64),
        log_welfare=pred["log_welfare"].to_numpy(dtype=np.float64),
        weight=pred["weight"].to_numpy(dtype=np.float64),
        fold=pred["fold"].to_numpy(dtype=np.int64),
    )


def fit_intervals(
    estimator: Any,
    data: SurveyData,
    *,
    group_columns: Sequence[str] = DEFAULT_GROUP_COLUMNS,
    levels: Sequence[Sequence[str]] | None = None,
    min_group_size: float = DEFAULT_MIN_GROUP_SIZE,
    n_splits: int = 5,
    seed: int = 0,
    n_jobs: int | None = None,
    model: Any = None,
    measurement_error_sd: float = 0.0,
    cross_fit: CrossFit | None = None,
) -> WelfareIntervals:
    """Calibrate intervals for a PMT at training time: cross-fit, then Mondrian calibration.

    ``estimator`` is the unfitted PMT configuration (e.g. ``model.get_params()`` of the model that
    will score); ``model``, if given, is the fitted scoring model, whose training fingerprint is
    recorded so that :func:`load_intervals` can refuse intervals calibrated for another model.
    ``levels`` default to :func:`mondrian_levels` of the group columns the data have.
    ``cross_fit`` gives out-of-fold predictions already made by the same protocol (an experiment's
    K-fold validation of this backend), so the calibration costs no further fits.
    """
    groups = interval_groups(data, group_columns)
    if levels is None:
        levels = mondrian_levels(list(groups.columns))
    fit = cross_fit or cross_fit_predictions(estimator, data, n_splits=n_splits, seed=seed, n_jobs=n_jobs)
    info: dict[str, Any] = {
        "dataset": data.name,
        "n_households": len(data),
        "n_splits": n_splits,
        "seed": seed,
        "folds_by": "cluster" if data.cluster is not None else "household",
        "backend": getattr(estimator, "backend", None),
    }
    if model is not None:
        info["model_training_sha256"] = getattr(model, "training_sha256_", None)
    # Where measured welfare changes desil in the training population (persons): the cut of a desil
    # programme when households are ranked against this survey (the API) instead of a registry.
    persons = data.population_weight.to_numpy(dtype=np.float64)
    info["welfare_desil_boundaries"] = [
        round(float(v), _DECIMALS) for v in weighted_quantile(fit.log_welfare, np.arange(1, 10) / 10, persons)
    ]
    return WelfareIntervals(
        levels, min_group_size=min_group_size, measurement_error_sd=measurement_error_sd
    ).fit(fit.residual, groups, fit.weight, info=info)


# ---- conformalized quantile regression -----------------------------------------------------------


def cqr_scores(log_welfare: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike) -> FloatArray:
    """CQR conformity scores (Romano et al. 2019): how far outside ``[low, high]`` each household lies."""
    y = np.asarray(log_welfare, dtype=np.float64)
    return np.maximum(np.asarray(low, dtype=np.float64) - y, y - np.asarray(high, dtype=np.float64))


def cqr_interval(
    low: npt.ArrayLike, high: npt.ArrayLike, calibration: WelfareIntervals, groups: GroupsLike, level: float
) -> tuple[FloatArray, FloatArray]:
    """CQR bounds: quantile-model bounds widened by the calibrated score quantile of each group.

    ``calibration`` is a :class:`WelfareIntervals` fitted on out-of-sample :func:`cqr_scores` from
    quantile models at ``(1 − level) / 2`` and ``(1 + level) / 2``; it is valid at that level only.
    """
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    q = calibration.score_quantile(groups, level, n=lo.shape[0])
    return lo - q, hi + q


# ---- files ---------------------------------------------------------------------------------------


def save_intervals(intervals: WelfareIntervals, directory: str | Path) -> Path:
    """Write ``intervals.json`` into a model folder; list it in the folder's card (re-signed)."""
    from targeting.pmt.persistence import CARD_FILE, seal_model

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / INTERVALS_FILE
    path.write_text(json.dumps(intervals.to_dict(), indent=None, separators=(",", ":")), encoding="utf-8",
                    newline="\n")
    if (out / CARD_FILE).exists():  # the intervals decide each household's status: signed like the model
        seal_model(out)
    return path


def load_intervals(path: str | Path, *, model: Any = None) -> WelfareIntervals:
    """Read ``intervals.json`` (a file or the model folder holding it).

    With ``model``, refuses intervals whose recorded training fingerprint is not the model's: a
    calibration is only valid for the model whose residuals it measured.
    """
    p = Path(path)
    if p.is_dir():
        p = p / INTERVALS_FILE
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
        obj = WelfareIntervals.from_dict(state)
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelIntegrityError(f"{p}: unreadable or malformed intervals file ({exc})") from exc
    if model is not None:
        recorded = obj.info_.get("model_training_sha256")
        actual = getattr(model, "training_sha256_", None)
        if recorded is not None and recorded != actual:
            raise ModelIntegrityError(
                f"{p}: calibrated for the model trained on data {str(recorded)[:12]}…, "
                f"not this model ({str(actual)[:12]}…)"
            )
    return obj
