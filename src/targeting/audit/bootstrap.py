"""Vectorised weighted bootstrap: replicate weights in blocks, and metric kernels over a block.

A block ``W`` is a (replicates x households) matrix of survey weight x bootstrap multiplier. Every
kernel computes, for all replicates at once, exactly what the matching function of
:mod:`targeting.audit.metrics` computes with ``sample_weight=W[r]`` (the tests check this), so the
point estimate and its replicates share one definition.

Multipliers are Poisson(1) counts (the Poisson bootstrap: Hanley & MacGibbon 2006; Chamandy et al.
2012), drawn per sampling unit: the household, or the cluster (PSU) when one is given, so that
households of one cluster are resampled together. Strata are not held fixed; with few clusters per
stratum the intervals are approximate.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Largest replicate block, in matrix cells (replicates x households): about 32 MB of float64.
MAX_BLOCK_CELLS = 4_000_000

#: Confusion cells: code = 2 x truth + selected; code 4 = truth unknown (ignored by the rates).
CELL_NOT_POOR_NOT_SEL, CELL_NOT_POOR_SEL, CELL_POOR_NOT_SEL, CELL_POOR_SEL, CELL_UNKNOWN = range(5)
N_CELLS = 5


def replicate_multipliers(
    n: int,
    *,
    n_boot: int,
    seed: int,
    cluster: npt.ArrayLike | None = None,
    max_block_cells: int = MAX_BLOCK_CELLS,
) -> Iterator[tuple[FloatArray, IntArray | None]]:
    """Yield blocks of Poisson(1) multipliers per sampling unit, with each household's unit.

    Each block is ``(multipliers, unit_of)``: a (replicates x units) matrix and the unit of each of the
    ``n`` households (None when the units are the households themselves). The draws are those of
    :func:`replicate_blocks` (same seed, same blocks): callers that sum weights per unit first get the
    same replicates without expanding the matrix to every household.
    """
    if n_boot < 1:
        return
    rng = np.random.default_rng(seed)
    if cluster is None:
        n_units, unit_of = n, None
    else:
        # Units numbered in sorted order of the cluster values (as np.unique would), by hashing: sorting
        # 260,000 village names as Python objects took most of a second.
        codes, _ = pd.factorize(np.asarray(cluster), sort=True)
        unit_of = codes.astype(np.int64)
        n_units = int(unit_of.max(initial=-1)) + 1
    block = max(1, min(n_boot, max_block_cells // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(block, n_boot - done)
        yield rng.poisson(1.0, size=(b, n_units)).astype(np.float64), unit_of
        done += b


def replicate_blocks(
    weight: FloatArray,
    *,
    n_boot: int,
    seed: int,
    cluster: npt.ArrayLike | None = None,
    max_block_cells: int = MAX_BLOCK_CELLS,
) -> Iterator[FloatArray]:
    """Yield blocks of replicate weights (replicates x households), ``n_boot`` rows in total.

    The same ``seed``, data and ``max_block_cells`` always give the same replicates.
    """
    for mult, unit_of in replicate_multipliers(weight.shape[0], n_boot=n_boot, seed=seed, cluster=cluster,
                                               max_block_cells=max_block_cells):
        # np.take keeps rows contiguous (``mult[:, unit_of]`` is Fortran-ordered): the kernels read a
        # replicate's row household by household, 1.6 times faster from contiguous memory.
        yield (mult if unit_of is None else np.take(mult, unit_of, axis=1)) * weight


def unit_sums(
    weight: FloatArray, codes: IntArray, n_codes: int, unit_of: IntArray | None
) -> sparse.csr_array:
    """(units x codes) sums of ``weight`` per sampling unit and code: ``M @ unit_sums`` = ``W @ onehot``."""
    n = codes.shape[0]
    units = np.arange(n) if unit_of is None else unit_of
    n_units = n if unit_of is None else int(unit_of.max(initial=-1)) + 1
    return sparse.csr_array((weight, (units, codes)), shape=(n_units, n_codes), dtype=np.float64)


def onehot(codes: IntArray, n_codes: int) -> sparse.csr_array:
    """Sparse (households x codes) indicator matrix of integer codes."""
    n = codes.shape[0]
    return sparse.csr_array((np.ones(n), (np.arange(n), codes)), shape=(n, n_codes), dtype=np.float64)


def code_sums(W: FloatArray, indicator: sparse.csr_array) -> FloatArray:
    """Per replicate, the weight summed within each code: (replicates x codes)."""
    return np.asarray(W @ indicator)


def confusion_codes(poor: BoolArray, selected: BoolArray, known: BoolArray) -> IntArray:
    """Confusion cell of each household (see ``CELL_*``)."""
    code = 2 * poor.astype(np.int64) + selected.astype(np.int64)
    return np.where(known, code, CELL_UNKNOWN)


def _div(num: FloatArray, den: FloatArray) -> FloatArray:
    """Num / den, ``nan`` where den <= 0 (no warning)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(np.divide(num, den), dtype=np.float64)
    bad = np.asarray(den) <= 0
    if bad.any():
        out = out.copy() if out.ndim == 0 else out
        out[np.broadcast_to(bad, out.shape)] = np.nan
    return out


