"""Which indicators become a household's reasons.

Rule (documented for notices and audits):

* a **selected** household's reasons are the indicators that pushed its predicted welfare **down**
  the most (most negative contributions): why it is poor enough to be selected;
* a **non-selected** household's reasons are the indicators that pushed its predicted welfare **up**
  the most (most positive contributions): why it is not;
* only contributions of that sign count, and only if their size exceeds ``min_abs`` (default 0), so
  a household may get fewer than ``k`` reasons (none if no indicator pushed its way);
* ties in size go to the indicator that comes first in the model's indicator order, so the same
  household always gets the same reasons in the same order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_TOP_K = 4


def select_reasons(
    values: FloatArray, selected: npt.ArrayLike, top_k: int = DEFAULT_TOP_K, *, min_abs: float = 0.0
) -> IntArray:
    """Indicator indices of each household's reasons, strongest first; ``-1`` pads missing slots.

    Parameters
    ----------
    values : (n, p) contributions to predicted log welfare.
    selected : (n,) whether each household is selected (reasons point down) or not (up).
    top_k : reasons per household at most.
    min_abs : a contribution must exceed this size (log points) to be a reason.

    Returns
    -------
    (n, top_k) int64 array of column indices into ``values``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-d (households x indicators), got shape {values.shape}")
    n, p = values.shape
    sel = np.asarray(selected, dtype=bool).reshape(-1)
    if sel.shape[0] != n:
        raise ValueError(f"selected has {sel.shape[0]} entries for {n} households")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if min_abs < 0:
        raise ValueError(f"min_abs must be non-negative, got {min_abs}")
    if not np.isfinite(values).all():
        # Never met in scoring (a non-finite contribution makes the prediction non-finite, which is
        # refused first); "strongest" would have no meaning.
        raise ValueError("contributions must be finite to choose reasons")
    k = min(top_k, p)
    out = np.full((n, top_k), -1, dtype=np.int64)
    # strength = sign x contribution > 0 means "pushed the household's way".
    _top_k_into(values, np.where(sel, -1.0, 1.0), k, float(min_abs), out)
    return out


@njit(cache=True, nogil=True)
def _top_k_into(values, signs, k, min_abs, out):  # pragma: no cover - compiled
    """Per row, the ``k`` columns of largest strength, largest first, ties to the lower index.

    Strength is ``signs[i] * values[i, j]``; the order is a stable sort's, and a column is kept if its
    strength exceeds ``min_abs``.
    One pass over a row's indicators with an insertion into the k best so far: the numpy form
    (``k`` passes of ``argmax`` over a copy of the n x p strengths, per direction) was most of the
    time spent choosing reasons for a registry chunk.
    """
    n, p = values.shape
    best = np.empty(k)
    where = np.empty(k, dtype=np.int64)
    for i in range(n):
        sign = signs[i]
        m = 0
        for j in range(p):
            v = sign * values[i, j]
            if m == k and not v > best[k - 1]:
                continue
            # Shift the weaker ones down; an equal strength stays ahead (it has the lower index).
            at = m if m < k else k - 1
            while at > 0 and v > best[at - 1]:
                if at < k:
                    best[at] = best[at - 1]
                    where[at] = where[at - 1]
                at -= 1
            best[at] = v
            where[at] = j
            if m < k:
                m += 1
        for r in range(m):
            if best[r] > min_abs:
                out[i, r] = where[r]


def warm() -> None:
    """Compile the kernel into numba's cache (``make`` runs it at set-up)."""
    select_reasons(np.zeros((1, 2)), [True], 1)
