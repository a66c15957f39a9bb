"""Rank-based views: the targeting curve and the decile-by-decile confusion table.

Both rank households by predicted welfare (poorest first) and weigh them by survey weight; the true
deciles are equal-population deciles of measured welfare (persons = weight x household size), as
DTSEN's deciles are.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from targeting.audit.decisions import AuditData, FloatArray, IntArray, as_audit_data
from targeting.audit.metrics import weighted_midranks

N_DECILES = 10
DecileBasis = Literal["persons", "households"]


def welfare_deciles(welfare: FloatArray, weight: FloatArray, size: FloatArray | None = None) -> IntArray:
    """Decile 1 (poorest) to 10 of each household by weighted mid-rank of welfare.

    With ``size``, deciles hold equal shares of persons (weight x size); otherwise of households.
    Tied values share a decile.
    """
    pop = weight if size is None else weight * size
    rank = weighted_midranks(welfare, pop)
    return np.minimum(N_DECILES, np.floor(rank * N_DECILES).astype(np.int64) + 1)


def decile_confusion(decisions: pd.DataFrame | AuditData, *, basis: DecileBasis = "persons") -> pd.DataFrame:
    """Persons or households (the audit's unit) by predicted desil (rows) and true welfare decile (columns).

    Only households with measured welfare count; the true deciles are computed among them (equal
    shares of persons by default, as DTSEN's). Returns a 10 x 10 frame (index ``desil``, columns
    ``true_desil`` 1-10) of summed unit weights; empty (all zeros) if no welfare was measured.
    """
    data = as_audit_data(decisions)
    idx = pd.Index(range(1, N_DECILES + 1), name="desil")
    cols = pd.Index(range(1, N_DECILES + 1), name="true_desil")
    rows = np.flatnonzero(np.isfinite(data.welfare_true))
    if rows.size == 0:
        return pd.DataFrame(0.0, index=idx, columns=cols)
    w = data.rate_weight[rows]
    true_d = welfare_deciles(data.welfare_true[rows], data.weight[rows],
                             data.size[rows] if basis == "persons" else None)
    pred_d = data.desil[rows]
    cells = np.bincount((pred_d - 1) * N_DECILES + (true_d - 1), weights=w, minlength=N_DECILES * N_DECILES)
    return pd.DataFrame(cells.reshape(N_DECILES, N_DECILES), index=idx, columns=cols)


def targeting_curve(decisions: pd.DataFrame | AuditData, *, points: int = 101) -> pd.DataFrame:
    """Errors as coverage grows, households taken poorest-predicted first.

    Returns one row per coverage level in ``linspace(0, 1, points)``: ``coverage`` (share of
    households selected, weighted), ``poor_coverage`` (P∧S / P), ``exclusion_error``,
    ``inclusion_error`` (beneficiary-based), ``inclusion_error_nonpoor``, and
    ``poor_coverage_perfect`` (ranking by measured welfare: the best any ranking can do). The
    household straddling a coverage level counts fractionally. Empty without a truth.
    """
    data = as_audit_data(decisions)
    cols = [
        "coverage",
        "poor_coverage",
        "exclusion_error",
        "inclusion_error",
        "inclusion_error_nonpoor",
        "poor_coverage_perfect",
    ]
    rows = np.flatnonzero(data.truth_known)
    grid = np.linspace(0.0, 1.0, points)
    if rows.size == 0:
        return pd.DataFrame(columns=cols)
    w, poor = data.rate_weight[rows], data.poor[rows]
    total, total_poor = w.sum(), (w * poor).sum()

    def poor_reached(score: FloatArray) -> FloatArray:
        # Pool ties (a tie group is taken together, pro rata), then interpolate on the grid.
        uniq, inv = np.unique(score, return_inverse=True)
        gw = np.bincount(inv, weights=w, minlength=uniq.size)
        gp = np.bincount(inv, weights=w * poor, minlength=uniq.size)
        cum_w = np.concatenate([[0.0], np.cumsum(gw)]) / total
        cum_p = np.concatenate([[0.0], np.cumsum(gp)])
        return np.interp(grid, cum_w, cum_p)

    reached = poor_reached(data.predicted[rows])
    selected_w = grid * total
    with np.errstate(divide="ignore", invalid="ignore"):
        # Clipped: cumulative sums may overshoot 1 by a rounding error.
        poor_cov = np.clip(reached / total_poor, 0, 1) if total_poor > 0 else np.full(points, np.nan)
        incl = np.where(selected_w > 0, (selected_w - reached) / selected_w, np.nan)
        nonpoor = total - total_poor
        incl_np = (selected_w - reached) / nonpoor if nonpoor > 0 else np.full(points, np.nan)
    welfare = data.welfare_true[rows]
    perfect = (
        np.clip(poor_reached(np.where(np.isfinite(welfare), welfare, np.inf)) / total_poor, 0, 1)
        if np.isfinite(welfare).any() and total_poor > 0
        else np.full(points, np.nan)
    )
    return pd.DataFrame(
        {
            "coverage": grid,
            "poor_coverage": poor_cov,
            "exclusion_error": 1.0 - poor_cov,
            "inclusion_error": incl,
            "inclusion_error_nonpoor": incl_np,
            "poor_coverage_perfect": perfect,
        }
    )
