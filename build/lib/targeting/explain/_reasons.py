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
    # strength > 0 means "pushed the household's way"; rank by strength, strongest first.
    strength = np.where(sel[:, None], -values, values)
    k = min(top_k, p)
    order = _top_k_stable(strength, k)
    chosen = np.take_along_axis(strength, order, axis=1)
    out = np.where(chosen > min_abs, order, -1).astype(np.int64)
    if k < top_k:
        out = np.hstack([out, np.full((n, top_k - k), -1, dtype=np.int64)])
    return out


def _top_k_stable(strength: FloatArray, k: int) -> IntArray:
    """Column indices of the ``k`` largest entries per row, largest first, ties to the lower index.

    Equal to ``np.argsort(-strength, kind="stable")[:, :k]``: ``k`` passes of ``argmax`` (which
    returns the first of equal maxima) cost a few times less than sorting all indicators.
    """
    n, p = strength.shape
    work = np.array(strength, dtype=np.float64, copy=True)
    rows = np.arange(n)
    out = np.empty((n, k), dtype=np.int64)
    for r in range(k):
        j = work.argmax(axis=1)
        out[:, r] = j
        work[rows, j] = -np.inf
    return out
