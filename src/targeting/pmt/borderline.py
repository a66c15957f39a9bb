"""Borderline households: how likely each decision is to be on the wrong side of its programme's cut.

A programme serves desil ``desil_min..desil_max`` (or the households below a poverty line). Its cut
is a value of log per-capita welfare; with the calibrated intervals of :mod:`targeting.pmt.intervals`
every household gets

* ``p_eligible`` — the probability that its welfare truly lies on the programme's side of the cut;
* ``p_other_side`` — the probability that its decision is wrong: ``1 − p_eligible`` if selected,
  ``p_eligible`` if not;
* ``status`` — ``clearly_in`` (the interval at ``level`` lies entirely on the eligible side),
  ``clearly_out`` (entirely outside) or ``borderline`` (it straddles a cut).

Which cut? A desil boundary can be read two ways, and they differ:

* :func:`desil_boundaries` — the *predicted* log welfare at each boundary of the ranking. This is
  the cut that decides selection, but it is not where *true* welfare changes desil: a mean
  regression shrinks predictions towards the middle, so the predicted 40th percentile lies above
  the true one.
* :func:`share_cut` — the *welfare* level below which the programme's share of the population
  truly lies, estimated from the calibrated distributions (the value ``c`` at which the expected
  population share below ``c`` equals the share). "Truly in desil 1–4" means welfare below this.

For "is this household truly in desil 1–4" use :func:`share_cut`; for a poverty-line programme the
cut is ``log(line)``. All functions are pure and vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.pmt.intervals import GroupsLike, WelfareIntervals
from targeting.pmt.ranking import assign_deciles

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "STATUSES",
    "borderline",
    "desil_boundaries",
    "p_other_side",
    "programme_cuts",
    "share_cut",
    "status",
]

#: The three statuses, poorest side first.
STATUSES: tuple[str, str, str] = ("clearly_in", "borderline", "clearly_out")
#: The status column's dtype, built once (from_codes validates a categories list on every call).
_STATUS = pd.CategoricalDtype(list(STATUSES))
# Bisection stops when the cut is known to this many log points (0.01 % of welfare).
_CUT_TOL = 1e-4


def desil_boundaries(
    pred_log_welfare: npt.ArrayLike, population_weight: npt.ArrayLike | None = None, *, n_groups: int = 10
) -> FloatArray:
    """Predicted log welfare at each desil boundary (``n_groups − 1`` values, poorest first).

    Boundary ``d`` lies midway between the richest household of desil ``d`` and the poorest of desil
    ``d + 1`` (:func:`targeting.pmt.ranking.assign_deciles`), so ``pred < boundary[d − 1]`` holds
    exactly for desil ``1..d`` when predictions are distinct.
    """
    pred = np.asarray(pred_log_welfare, dtype=np.float64)
    desil = assign_deciles(pred, population_weight, n_groups=n_groups)
    out = np.full(n_groups - 1, np.nan)
    for d in range(1, n_groups):
        below, above = pred[desil <= d], pred[desil > d]
        if below.size and above.size:
            lo, hi = below.max(), above.min()
            mid = lo + 0.5 * (hi - lo)
            # Adjacent floats have no midpoint: the next float above ``lo`` still separates them.
            out[d - 1] = mid if lo < mid else np.nextafter(lo, np.inf)
        elif below.size:
            out[d - 1] = np.inf
        else:
            out[d - 1] = -np.inf
    return out


def share_cut(
    intervals: WelfareIntervals,
    pred_log_welfare: npt.ArrayLike,
    groups: GroupsLike,
    share: float,
    population_weight: npt.ArrayLike | None = None,
) -> float:
    """The log-welfare cut below which ``share`` of the population truly lies (calibrated estimate).

    Solves ``Σ_i pop_i P(Y_i < c) = share · Σ_i pop_i`` for ``c`` by bisection, with each household's
    probability from ``intervals``. Predictions are binned to 0.001 log points per cell first, so a
    whole registry costs a few evaluations of a small table.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
    pop = np.ones_like(pred) if population_weight is None else np.asarray(population_weight, dtype=np.float64)
    cells = intervals.assign(groups, pred.shape[0])
    # (cell, prediction to 0.001) -> summed population: the same CDF to well under the tolerance.
    key = np.round(pred, 3)
    frame = pd.DataFrame({"cell": cells, "pred": key, "pop": pop})
    agg = frame.groupby(["cell", "pred"], sort=False, observed=True)["pop"].sum().reset_index()
    c_cells = agg["cell"].to_numpy(dtype=np.int64)
    c_pred = agg["pred"].to_numpy(dtype=np.float64)
    c_pop = agg["pop"].to_numpy(dtype=np.float64)
    total = c_pop.sum()

    def below(c: float) -> float:
        return float(c_pop @ intervals.prob_below(c_pred, c, c_cells)) / total

    r_min, r_max = intervals.residual_range
    lo, hi = float(pred.min()) + r_min - 1.0, float(pred.max()) + r_max + 1.0
    while hi - lo > _CUT_TOL:
        mid = 0.5 * (lo + hi)
        if below(mid) < share:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def programme_cuts(
    boundaries: npt.ArrayLike, programmes: Mapping[str, Any]
) -> dict[str, tuple[float, float]]:
    """Per programme, its ``(low, high)`` cut in log welfare from the desil boundaries.

    ``programmes`` maps an id to an object with ``desil_min`` and ``desil_max`` (e.g.
    :class:`targeting.pmt.programs.Program`); desil 1 starts at −∞ and desil 10 ends at +∞.
    """
    b = np.asarray(boundaries, dtype=np.float64)
    edges = np.concatenate([[-np.inf], b, [np.inf]])
    out = {}
    for key, p in programmes.items():
        lo, hi = int(p.desil_min), int(p.desil_max)
        if not 1 <= lo <= hi <= b.size + 1:
            raise ValueError(f"programme {key!r}: desil {lo}..{hi} outside 1..{b.size + 1}")
        out[key] = (float(edges[lo - 1]), float(edges[hi]))
    return out


