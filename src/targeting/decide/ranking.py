"""Where each household stands: within the registry being scored, or against the model's reference.

* ``within`` (a registry: the whole population, as DTSEN ranks it): percentile and desil in equal
  shares of persons (weight x household size) among the registry's own predictions, district-wide
  and within each region. It needs every prediction first (pass 1), then decides chunk by chunk.
* ``reference`` (one household, a request, a file judged against the training population): the
  position in the model's ``reference.json`` distribution (`targeting.pmt.reference`), so each
  household's rank depends on it alone.

Both rules are `targeting.pmt.ranking`'s mid-point rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.pmt.ranking import deciles_from_shares, population_shares, select_poorest
from targeting.pmt.reference import Reference

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Desil 0..10: one byte a household when ranked within a registry, int64 against a reference.
DesilArray = npt.NDArray[np.integer[Any]]
BoolArray = npt.NDArray[np.bool_]
RankBasis = Literal["within", "reference"]
RANK_BASES: tuple[str, str] = ("within", "reference")


@dataclass(frozen=True)
class Ranks:
    """Ranks of a set of households (row order); regional ones NaN / 0 where a region has none.

    ``prediction`` is what they were ranked by (checked against pass 2's prediction), ``quota_pick``
    the households a quota selects (None unless the selection is a quota). ``edges`` are the nine
    desil boundaries in predicted log welfare (the same for every row), ``quota_cut`` each
    household's region's quota boundary: the cut-offs a household's interval is compared with.
    """

    prediction: FloatArray
    percentile: FloatArray
    desil: DesilArray
    percentile_region: FloatArray
    desil_region: DesilArray
    quota_pick: BoolArray | None = None
    edges: FloatArray | None = None
    quota_cut: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.prediction.shape[0])

    def rows(self, sl: slice | IntArray) -> Ranks:
        return Ranks(self.prediction[sl], self.percentile[sl], self.desil[sl], self.percentile_region[sl],
                     self.desil_region[sl], None if self.quota_pick is None else self.quota_pick[sl],
                     self.edges, None if self.quota_cut is None else self.quota_cut[sl])


def desil_edges(pred: FloatArray, desil: DesilArray) -> FloatArray:
    """Predicted log welfare between desil ``d`` and ``d + 1`` (midway), for d = 1..9."""
    out = np.full(9, np.nan)
    order = np.argsort(desil, kind="stable")
    d_sorted = desil[order]
    for d in range(1, 10):
        split = np.searchsorted(d_sorted, d, side="right")
        below, above = pred[order[:split]], pred[order[split:]]
        if below.size and above.size:
            out[d - 1] = 0.5 * (below.max() + above.min())
        else:
            out[d - 1] = np.inf if below.size else -np.inf
    return out


def _quota_cut(pred: FloatArray, pick: BoolArray, labels: pd.Categorical) -> FloatArray:
    """Each region's boundary between the households its quota picks and the rest."""
    out = np.full(pred.shape[0], np.nan)
    codes = labels.codes
    for g in range(len(labels.categories)):  # a loop over regions (tens), not households
        rows = codes == g
        inside, outside = pred[rows & pick], pred[rows & ~pick]
        if inside.size and outside.size:
            out[rows] = 0.5 * (inside.max() + outside.min())
        else:
            out[rows] = np.inf if inside.size else -np.inf
    return out


def within(pred: FloatArray, population: FloatArray, region: npt.ArrayLike | None = None, *,
           quota: dict[str, float] | None = None) -> Ranks:
    """Ranks within the scored population itself (population = persons each household represents)."""
    pred = np.asarray(pred, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    # Desil from the same shares (`assign_deciles` would sort the population again for the same numbers):
    # one sort per ranking, half the time and temporaries of a national registry's ranks.
    percentile = population_shares(pred, pop)
    desil = _small(deciles_from_shares(percentile))
    # Regions as a Categorical (int codes), never one Python object per household.
    labels = None if region is None else _categorical(region)
    if labels is None:
        p_reg, d_reg = np.full(len(pred), np.nan), np.zeros(len(pred), dtype=np.int8)
    else:
        p_reg = population_shares(pred, pop, by=labels)
        d_reg = _small(deciles_from_shares(p_reg))
    pick = cut = None
    if quota is not None:
        if labels is None:
            raise ValueError("a quota per region needs the households' region")
        pick = select_poorest(pred, quota, by=labels)
        cut = _quota_cut(pred, pick, labels)
    return Ranks(pred, percentile, desil, p_reg, d_reg, pick, desil_edges(pred, desil), cut)


def _small(desil: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
    """Desil 0..10 in one byte (the decisions table's own type): 7 bytes a household less than int64."""
    return desil.astype(np.int8)


def _categorical(region: npt.ArrayLike) -> pd.Categorical:
    if isinstance(region, pd.Categorical):
        return region
    if isinstance(region, pd.Series) and isinstance(region.dtype, pd.CategoricalDtype):
        return region.array
    return pd.Categorical(np.asarray(region, dtype=object))


def against_reference(reference: Reference, pred: FloatArray, region: npt.ArrayLike | None = None,
                      edges: FloatArray | None = None) -> Ranks:
    """Ranks in the model's reference (training) distribution, household by household.

    ``edges`` are the desil cut-offs its households' intervals are compared with (the calibrated
    boundaries of measured welfare in the training population, when the model has them).
    """
    pred = np.asarray(pred, dtype=np.float64)
    percentile, desil = reference.national.rank(pred)
    if region is None:
        p_reg, d_reg = np.full(len(pred), np.nan), np.zeros(len(pred), dtype=np.int64)
    else:
        p_reg, d_reg, known = reference.rank_regional(pred, np.asarray(region, dtype=object))
        d_reg = np.where(known, d_reg, 0)
    if edges is None:
        dist = reference.national
        share = dist.cumulative / dist.cumulative[-1]
        edges = dist.values[np.minimum(np.searchsorted(share, np.arange(1, 10) / 10), len(share) - 1)]
    return Ranks(pred, percentile, desil, p_reg, d_reg, edges=np.asarray(edges, dtype=np.float64))
