"""Compiled (numba) split decisions of the pattern tables: every node, every row, in one pass.

The numpy form gathered a (nodes x rows) copy of the matrix per block of rows and made the numeric
rule, the missing-value rule, the zero rule and the categorical look-up each a further temporary of
that size; this decides each (row, node) once, a block of rows at a time so the rows stay in cache.
The rules are LightGBM's (``include/LightGBM/tree.h``), as :mod:`targeting.explain._treeshap` states
them. Compiled on first use and cached beside this file (``cache=True``); ``make`` compiles it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Rows per block (their matrix rows stay in the core's cache while every node is decided).
BLOCK = 1024
#: Largest category code a value is clipped to before truncation (LightGBM's int32 range, less one).
_CODE_MAX = 2.0**31 - 2


@njit(cache=True, nogil=True)
def decide_into(M, out, categorical, feature, threshold, nan_left, zero_rule, zero_left, zero_threshold,
                lut_row, lut, block):  # pragma: no cover - compiled
    """``out[node, row]`` = 1 when the row goes left at the node.

    Numeric: ``x <= threshold``; NaN goes ``nan_left``; with a zero rule, ``|x| <= zero_threshold``
    goes ``zero_left``. Categorical: NaN and values <= -1 go right (slot 0); others are truncated
    toward zero to a code (values in (-1, 0) are category 0) and looked up in the node's row of
    ``lut`` at ``code + 1``, codes past the table's end reading its last slot (right).
    """
    n = M.shape[0]
    nodes = feature.shape[0]
    width = lut.shape[1]
    for start in range(0, n, block):
        stop = min(n, start + block)
        for k in range(nodes):
            f = feature[k]
            if categorical[k]:
                row = lut_row[k]
                for i in range(start, stop):
                    x = M[i, f]
                    if math.isnan(x) or x <= -1.0:
                        slot = 0
                    else:
                        slot = int(math.trunc(min(x, _CODE_MAX))) + 1
                    out[k, i] = lut[row, min(slot, width - 1)]
            else:
                t = threshold[k]
                nl = nan_left[k]
                zr = zero_rule[k]
                zl = zero_left[k]
                for i in range(start, stop):
                    x = M[i, f]
                    d = x <= t
                    if nl and math.isnan(x):
                        d = True
                    if zr and -zero_threshold <= x <= zero_threshold:
                        d = zl
                    out[k, i] = d


@njit(cache=True, nogil=True)
def tables_into(decisions, group_nodes, group_size, prediction, prediction_start, values, entry_bounds,
                entry_feature, entry_start, pred, contrib_t, contributions,
                block):  # pragma: no cover - compiled
    """Add every group's table entries for each row's decision pattern into ``pred`` and ``contrib_t``.

    A row's pattern at group ``g`` has bit ``i`` set when it goes left at ``group_nodes[g, i]``.
    Each cell receives the same terms in the same order as the group-by-group numpy loop did (group
    by group, a group's entries in order), so the sums are that loop's to the last bit; rows are
    taken a block at a time so their columns of ``contrib_t`` stay in cache across the groups.
    """
    n = decisions.shape[1]
    pattern = np.empty(block, dtype=np.intp)
    for start in range(0, n, block):
        stop = min(n, start + block)
        for g in range(group_size.shape[0]):
            m = group_size[g]
            for i in range(start, stop):
                p = 0
                for b in range(m):
                    p |= np.intp(decisions[group_nodes[g, b], i]) << b
                pattern[i - start] = p
            if contributions:
                for e in range(entry_bounds[g], entry_bounds[g + 1]):
                    f = entry_feature[e]
                    at = entry_start[e]
                    for i in range(start, stop):
                        contrib_t[f, i] += values[at + pattern[i - start]]
            at = prediction_start[g]
            for i in range(start, stop):
                pred[i] += prediction[at + pattern[i - start]]


def warm() -> None:
    """Compile the kernels for the types the tables pass, into numba's cache."""
    out = np.empty((1, 1), dtype=np.uint8)
    flags = np.zeros(1, dtype=np.bool_)
    decide_into(np.zeros((1, 1)), out, flags, np.zeros(1, dtype=np.intp), np.zeros(1), flags, flags, flags,
                1e-35, np.zeros(1, dtype=np.intp), np.zeros((1, 2), dtype=np.bool_), BLOCK)
    one = np.zeros(1, dtype=np.intp)
    tables_into(out, np.zeros((1, 1), dtype=np.intp), one, np.zeros(2), one, np.zeros(2),
                np.array([0, 1], dtype=np.intp), one, one, np.zeros(1), np.zeros((1, 1)), True, BLOCK)
