"""From predicted welfare to ranks, deciles (desil), selections and poverty-line classification.

Every function ranks households from poorest to richest by a score (predicted log welfare, or any
monotone transform of it) and measures position by **population share**: each household counts
``weight`` persons, normally survey weight x household size (a registry has weight 1 per household,
so pass household size). A household's rank is the mid-point of its own slice of the population:

    share_i = (population of households ranked before i + population_i / 2) / total population

so decile ``d`` holds the households whose mid-point lies in [(d−1)/10, d/10), i.e. 10% of the
population to within half a household at each edge, and selecting coverage ``c`` (share < c) is
exactly deciles 1..10c. Ties in the score are broken by ``tiebreak`` (e.g. a keyed pseudonym of the
household id) and then by row order, so ranks are deterministic and deciles stay equal-sized; pass a
``tiebreak`` to make them independent of row order. With ``by`` (e.g. kecamatan) ranks are computed
within each group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.errors import SpecError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "assign_deciles",
    "below_poverty_line",
    "deciles_from_shares",
    "population_shares",
    "rank_order",
    "select_coverage",
    "select_poorest",
]


def _group_codes(by: npt.ArrayLike | None, n: int) -> tuple[npt.NDArray[np.int32] | None, npt.NDArray[Any]]:
    """Each row's group (int32 codes of the sorted labels; None without groups) and the labels."""
    if by is None:
        return None, np.array([None], dtype=object)
    values = by if isinstance(by, pd.Series | pd.Categorical) else np.asarray(by)
    if values.shape != (n,):
        raise ValueError(f"by has shape {values.shape}, expected ({n},)")
    codes, labels = pd.factorize(values, sort=True)
    if (codes < 0).any():
        raise ValueError(f"by has {int((codes < 0).sum())} missing group label(s)")
    # int32: a national registry's codes in half the memory (there are never 2**31 regions).
    return codes.astype(np.int32), np.asarray(labels, dtype=object)


def _order(s: FloatArray, codes: npt.NDArray[np.int32] | None, tiebreak: npt.ArrayLike | None) -> IntArray:
    """Rows by group, then score, then tiebreak; equal keys keep row order (both sorts are stable)."""
    n = s.shape[0]
    keys: list[npt.NDArray[Any]] = []
    if tiebreak is not None:
        tb = np.asarray(tiebreak)
        if tb.shape != (n,):
            raise ValueError(f"tiebreak has shape {tb.shape}, expected ({n},)")
        keys.append(tb)
    if not keys:
        by_score = np.argsort(s, kind="stable")
        if codes is None:
            return by_score.astype(np.int64, copy=False)
        # Then a stable sort of the groups' int32 codes (a radix sort): the order lexsort gives for
        # (group, score, row), with one comparison sort instead of lexsort's two passes.
        return by_score[np.argsort(codes[by_score], kind="stable")].astype(np.int64, copy=False)
    keys.append(s)
    if codes is not None:
        keys.append(codes)
    return np.lexsort(keys).astype(np.int64, copy=False)


def _group_totals(codes: npt.NDArray[np.int32] | None, w: FloatArray, n_groups: int = 1) -> FloatArray:
    """Weight of each group, summed in row order (as ``np.bincount``)."""
    if codes is None:
        return np.asarray(np.bincount(np.zeros(w.shape[0], dtype=np.intp), weights=w, minlength=1),
                          dtype=np.float64)
    return np.asarray(np.bincount(codes, weights=w, minlength=n_groups), dtype=np.float64)


def _scores(score: npt.ArrayLike) -> FloatArray:
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if np.isnan(s).any():
        raise ValueError(f"score has {int(np.isnan(s).sum())} missing value(s); rank needs all")
    return s


def _population(weight: npt.ArrayLike | None, n: int) -> FloatArray:
    if weight is None:
        return np.ones(n)
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weight has {w.shape[0]} entries, expected {n}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weight must be finite and non-negative")
    return w


def rank_order(
    score: npt.ArrayLike,
    *,
    by: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
) -> IntArray:
    """Row indices sorted by group, then score (poorest first), then tiebreak, then row."""
    s = _scores(score)
    codes, _ = _group_codes(by, s.shape[0])
    return _order(s, codes, tiebreak)