def rates_from_cells(cells: FloatArray) -> dict[str, FloatArray]:
    """The confusion-based rates from weighted cell sums (last axis = the five ``CELL_*``).

    Same definitions as :mod:`targeting.audit.metrics`; ``nan`` where a denominator is zero.
    """
    npns = cells[..., CELL_NOT_POOR_NOT_SEL]
    nps = cells[..., CELL_NOT_POOR_SEL]
    pns = cells[..., CELL_POOR_NOT_SEL]
    ps = cells[..., CELL_POOR_SEL]
    poor = ps + pns
    nonpoor = nps + npns
    total = poor + nonpoor
    poor_coverage = _div(ps, poor)
    inclusion_nonpoor = _div(nps, nonpoor)
    return {
        "exclusion_error": _div(pns, poor),
        "inclusion_error": _div(nps, ps + nps),
        "inclusion_error_nonpoor": inclusion_nonpoor,
        "coverage": _div(ps + nps, total),
        "poor_coverage": poor_coverage,
        "targeting_differential": poor_coverage - inclusion_nonpoor,
        "poverty_rate": _div(poor, total),
        "agreement": _div(ps + npns, total),
    }


def tie_groups(values: FloatArray) -> tuple[IntArray, int]:
    """(group of each value among the sorted distinct values, number of distinct values)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64), int(uniq.shape[0])


def _midranks(W: FloatArray, groups: IntArray, n_groups: int) -> FloatArray:
    """Weighted mid-ranks per replicate (as :func:`~targeting.audit.metrics.weighted_midranks`)."""
    g = code_sums(W, onehot(groups, n_groups))
    mid = np.cumsum(g, axis=1)
    mid -= 0.5 * g
    return _div(mid, g.sum(axis=1, keepdims=True))[:, groups]


def _weighted_corr_rows(a: FloatArray, b: FloatArray, W: FloatArray) -> FloatArray:
    sw = W.sum(axis=1, keepdims=True)
    am = a - _div((W * a).sum(axis=1, keepdims=True), sw)
    bm = b - _div((W * b).sum(axis=1, keepdims=True), sw)
    va = (W * am * am).sum(axis=1)
    vb = (W * bm * bm).sum(axis=1)
    cov = (W * am * bm).sum(axis=1)
    ok = (va > 0) & (vb > 0) & (sw[:, 0] > 0)
    out = np.full(W.shape[0], np.nan)
    out[ok] = cov[ok] / np.sqrt(va[ok] * vb[ok])
    return out


def _all_rows(W: FloatArray) -> tuple[FloatArray, IntArray, FloatArray]:
    W = np.asarray(W, dtype=np.float64)
    return W, np.arange(W.shape[1], dtype=np.int64), np.ones(W.shape[1])


def spearman_block(
    W: FloatArray, true_groups: tuple[IntArray, int], pred_groups: tuple[IntArray, int],
    *, rows: IntArray | None = None, weight: FloatArray | None = None,
) -> FloatArray:
    """Weighted Spearman correlation per replicate (groups from :func:`tie_groups`).

    ``W`` holds the replicate weights; or, with ``rows`` and ``weight``, the replicate *multipliers*
    of every household, of which the kernel takes ``W[:, rows] * weight`` itself (no temporary).
    Compiled (:mod:`targeting.audit._rank_kernels`): the weighted Pearson correlation of the two
    :func:`_midranks`.
    """
    from targeting.audit._rank_kernels import spearman_rows

    M, r, w = _all_rows(W) if rows is None else (W, rows, weight)
    return np.asarray(spearman_rows(M, r, w, true_groups[0], true_groups[1], pred_groups[0], pred_groups[1]))


def auc_block(W: FloatArray, poor: BoolArray, score_groups: tuple[IntArray, int],
              *, rows: IntArray | None = None, weight: FloatArray | None = None) -> FloatArray:
    """Weighted AUC of ranking the poor below the non-poor, per replicate (``rows``: as `spearman_block`)."""
    from targeting.audit._rank_kernels import auc_rows

    M, r, w = _all_rows(W) if rows is None else (W, rows, weight)
    return np.asarray(auc_rows(M, r, w, np.asarray(poor, dtype=np.bool_), score_groups[0], score_groups[1]))


def r2_block(W: FloatArray, y: FloatArray, p: FloatArray) -> FloatArray:
    """Weighted R² of ``p`` predicting ``y`` per replicate (as `targeting.audit.metrics.r2_weighted`)."""
    sw = W.sum(axis=1)
    mean = _div(W @ y, sw)
    ss_tot = (W * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    ss_res = W @ ((y - p) ** 2)
    out = 1.0 - _div(ss_res, ss_tot)
    out[~(sw > 0)] = np.nan
    return out


def cgh_block(
    W: FloatArray,
    welfare_groups: tuple[IntArray, int],
    benefits: FloatArray,
    size: FloatArray,
    bottom_share: float,
    *,
    rows: IntArray | None = None,
    weight: FloatArray | None = None,
) -> FloatArray:
    """CGH indicator per replicate (bottom share of persons, benefit per household; compiled kernel).

    ``benefits`` is (selections x households): the population ranking is shared, so several
    selections cost little more than one. Returns (replicates x selections). ``rows``: as
    :func:`spearman_block`.
    """
    from targeting.audit._rank_kernels import cgh_rows

    M, r, w = _all_rows(W) if rows is None else (W, rows, weight)
    return np.asarray(cgh_rows(M, r, w, welfare_groups[0], welfare_groups[1],
                               np.ascontiguousarray(benefits, dtype=np.float64),
                               np.asarray(size, dtype=np.float64), float(bottom_share)))


def percentile_interval(replicates: FloatArray, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Percentile interval over axis 0, ignoring ``nan`` replicates; ``nan`` if all are.

    Exactly ``np.nanquantile(..., method="linear")`` column by column (the tests check equality),
    computed for every column at once: ``nanquantile`` loops in Python over columns holding a ``nan``,
    which in a group table (small cells, empty denominators) is most of them.
    """
    alpha = (1.0 - confidence) / 2.0
    reps = np.asarray(replicates, dtype=np.float64)
    flat = reps.reshape(reps.shape[0], -1)
    low = np.full(flat.shape[1], np.nan)
    high = np.full(flat.shape[1], np.nan)
    if flat.shape[0] and flat.shape[1]:
        ordered = np.sort(flat, axis=0)  # nan sorts last
        count = (~np.isnan(ordered)).sum(axis=0)
        ok = np.flatnonzero(count > 0)
        if ok.size:
            low[ok], high[ok] = (_linear_quantile(ordered[:, ok], count[ok], q) for q in (alpha, 1.0 - alpha))
    return low.reshape(reps.shape[1:]), high.reshape(reps.shape[1:])


def _linear_quantile(ordered: FloatArray, count: IntArray, q: float) -> FloatArray:
    """Numpy's "linear" quantile of the first ``count`` values of each (sorted) column."""
    virtual = (count - 1) * np.float64(q)
    below = np.floor(virtual)
    above = below + 1
    top = virtual >= count - 1  # numpy clips both neighbours to the last valid value there
    prev = np.where(top, count - 1, below).astype(np.int64)
    nxt = np.where(top, count - 1, np.minimum(above, count - 1)).astype(np.int64)
    gamma = virtual - below
    cols = np.arange(ordered.shape[1])
    a, b = ordered[prev, cols], ordered[nxt, cols]
    diff = b - a
    out = a + diff * gamma
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), out)