def _cuts(cut: npt.ArrayLike | tuple[Any, Any], n: int) -> tuple[FloatArray, FloatArray]:
    """A cut (everything below it is eligible) or a (low, high) range, as two arrays of n."""
    if isinstance(cut, tuple):
        lo, hi = cut
    else:
        lo, hi = -np.inf, cut
    return (
        np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)),
        np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,)),
    )


def p_other_side(p_eligible: npt.ArrayLike, selected: npt.ArrayLike) -> FloatArray:
    """Probability that a decision is wrong: ``1 − p_eligible`` if selected, else ``p_eligible``."""
    p = np.asarray(p_eligible, dtype=np.float64)
    s = np.asarray(selected, dtype=bool)
    return np.where(s, 1.0 - p, p)


def status(low: npt.ArrayLike, high: npt.ArrayLike, cut: npt.ArrayLike | tuple[Any, Any]) -> pd.Categorical:
    """``clearly_in`` / ``borderline`` / ``clearly_out`` of each household's interval against the cut.

    ``cut`` is the upper end of the eligible range (eligible: welfare below it), or a ``(low, high)``
    range for a programme that starts above desil 1.
    """
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    c_lo, c_hi = _cuts(cut, lo.shape[0])
    inside = (lo >= c_lo) & (hi < c_hi)
    outside = (hi < c_lo) | (lo >= c_hi)
    code = np.where(inside, 0, np.where(outside, 2, 1))
    return pd.Categorical.from_codes(code, dtype=_STATUS)


def borderline(
    intervals: WelfareIntervals,
    pred_log_welfare: npt.ArrayLike,
    groups: GroupsLike,
    cut: npt.ArrayLike | tuple[Any, Any],
    selected: npt.ArrayLike,
    *,
    level: float = 0.9,
) -> pd.DataFrame:
    """Interval, probabilities and status of every household for one programme's cut.

    Columns: ``interval_low`` and ``interval_high`` (log per-capita welfare at ``level``),
    ``p_eligible``, ``p_other_side`` and ``status``. Cells are looked up once for all of them.
    """
    return pd.DataFrame(borderline_columns(intervals, pred_log_welfare, groups, cut, selected, level=level))


def borderline_columns(
    intervals: WelfareIntervals,
    pred_log_welfare: npt.ArrayLike,
    groups: GroupsLike,
    cut: npt.ArrayLike | tuple[Any, Any],
    selected: npt.ArrayLike,
    *,
    level: float = 0.9,
) -> dict[str, Any]:
    """The columns of `borderline` as arrays (a scorer copies them into its own table)."""
    pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
    cells = intervals.assign(groups, pred.shape[0])
    low, high = intervals.interval(pred, cells, level)
    c_lo, c_hi = _cuts(cut, pred.shape[0])
    p_hi = intervals.prob_below(pred, np.where(np.isfinite(c_hi), c_hi, 0.0), cells)
    p_hi = np.where(np.isposinf(c_hi), 1.0, np.where(np.isneginf(c_hi), 0.0, p_hi))
    p_lo = intervals.prob_below(pred, np.where(np.isfinite(c_lo), c_lo, 0.0), cells)
    p_lo = np.where(np.isneginf(c_lo), 0.0, np.where(np.isposinf(c_lo), 1.0, p_lo))
    p_eligible = np.clip(p_hi - p_lo, 0.0, 1.0)
    return {
        "interval_low": low,
        "interval_high": high,
        "p_eligible": p_eligible,
        "p_other_side": p_other_side(p_eligible, selected),
        "status": status(low, high, (c_lo, c_hi)),
    }