def population_shares(
    score: npt.ArrayLike,
    weight: npt.ArrayLike | None = None,
    *,
    by: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
) -> FloatArray:
    """Weighted mid-point percentile rank in (0, 1) of each household, poorest first."""
    s = _scores(score)
    n = s.shape[0]
    w = _population(weight, n)
    codes, _ = _group_codes(by, n)
    order = _order(s, codes, tiebreak)
    totals = _group_totals(codes, w)
    # In place, one temporary at a time (a national registry's ranks): the population before each
    # household in its group, plus half its own, over the group's population.
    w_sorted = w[order]
    share_sorted = np.cumsum(w_sorted)
    share_sorted -= w_sorted
    with np.errstate(invalid="ignore", divide="ignore"):
        if codes is None:
            w_sorted *= 0.5
            share_sorted += w_sorted
            share_sorted /= totals[0]
        else:
            # Population of all earlier groups, subtracted to restart the cumulative sum in each group.
            offsets = np.cumsum(totals) - totals
            g_sorted = codes[order]
            share_sorted -= offsets[g_sorted]
            w_sorted *= 0.5
            share_sorted += w_sorted
            share_sorted /= totals[g_sorted]
    del w_sorted
    share = np.empty(n)
    share[order] = share_sorted
    return share


def assign_deciles(
    score: npt.ArrayLike,
    weight: npt.ArrayLike | None = None,
    *,
    by: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
    n_groups: int = 10,
) -> IntArray:
    """Desil 1..n_groups (1 = poorest) in equal population shares (nationally or within ``by``)."""
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}")
    return deciles_from_shares(population_shares(score, weight, by=by, tiebreak=tiebreak), n_groups)


def deciles_from_shares(share: npt.ArrayLike, n_groups: int = 10) -> IntArray:
    """Desil 1..n_groups of households whose mid-point population shares are ``share``.

    ``assign_deciles(score, weight) == deciles_from_shares(population_shares(score, weight))``: for a
    caller that needs both the shares and the desil, one sort instead of two.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}")
    cuts = np.arange(1, n_groups) / n_groups
    return (np.searchsorted(cuts, np.asarray(share, dtype=np.float64), side="right") + 1).astype(np.int64)


def select_coverage(
    score: npt.ArrayLike,
    weight: npt.ArrayLike | None = None,
    coverage: float = 0.4,
    *,
    by: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
) -> BoolArray:
    """Select the poorest households up to population share ``coverage`` (mid-point rule).

    Widening ``coverage`` never drops a household already selected, and ``coverage=k/10`` selects
    exactly deciles 1..k of :func:`assign_deciles`.
    """
    if not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be in [0, 1], got {coverage}")
    return population_shares(score, weight, by=by, tiebreak=tiebreak) < coverage


def select_poorest(
    score: npt.ArrayLike,
    quota: float | Mapping[str, float],
    *,
    weight: npt.ArrayLike | None = None,
    by: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
) -> BoolArray:
    """Budget quota: the poorest households while their total ``weight`` stays within ``quota``.

    ``weight`` defaults to one per household, so ``quota=5000`` means "the poorest 5,000
    households"; pass survey weights to count represented households instead. With ``by`` and a
    mapping, each group (e.g. kecamatan) gets its own quota; a group present in the data but
    missing from the mapping is an error (give it 0 explicitly).
    """
    s = _scores(score)
    n = s.shape[0]
    w = _population(weight, n)
    codes, labels = _group_codes(by, n)
    if isinstance(quota, Mapping):
        if by is None:
            raise SpecError("a quota per group needs `by` (the group of each household)")
        missing = [str(g) for g in labels if str(g) not in quota]
        if missing:
            raise SpecError(f"quota has no entry for group(s) {', '.join(missing)}")
        q = np.array([float(quota[str(g)]) for g in labels])
    else:
        q = np.full(labels.shape[0], float(quota))
    if np.any(q < 0):
        raise SpecError("quotas must be non-negative")
    order = _order(s, codes, tiebreak)
    w_sorted = w[order]
    totals = _group_totals(codes, w, labels.shape[0])
    offsets = np.cumsum(totals) - totals
    g_sorted = np.zeros(n, dtype=np.int32) if codes is None else codes[order]
    upto = np.cumsum(w_sorted) - offsets[g_sorted]
    # A tiny tolerance so float sums of integer counts never drop the last household.
    chosen = upto <= q[g_sorted] * (1 + 1e-12) + 1e-9
    out = np.zeros(n, dtype=bool)
    out[order] = chosen
    return out


def below_poverty_line(log_welfare: npt.ArrayLike, poverty_line: npt.ArrayLike) -> BoolArray:
    """Poverty-line classification: predicted per-capita welfare ``exp(log_welfare)`` < line."""
    lw = np.asarray(log_welfare, dtype=np.float64)
    line = np.asarray(poverty_line, dtype=np.float64)
    if np.any(line <= 0):
        raise ValueError("poverty_line must be positive")
    return np.asarray(lw < np.log(line), dtype=bool)
