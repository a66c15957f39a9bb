"""Which households to visit: expected wrong decisions corrected per visit, within a budget.

A visit reveals a household's true situation and corrects its decision if it was wrong, so the
expected number of persons whose decision a visit corrects is ``p_wrong × persons``. For a budget of
N visits, the N households with the largest expected corrections maximise the expected total (the
gains add up; nothing is shared between visits), which is the district-wide ordering.

Across kecamatan (``per_kecamatan``), each kecamatan first gets a floor of visits — its own best
households — and the rest of the budget goes to the best households of the whole district
(``rule="greedy"``, the default). Given the floors this still maximises the expected total. The
floor exists because field teams work per kecamatan and because a kecamatan where the model is
wrong in a way it cannot see (all its probabilities low) is only found out by visiting it; by
default it is a quarter of an equal split (``⌊N / (4 K)⌋``, at least one visit when ``N ≥ K``), so
at most a quarter of the budget is steered. ``rule="proportional"`` instead gives each kecamatan a
share proportional to its expected wrong decisions (its sum of ``p_wrong × persons``), with the
same floor: common in practice, but it sends visits to kecamatan whose total comes from many
households with small probabilities; the simulation (:func:`targeting.verify.simulate_visits`)
measures what that costs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.verify._columns import (
    CUMULATIVE,
    EXPECTED,
    HOUSEHOLD_ID,
    KECAMATAN,
    P_ELIGIBLE,
    P_WRONG,
    PERSONS,
    RANK,
    RANK_IN_KECAMATAN,
    SELECTED,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Rule = Literal["greedy", "proportional"]

#: The default floor per kecamatan as a share of an equal split of the budget.
FLOOR_SHARE = 0.25


def p_wrong(frame: pd.DataFrame) -> FloatArray:
    """Probability that each decision is wrong: ``p_other_side``, else from ``p_eligible``, ``selected``."""
    if P_WRONG in frame.columns:
        p = frame[P_WRONG].to_numpy(dtype=np.float64)
    elif P_ELIGIBLE in frame.columns and SELECTED in frame.columns:
        sel = frame[SELECTED].to_numpy(dtype=bool)
        pe = frame[P_ELIGIBLE].to_numpy(dtype=np.float64)
        p = np.where(sel, 1.0 - pe, pe)
    else:
        raise KeyError(f"need a {P_WRONG!r} column, or {P_ELIGIBLE!r} and {SELECTED!r}")
    if np.isnan(p).any() or np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities of a wrong decision must lie in [0, 1]")
    return p


def expected_corrections(frame: pd.DataFrame, *, exclusion_weight: float = 1.0) -> FloatArray:
    """Expected persons whose decision one visit corrects: ``p_wrong × household_size``.

    ``exclusion_weight`` counts a corrected exclusion (a poor household not selected) as that many
    inclusions, for a district that would rather find the poor left out than the non-poor let in;
    the default, 1, counts every wrong decision alike (the issue's objective).
    """
    persons = frame[PERSONS].to_numpy(dtype=np.float64)
    if np.isnan(persons).any() or np.any(persons < 0):
        raise ValueError(f"{PERSONS!r} must be a non-negative number for every household")
    gain = p_wrong(frame) * persons
    if exclusion_weight != 1.0:
        if exclusion_weight < 0:
            raise ValueError(f"exclusion_weight must be non-negative, got {exclusion_weight}")
        gain = np.where(frame[SELECTED].to_numpy(dtype=bool), gain, exclusion_weight * gain)
    return gain


def visit_order(frame: pd.DataFrame, *, exclusion_weight: float = 1.0) -> IntArray:
    """Row positions, best visit first: expected corrections, then p_wrong, then household id."""
    gain = expected_corrections(frame, exclusion_weight=exclusion_weight)
    p = p_wrong(frame)
    ids = frame[HOUSEHOLD_ID].astype("string").to_numpy(dtype=object) if HOUSEHOLD_ID in frame else None
    keys: list[npt.NDArray[Any]] = []
    if ids is not None:
        keys.append(ids)
    keys += [-p, -gain]
    return np.lexsort(keys).astype(np.int64)


def _default_floor(visits: int, k: int) -> int:
    if k == 0 or visits < k:
        return 0
    return max(1, int(FLOOR_SHARE * visits // k))


def allocate_visits(
    gain: npt.ArrayLike,
    kecamatan: npt.ArrayLike,
    visits: int,
    *,
    floor: int | None = None,
    rule: Rule = "greedy",
) -> pd.Series:
    """Visits per kecamatan for a budget (see the module docstring for the rule); sums to the budget.

    The total is ``min(visits, households)``; no kecamatan gets more visits than households, and a
    floor larger than a kecamatan's households is cut to them.
    """
    g = np.asarray(gain, dtype=np.float64)
    codes, labels = pd.factorize(pd.Series(kecamatan).astype("string"), sort=True, use_na_sentinel=False)
    labels = pd.Index(labels.astype("string").fillna("(tidak diketahui)"), name=KECAMATAN)
    k = len(labels)
    if visits < 0:
        raise ValueError(f"visits must be non-negative, got {visits}")
    visits = min(int(visits), g.size)
    f = _default_floor(visits, k) if floor is None else int(floor)
    if f < 0:
        raise ValueError(f"floor must be non-negative, got {f}")
    sizes = np.bincount(codes, minlength=k)
    base = np.minimum(f, sizes)
    if base.sum() > visits:  # floors alone exceed the budget: an equal split, remainder to the largest
        base = np.minimum(visits // k, sizes)
    remaining = visits - int(base.sum())
    if rule == "greedy":
        # Each household's rank within its kecamatan; those beyond the floor compete district-wide.
        order = np.lexsort((-g, codes))
        rank = np.empty(g.size, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank[order] = np.arange(g.size) - np.repeat(starts, sizes)
        pool = np.flatnonzero(rank >= base[codes])
        best = pool[np.argsort(-g[pool], kind="stable")[:remaining]]
        counts = base + np.bincount(codes[best], minlength=k)
    elif rule == "proportional":
        counts = base.copy()
        share = np.bincount(codes, weights=g, minlength=k)
        while remaining > 0:
            room = sizes - counts
            open_ = room > 0
            w = np.where(open_, share, 0.0)
            if w.sum() <= 0:
                w = open_.astype(float)
            raw = remaining * w / w.sum()
            add = np.minimum(np.floor(raw).astype(np.int64), room)
            left = remaining - int(add.sum())
            if left > 0:  # largest remainders, among kecamatan with room left
                frac = np.where(room - add > 0, raw - np.floor(raw), -1.0)
                for j in np.argsort(-frac, kind="stable")[:left]:
                    if room[j] - add[j] > 0:
                        add[j] += 1
            counts += add
            remaining = visits - int(counts.sum())
    else:
        raise ValueError(f"rule must be 'greedy' or 'proportional', got {rule!r}")
    return pd.Series(counts.astype(np.int64), index=labels, name="visits")


def select_visits(
    frame: pd.DataFrame,
    visits: int,
    *,
    per_kecamatan: bool = False,
    floor: int | None = None,
    rule: Rule = "greedy",
    exclusion_weight: float = 1.0,
) -> pd.DataFrame:
    """The households to visit, best first, with their expected corrections.

    Adds ``expected_corrections``, ``rank`` (1 = best in the district), ``rank_in_kecamatan`` (if a
    kecamatan column exists) and ``cumulative_expected_corrections``. With ``per_kecamatan``, the
    budget is first split by :func:`allocate_visits`; the list stays in district order.
    """
    gain = expected_corrections(frame, exclusion_weight=exclusion_weight)
    order = visit_order(frame, exclusion_weight=exclusion_weight)
    if per_kecamatan:
        if KECAMATAN not in frame.columns:
            raise KeyError(f"per_kecamatan needs a {KECAMATAN!r} column")
        counts = allocate_visits(gain, frame[KECAMATAN], visits, floor=floor, rule=rule)
        kec = frame[KECAMATAN].astype("string").fillna("(tidak diketahui)").to_numpy(dtype=object)[order]
        within = pd.Series(kec).groupby(kec, sort=False).cumcount().to_numpy()
        quota = counts.reindex(kec).to_numpy()
        chosen = order[within < quota]
    else:
        chosen = order[: min(int(visits), order.size)]
    out = frame.iloc[chosen].copy()
    out[EXPECTED] = gain[chosen]
    out[RANK] = np.arange(1, chosen.size + 1)
    if KECAMATAN in out.columns:
        out[RANK_IN_KECAMATAN] = out.groupby(out[KECAMATAN].astype("string"), sort=False).cumcount() + 1
    out[CUMULATIVE] = np.cumsum(out[EXPECTED].to_numpy())
    return out.reset_index(drop=True)
