"""Within-community ranks: one convention for every informant, survey and village meeting.

A community ranking only says who is poorer than whom *inside* one ranking exercise (a village
meeting, an informant's list), so every rank is first turned into a **within-community percentile**:
the weighted mid-rank of the household among the ranked households of its community, in (0, 1),
**0 = poorest**. Whatever the source's direction ("1 = poorest" or "1 = richest"), its number of
households or its ties, percentiles from different communities and informants are then comparable.

* ties share one percentile (the mid-point of their tie group), so the result never depends on row
  order;
* a missing rank stays missing (NaN) and takes no share of its community;
* several informants are averaged percentile by percentile (a household ranked by some informants
  only averages those), and the average is ranked again within the community so the consensus is a
  percentile too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.audit.metrics import spearman_weighted

__all__ = [
    "Poorer",
    "RankSpec",
    "community_codes",
    "community_percentiles",
    "consensus_percentile",
    "direction_check",
    "rank_percentiles",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Poorer = Literal["low", "high"]


@dataclass(frozen=True)
class RankSpec:
    """Where a survey keeps its community ranks (the dataset spec's ``community_ranks`` role).

    Attributes
    ----------
    columns : one column per ranking of the same households (informants, meetings).
    community : the column(s) naming the ranking exercise the ranks are relative to (e.g.
        ``[community, year]`` when a community ranked its households again each round).
    poorer : ``low`` if rank 1 is the poorest household, ``high`` if the largest rank is.
    """

    columns: tuple[str, ...]
    community: tuple[str, ...]
    poorer: Poorer

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("community ranks need at least one rank column")
        if not self.community:
            raise ValueError("community ranks need the column(s) of the community they rank within")
        if self.poorer not in ("low", "high"):
            raise ValueError(f"poorer must be 'low' or 'high', got {self.poorer!r}")

    @classmethod
    def from_mapping(cls, role: dict[str, object]) -> RankSpec:
        """From a spec role ``{columns: [...], community: ... , poorer: low|high}``."""
        cols = role["columns"]
        comm = role["community"]
        return cls(
            columns=(cols,) if isinstance(cols, str) else tuple(cols),  # type: ignore[arg-type]
            community=(comm,) if isinstance(comm, str) else tuple(comm),  # type: ignore[arg-type]
            poorer=role.get("poorer", "low"),  # type: ignore[arg-type]
        )


def community_codes(community: npt.ArrayLike | pd.DataFrame) -> IntArray:
    """Integer code of each household's community (several columns: their combination).

    A missing community label is an error: a rank means nothing without the ranking it came from.
    """
    if isinstance(community, pd.DataFrame):
        if community.isna().to_numpy().any():
            raise ValueError("community has missing labels")
        # Column by column: a frame-wide astype would also compare the frame's attrs.
        key = pd.Series([""] * len(community), dtype=object)
        for j, c in enumerate(community.columns):
            part = community[c].astype(str).to_numpy(dtype=object)
            key = key + ("\x1f" if j else "") + part
        codes, _ = pd.factorize(key, sort=True)
    else:
        values = community if isinstance(community, pd.Series) else pd.Series(np.asarray(community))
        codes, _ = pd.factorize(values, sort=True)
        if (codes < 0).any():
            raise ValueError(f"community has {int((codes < 0).sum())} missing label(s)")
    return np.asarray(codes, dtype=np.int64)


def _weights(sample_weight: npt.ArrayLike | None, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} entries, expected {n}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    return w


def _percentile_1d(values: FloatArray, codes: IntArray, w: FloatArray) -> FloatArray:
    """Weighted mid-rank of each non-missing value within its community; NaN stays NaN."""
    out = np.full(values.shape[0], np.nan)
    ok = ~np.isnan(values)
    if not ok.any():
        return out
    # One sort for all communities: ranking (code, value) pairs and resetting the mass at each
    # community's start gives the same mid-ranks as `weighted_midranks` community by community.
    idx = np.flatnonzero(ok)
    c, v, ww = codes[idx], values[idx], w[idx]
    order = np.lexsort((v, c))
    c, v, ww = c[order], v[order], ww[order]
    new_tie = np.r_[True, (c[1:] != c[:-1]) | (v[1:] != v[:-1])]
    tie = np.cumsum(new_tie) - 1
    tie_w = np.bincount(tie, weights=ww)
    tie_comm = c[new_tie]
    comm_total = np.bincount(tie_comm, weights=tie_w, minlength=int(codes.max()) + 1)
    cum = np.cumsum(tie_w)
    comm_start = np.r_[0.0, np.cumsum(comm_total)][tie_comm]
    mid = cum - tie_w - comm_start + 0.5 * tie_w
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = mid / comm_total[tie_comm]
    out[idx[order]] = pct[tie]
    return out


def rank_percentiles(
    ranks: npt.ArrayLike | pd.DataFrame,
    community: npt.ArrayLike | pd.DataFrame,
    *,
    poorer: Poorer,
    sample_weight: npt.ArrayLike | None = None,
) -> FloatArray:
    """Within-community percentile of each rank, 0 = poorest, NaN where the rank is missing.

    ``ranks`` is one column (n,) or several (n, m), each ranked separately. ``sample_weight``
    (survey weight) gives each household its share of the community; ties share a mid-rank.

    Examples
    --------
    Three households ranked 1 (poorest), 2, 3 get 1/6, 1/2, 5/6; with ``poorer="high"`` the
    order flips.
    """
    r = np.asarray(ranks, dtype=np.float64)
    one = r.ndim == 1
    r2 = r.reshape(r.shape[0], -1)
    codes = community_codes(community)
    if codes.shape[0] != r2.shape[0]:
        raise ValueError(f"community has {codes.shape[0]} entries but ranks have {r2.shape[0]}")
    if poorer not in ("low", "high"):
        raise ValueError(f"poorer must be 'low' or 'high', got {poorer!r}")
    w = _weights(sample_weight, r2.shape[0])
    signed = r2 if poorer == "low" else -r2
    out = np.column_stack([_percentile_1d(signed[:, j], codes, w) for j in range(r2.shape[1])])
    return out[:, 0] if one else out


def consensus_percentile(
    percentiles: npt.ArrayLike,
    community: npt.ArrayLike | pd.DataFrame,
    *,
    sample_weight: npt.ArrayLike | None = None,
    min_rankings: int = 1,
) -> FloatArray:
    """Average several rankings' percentiles and rank the average again within the community.

    A household with fewer than ``min_rankings`` non-missing percentiles gets NaN.
    """
    p = np.asarray(percentiles, dtype=np.float64)
    p2 = p.reshape(p.shape[0], -1)
    n_ok = np.sum(~np.isnan(p2), axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.where(n_ok > 0, np.nansum(p2, axis=1) / np.maximum(n_ok, 1), np.nan)
    mean[n_ok < max(min_rankings, 1)] = np.nan
    codes = community_codes(community)
    return _percentile_1d(mean, codes, _weights(sample_weight, p2.shape[0]))


def community_percentiles(
    frame: pd.DataFrame, spec: RankSpec, *, sample_weight: npt.ArrayLike | None = None
) -> pd.DataFrame:
    """Each rank column as a within-community percentile, plus their ``consensus``.

    Returns a frame on ``frame``'s index with one column per rank column and ``consensus``.
    """
    missing = [c for c in (*spec.columns, *spec.community) if c not in frame.columns]
    if missing:
        raise KeyError(f"community-rank columns {missing} are not in the data")
    comm = frame[list(spec.community)]
    raw = frame[list(spec.columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    pct = rank_percentiles(raw, comm, poorer=spec.poorer, sample_weight=sample_weight)
    out = pd.DataFrame(pct, columns=list(spec.columns), index=frame.index)
    out["consensus"] = consensus_percentile(pct, comm, sample_weight=sample_weight)
    return out


def direction_check(
    percentile: npt.ArrayLike,
    welfare: npt.ArrayLike,
    community: npt.ArrayLike | pd.DataFrame,
    *,
    sample_weight: npt.ArrayLike | None = None,
    min_households: int = 5,
) -> float:
    """Mean within-community Spearman correlation of a rank percentile with measured welfare.

    Positive when "0 = poorest" really is the poor end (the declared ``poorer`` direction is right);
    communities with fewer than ``min_households`` ranked households are skipped; each community
    counts in proportion to its ranked weight.
    """
    pct = np.asarray(percentile, dtype=np.float64).reshape(-1)
    y = np.asarray(welfare, dtype=np.float64).reshape(-1)
    codes = community_codes(community)
    w = _weights(sample_weight, pct.shape[0])
    ok = ~np.isnan(pct) & ~np.isnan(y)
    total, mass = 0.0, 0.0
    for c in np.unique(codes[ok]):  # a loop over communities (tens to hundreds)
        m = ok & (codes == c)
        if m.sum() < min_households:
            continue
        corr = spearman_weighted(y[m], pct[m], sample_weight=w[m])
        if np.isfinite(corr):
            total += corr * w[m].sum()
            mass += w[m].sum()
    return total / mass if mass > 0 else float("nan")
