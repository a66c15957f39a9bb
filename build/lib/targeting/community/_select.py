"""Selection at a coverage *per community*: community-based targeting (CBT) and quotas per village.

Every method is compared at the same quota in each community, so differences between methods come
from how they rank households inside a community, not from how many places each village gets. The
rule is the project's population-share mid-point rule (:func:`targeting.pmt.ranking.population_shares`
within each community): a household is selected when the mid-point of its slice of the community
lies below the coverage, so a community of ``n`` equally weighted households selects
``round(coverage x n)`` of them (halves round down) and widening the coverage never drops anyone.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.community._ranks import community_codes
from targeting.pmt.ranking import population_shares

__all__ = ["community_coverage", "select_within_community"]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def community_coverage(
    coverage: float | Mapping[str, float] | npt.ArrayLike,
    community: npt.ArrayLike | pd.DataFrame,
) -> FloatArray:
    """Coverage of each household's community: one share, a share per community, or per household.

    A mapping is keyed by community label (a single community column); a community missing from it is
    an error (give it 0 explicitly).
    """
    n = community_codes(community).shape[0]
    if isinstance(coverage, Mapping):
        labels = pd.Series(np.asarray(community, dtype=object)).astype(str)
        missing = sorted(set(labels) - set(map(str, coverage)))
        if missing:
            raise KeyError(f"coverage has no entry for communities {missing[:5]}")
        cov = labels.map({str(k): float(v) for k, v in coverage.items()}).to_numpy(dtype=np.float64)
    elif np.ndim(coverage) == 0:
        cov = np.full(n, float(coverage))  # type: ignore[arg-type]
    else:
        cov = np.asarray(coverage, dtype=np.float64).reshape(-1)
        if cov.shape[0] != n:
            raise ValueError(f"coverage has {cov.shape[0]} entries, expected {n}")
    if np.any(~np.isfinite(cov)) or np.any((cov < 0) | (cov > 1)):
        raise ValueError("coverage must be in [0, 1]")
    return cov


def select_within_community(
    score: npt.ArrayLike,
    community: npt.ArrayLike | pd.DataFrame,
    coverage: float | Mapping[str, float] | npt.ArrayLike,
    *,
    sample_weight: npt.ArrayLike | None = None,
    tiebreak: npt.ArrayLike | None = None,
) -> BoolArray:
    """The poorest households of each community up to its coverage (lowest ``score`` first).

    ``score`` is a welfare-direction score (a PMT prediction, or a within-community rank percentile,
    0 = poorest, for community-based targeting). A household with a missing score (NaN: not ranked)
    is never selected and takes no share of its community. ``coverage``: see
    :func:`community_coverage`.
    """
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    codes = community_codes(community)
    if codes.shape[0] != s.shape[0]:
        raise ValueError(f"community has {codes.shape[0]} entries but score has {s.shape[0]}")
    cov = community_coverage(coverage, community)
    w = np.ones(s.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    ok = ~np.isnan(s)
    out = np.zeros(s.shape[0], dtype=bool)
    if ok.any():
        tb = None if tiebreak is None else np.asarray(tiebreak)[ok]
        share = population_shares(s[ok], w[ok], by=codes[ok], tiebreak=tb)
        out[ok] = share < cov[ok]
    return out
