"""The rank-ordered (exploded, Plackett-Luce) logit likelihood of within-community rankings.

A community ranking is read as a sequence of choices, **poorest first**: the meeting names its
poorest household among all of them, then the poorest among those left, and so on (Beggs, Cardell &
Hausman 1981; Allison & Christakis 1994). With a welfare index ``f`` (higher = better off), the
chance that household ``i`` is named next among the set ``R`` not yet named is

    w_i exp(-f_i) / sum_{s in R} w_s exp(-f_s)

so the log-likelihood of a ranking is a Cox partial likelihood with the rank as "time"; tied ranks
share one risk set (Breslow). Several rankings of the same households (informants, meetings) each
contribute their own sequence; the likelihood only compares households *inside* a ranking, so a
community's general level of welfare never enters (ranks carry none).

Written by hand (~60 lines of numpy) rather than taken from a survival library because the hybrid
needs survey weights, an offset whose scale is estimated (the PMT's index) and a ridge penalty on the
deviations from it, which statsmodels' ``PHReg`` and lifelines' ``CoxPHFitter`` do not offer
together; the tests check it against the likelihood written out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Rankings:
    """Ranked entries sorted by (ranking, percentile descending): the layout the likelihood needs.

    Attributes
    ----------
    row : household (row of X) of each entry.
    ranking : ranking id of each entry (community x rank column).
    community : community code of each entry (for grouped cross-validation).
    weight : survey weight of each entry.
    tie_end : index of the last entry of the entry's tie block (same ranking and percentile).
    tie_start : index of the first entry of the entry's tie block.
    ranking_start : index of the first entry of each ranking.
    n_rows : number of households (rows of X) the rows index into.
    """

    row: IntArray
    ranking: IntArray
    community: IntArray
    weight: FloatArray
    tie_end: IntArray
    tie_start: IntArray
    ranking_start: IntArray
    n_rows: int

    @classmethod
    def build(cls, percentiles: FloatArray, community: IntArray, weight: FloatArray) -> Rankings:
        """From an (n, m) percentile matrix (0 = poorest, NaN = not ranked) and community codes."""
        n, m = percentiles.shape
        rows, cols = np.nonzero(~np.isnan(percentiles))
        pos = percentiles[rows, cols]
        comm = community[rows]
        ranking_key = comm * m + cols
        order = np.lexsort((-pos, ranking_key))
        rows, pos, comm, ranking_key = rows[order], pos[order], comm[order], ranking_key[order]
        k = rows.shape[0]
        new_rank = np.r_[True, ranking_key[1:] != ranking_key[:-1]] if k else np.zeros(0, bool)
        new_tie = new_rank | np.r_[True, pos[1:] != pos[:-1]] if k else np.zeros(0, bool)
        tie_id = np.cumsum(new_tie) - 1
        starts = np.flatnonzero(new_tie)
        ends = np.r_[starts[1:], k] - 1
        ranking_id = np.cumsum(new_rank) - 1
        return cls(
            row=rows.astype(np.int64),
            ranking=ranking_id.astype(np.int64),
            community=comm.astype(np.int64),
            weight=weight[rows].astype(np.float64),
            tie_end=ends[tie_id].astype(np.int64),
            tie_start=starts[tie_id].astype(np.int64),
            ranking_start=np.flatnonzero(new_rank).astype(np.int64),
            n_rows=n,
        )

    @property
    def n_entries(self) -> int:
        return int(self.row.shape[0])

    def subset(self, keep_community: npt.NDArray[np.bool_]) -> Rankings:
        """Only the rankings of the communities flagged in ``keep_community`` (indexed by code)."""
        keep = keep_community[self.community]
        idx = np.flatnonzero(keep)
        # Rankings are contiguous and kept or dropped whole, so positions shift by a constant per ranking.
        shift = np.cumsum(~keep)[idx]
        kept = self.ranking[idx]
        new_rank = np.r_[True, kept[1:] != kept[:-1]] if idx.size else np.zeros(0, dtype=bool)
        return Rankings(
            row=self.row[idx],
            ranking=(np.cumsum(new_rank) - 1).astype(np.int64),
            community=self.community[idx],
            weight=self.weight[idx],
            tie_end=self.tie_end[idx] - shift,
            tie_start=self.tie_start[idx] - shift,
            ranking_start=np.flatnonzero(new_rank).astype(np.int64),
            n_rows=self.n_rows,
        )


def _segment_cumsum(x: FloatArray, starts: IntArray, segment: IntArray) -> FloatArray:
    """Cumulative sum of ``x`` (entries x ...) restarting at each segment start."""
    cs = np.cumsum(x, axis=0)
    before = np.concatenate([np.zeros((1, *x.shape[1:])), cs])[starts]
    return cs - before[segment]


def log_likelihood(f: FloatArray, r: Rankings) -> tuple[float, FloatArray]:
    """Weighted log-likelihood of the rankings under welfare index ``f`` (per household) and its gradient.

    Returns ``(loglik, d loglik / d f)``; both are sums over entries (divide by the total weight for a
    per-entry mean).
    """
    if r.n_entries == 0:
        return 0.0, np.zeros(r.n_rows)
    u = -f[r.row]
    # Shift by each ranking's maximum: the likelihood is unchanged and exp never overflows.
    top = np.maximum.reduceat(u, r.ranking_start)[r.ranking]
    e = r.weight * np.exp(u - top)
    risk = _segment_cumsum(e, r.ranking_start, r.ranking)[r.tie_end]
    a = r.weight
    ll = float(np.sum(a * (u - top - np.log(risk))))
    # d ll / d u_s = a_s - e_s * sum over entries t whose risk set holds s (t at or below s's tie
    # block in this descending layout) of a_t / risk_t.
    h = a / risk
    total = np.bincount(r.ranking, weights=h)[r.ranking]
    before = _segment_cumsum(h, r.ranking_start, r.ranking) - h  # strictly before, same ranking
    from_start = total - before[r.tie_start]
    du = a - e * from_start
    grad_f = -np.bincount(r.row, weights=du, minlength=r.n_rows).astype(np.float64)
    return ll, grad_f
