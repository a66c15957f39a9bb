"""Compiled (numba) bootstrap kernels of the rank metrics: Spearman, AUC and CGH for a block of replicates.

Each takes a block of replicate multipliers ``M`` (replicates x households, as the engine draws them),
the rows of the family and their weights, and computes per replicate exactly the quantity of the numpy
expression it replaces in
:mod:`targeting.audit.bootstrap` (same definitions; sums in another order, so results agree to about
1e-15 relative): the numpy forms made (replicates x households) temporaries for every step, which on a
260,000-household registry took most of the audit's time. Loops over households scatter weights into
tie groups (the sorted distinct values), so no sort is needed per replicate.

Compiled on first use and cached beside this file (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, nogil=True, inline="always")
def _midranks_into(w, groups, n_groups, g, mid):  # pragma: no cover - compiled
    """Weighted mid-rank of each household (in ``mid``) from weights ``w``; ``g`` is scratch."""
    g[:] = 0.0
    for i in range(w.shape[0]):
        g[groups[i]] += w[i]
    total = 0.0
    for k in range(n_groups):
        total += g[k]
    run = 0.0
    for k in range(n_groups):
        run += g[k]
        g[k] = (run - 0.5 * g[k]) / total if total > 0 else NAN
    for i in range(w.shape[0]):
        mid[i] = g[groups[i]]


@njit(cache=True, nogil=True, inline="always")
def _row_weights(M, r, rows, weight, w):  # pragma: no cover - compiled
    """Replicate ``r``'s weights of the family's rows: multiplier x weight (as ``M[:, rows] * weight``)."""
    for k in range(rows.shape[0]):
        w[k] = M[r, rows[k]] * weight[k]


@njit(cache=True, nogil=True)
def spearman_rows(M, rows, weight, tg, nt, pg, npred):  # pragma: no cover - compiled
    """Weighted Spearman correlation per replicate row of multipliers ``M`` (true, predicted tie groups)."""
    b = M.shape[0]
    n = rows.shape[0]
    out = np.full(b, NAN)
    for r in range(b):
        gt = np.empty(nt)
        gp = np.empty(npred)
        a = np.empty(n)
        c = np.empty(n)
        w = np.empty(n)
        _row_weights(M, r, rows, weight, w)
        _midranks_into(w, tg, nt, gt, a)
        _midranks_into(w, pg, npred, gp, c)
        sw = 0.0
        sa = 0.0
        sc = 0.0
        for i in range(n):
            sw += w[i]
            sa += w[i] * a[i]
            sc += w[i] * c[i]
        if not sw > 0:
            continue
        ma = sa / sw
        mc = sc / sw
        va = 0.0
        vc = 0.0
        cov = 0.0
        for i in range(n):
            da = a[i] - ma
            dc = c[i] - mc
            va += w[i] * da * da
            vc += w[i] * dc * dc
            cov += w[i] * da * dc
        if va > 0 and vc > 0:
            out[r] = cov / np.sqrt(va * vc)
    return out


@njit(cache=True, nogil=True)
def auc_rows(M, rows, weight, poor, groups, n_groups):  # pragma: no cover - compiled
    """Weighted AUC of ranking the poor below the non-poor, per replicate row of multipliers ``M``."""
    b = M.shape[0]
    n = rows.shape[0]
    out = np.full(b, NAN)
    for r in range(b):
        wp = np.zeros(n_groups)
        wn = np.zeros(n_groups)
        for i in range(n):
            x = M[r, rows[i]] * weight[i]
            if poor[i]:
                wp[groups[i]] += x
            else:
                wn[groups[i]] += x
        total_p = 0.0
        total_n = 0.0
        for k in range(n_groups):
            total_p += wp[k]
            total_n += wn[k]
        below = 0.0
        acc = 0.0
        for k in range(n_groups):
            acc += wn[k] * (below + 0.5 * wp[k])
            below += wp[k]
        den = total_p * total_n
        if den > 0:
            out[r] = acc / den
    return out


@njit(cache=True, nogil=True)
def cgh_rows(M, rows, weight, groups, n_groups, benefits, size, bottom_share):  # pragma: no cover - compiled
    """CGH indicator per replicate row of multipliers ``M`` and per selection: (replicates x selections)."""
    b = M.shape[0]
    n = rows.shape[0]
    n_sel = benefits.shape[0]
    out = np.full((b, n_sel), NAN)
    for r in range(b):
        pop = np.zeros(n_groups)
        frac = np.empty(n_groups)
        ben = np.empty(n_groups)
        w = np.empty(n)
        _row_weights(M, r, rows, weight, w)
        for i in range(n):
            pop[groups[i]] += w[i] * size[i]
        total_pop = 0.0
        for k in range(n_groups):
            total_pop += pop[k]
        before = 0.0
        for k in range(n_groups):
            if pop[k] > 0:
                f = (bottom_share * total_pop - before) / pop[k]
                frac[k] = min(1.0, max(0.0, f))
            else:
                frac[k] = 0.0
            before += pop[k]
        for j in range(n_sel):
            ben[:] = 0.0
            for i in range(n):
                ben[groups[i]] += w[i] * benefits[j, i]
            total_ben = 0.0
            acc = 0.0
            for k in range(n_groups):
                total_ben += ben[k]
                acc += frac[k] * ben[k]
            if total_ben > 0 and total_pop > 0:
                out[r, j] = acc / total_ben / bottom_share
    return out


def warm() -> None:
    """Compile every kernel for the types the audit passes, into numba's cache.

    ``make`` runs it at set-up, so a district's first audit does not spend three seconds compiling.
    """
    m = np.ones((2, 3))
    rows = np.arange(3, dtype=np.int64)
    weight = np.ones(3)
    groups = np.zeros(3, dtype=np.int64)
    spearman_rows(m, rows, weight, groups, 1, groups, 1)
    auc_rows(m, rows, weight, np.zeros(3, dtype=np.bool_), groups, 1)
    cgh_rows(m, rows, weight, groups, 1, np.ones((1, 3)), np.ones(3), 0.2)


if __name__ == "__main__":
    warm()
