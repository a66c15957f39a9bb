"""Targeting metrics as pure functions with the scikit-learn / fairlearn signature.

Every rate takes ``y_true`` = truly poor (bool), ``y_pred`` = selected (bool) and an optional
``sample_weight`` (survey weight, or survey weight x household size for person-based rates), so
``fairlearn.metrics.MetricFrame`` can group any of them. Notation (DOMAIN.md): P = truly poor,
S = selected, N = everyone; every count is a weighted sum. A rate whose denominator is zero is
undefined and returned as ``nan`` (no warning): e.g. the exclusion error of a group with no poor.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "auc_weighted",
    "cgh_indicator",
    "coverage_rate",
    "exclusion_error_rate",
    "inclusion_error_rate",
    "inclusion_error_rate_nonpoor",
    "poor_coverage_rate",
    "r2_weighted",
    "spearman_weighted",
    "targeting_differential",
    "weighted_midranks",
]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def _weights(sample_weight: ArrayLike | None, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} entries, expected {n}")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    return w


def _as_bool(a: ArrayLike, name: str) -> npt.NDArray[np.bool_]:
    arr = np.asarray(a).reshape(-1)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iuf":
        if np.any(np.isnan(arr.astype(np.float64))) or not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must be boolean (or 0/1)")
        return arr.astype(bool)
    raise ValueError(f"{name} must be boolean (or 0/1), got dtype {arr.dtype}")


def _confusion(
    y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[float, float, float, float]:
    """Weighted (P and S, P and not S, not P and S, not P and not S)."""
    p = _as_bool(y_true, "y_true")
    s = _as_bool(y_pred, "y_pred")
    if p.shape != s.shape:
        raise ValueError(f"y_true has {p.shape[0]} entries but y_pred has {s.shape[0]}")
    w = _weights(sample_weight, p.shape[0])
    return (
        float(w[p & s].sum()),
        float(w[p & ~s].sum()),
        float(w[~p & s].sum()),
        float(w[~p & ~s].sum()),
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def exclusion_error_rate(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Exclusion error (undercoverage): share of the poor not selected, P∧¬S / P = 1 − recall."""
    ps, pns, _, _ = _confusion(y_true, y_pred, sample_weight)
    return _ratio(pns, ps + pns)


def inclusion_error_rate(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Inclusion error, beneficiary-based (leakage; the project default): S∧¬P / S = 1 − precision.

    Share of the selected who are not poor. When as many are selected as are poor (weighted), it
    equals the exclusion error.
    """
    ps, _, nps, _ = _confusion(y_true, y_pred, sample_weight)
    return _ratio(nps, ps + nps)


def inclusion_error_rate_nonpoor(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Inclusion error, non-poor-based (Alatas et al. 2012): S∧¬P / ¬P = false-positive rate.

    Share of the non-poor who are selected.
    """
    _, _, nps, npns = _confusion(y_true, y_pred, sample_weight)
    return _ratio(nps, nps + npns)


def coverage_rate(y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
    """Coverage, S / N: share of everyone who is selected (``y_true`` only fixes the length)."""
    ps, pns, nps, npns = _confusion(y_true, y_pred, sample_weight)
    return _ratio(ps + nps, ps + pns + nps + npns)


def poor_coverage_rate(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Coverage of the poor, P∧S / P = recall = 1 − exclusion error."""
    ps, pns, _, _ = _confusion(y_true, y_pred, sample_weight)
    return _ratio(ps, ps + pns)


def targeting_differential(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Ravallion's targeting differential, (P∧S / P) − (S∧¬P / ¬P), in [−1, 1].

    Coverage of the poor minus the non-poor-based inclusion error: 1 for perfect targeting,
    0 for a selection unrelated to poverty (e.g. random or universal).
    """
    ps, pns, nps, npns = _confusion(y_true, y_pred, sample_weight)
    return _ratio(ps, ps + pns) - _ratio(nps, nps + npns)


def weighted_midranks(values: ArrayLike, sample_weight: ArrayLike | None = None) -> FloatArray:
    """Weighted mid-ranks as population shares in (0, 1): weight below + half the weight of ties.

    Tied values share one rank (the mid-point of their tie group), so the result does not depend on
    the order of the rows.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    w = _weights(sample_weight, x.shape[0])
    if x.shape[0] == 0:
        return np.empty(0)
    uniq, inverse = np.unique(x, return_inverse=True)
    group_w = np.bincount(inverse, weights=w, minlength=uniq.shape[0])
    below = np.cumsum(group_w) - group_w
    total = group_w.sum()
    mid = below + 0.5 * group_w
    return (mid / total)[inverse] if total > 0 else np.full(x.shape[0], np.nan)


def _weighted_corr(a: FloatArray, b: FloatArray, w: FloatArray) -> float:
    sw = w.sum()
    if sw <= 0:
        return float("nan")
    am = a - (w @ a) / sw
    bm = b - (w @ b) / sw
    va = w @ (am * am)
    vb = w @ (bm * bm)
    if va <= 0 or vb <= 0:
        return float("nan")
    return float((w @ (am * bm)) / np.sqrt(va * vb))


def spearman_weighted(
    welfare_true: ArrayLike, welfare_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Weighted Spearman rank correlation of true and predicted welfare.

    The weighted Pearson correlation of weighted mid-ranks (:func:`weighted_midranks`); with unit
    weights it equals ``scipy.stats.spearmanr``. Any monotone transform of either input (e.g. log
    welfare instead of welfare) leaves it unchanged.
    """
    t = np.asarray(welfare_true, dtype=np.float64).reshape(-1)
    p = np.asarray(welfare_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"welfare_true has {t.shape[0]} entries but welfare_pred has {p.shape[0]}")
    w = _weights(sample_weight, t.shape[0])
    return _weighted_corr(weighted_midranks(t, w), weighted_midranks(p, w), w)


def auc_weighted(
    poor: ArrayLike, predicted_welfare: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Weighted AUC of ranking the poor below the non-poor.

    The probability that a poor household drawn at random (weighted) has a lower predicted welfare
    than a non-poor one, ties counting one half. Equals
    ``sklearn.metrics.roc_auc_score(poor, -predicted_welfare, sample_weight=...)``; 0.5 is a
    ranking unrelated to poverty, 1 a perfect one.
    """
    p = _as_bool(poor, "poor")
    x = np.asarray(predicted_welfare, dtype=np.float64).reshape(-1)
    if p.shape != x.shape:
        raise ValueError(f"poor has {p.shape[0]} entries but predicted_welfare has {x.shape[0]}")
    w = _weights(sample_weight, p.shape[0])
    uniq, inverse = np.unique(x, return_inverse=True)
    wp = np.bincount(inverse, weights=w * p, minlength=uniq.shape[0])
    wn = np.bincount(inverse, weights=w * ~p, minlength=uniq.shape[0])
    total_p, total_n = wp.sum(), wn.sum()
    if total_p <= 0 or total_n <= 0:
        return float("nan")
    # For each non-poor tie group: poor weight strictly below + half the poor weight tied with it.
    poor_below = np.cumsum(wp) - wp
    return float(wn @ (poor_below + 0.5 * wp) / (total_p * total_n))


def r2_weighted(y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
    """Weighted coefficient of determination, 1 − Σw(y−ŷ)² / Σw(y−ȳ_w)².

    For a PMT pass log per-capita welfare (the model's target), not welfare in rupiah.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} entries but y_pred has {p.shape[0]}")
    w = _weights(sample_weight, t.shape[0])
    sw = w.sum()
    if sw <= 0:
        return float("nan")
    ss_tot = w @ (t - (w @ t) / sw) ** 2
    if ss_tot <= 0:
        return float("nan")
    return float(1.0 - (w @ (t - p) ** 2) / ss_tot)


def cgh_indicator(
    welfare: ArrayLike,
    benefit: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    household_size: ArrayLike | None = None,
    bottom_share: float = 0.4,
) -> float:
    """Coady–Grosh–Hoddinott indicator: share of benefits reaching the bottom q ÷ q.

    Parameters
    ----------
    welfare : true per-capita welfare (any monotone transform, e.g. log, gives the same result).
    benefit : benefit amount received by each household (0 if not selected); a boolean selection
        counts one unit per selected household.
    sample_weight : survey weight of each household (households represented).
    household_size : persons per household; if given, the bottom q is a share of *persons*
        (weight x size), otherwise a share of households.
    bottom_share : q, the target population share (0.4 for the bottom 40%, CGH's usual choice).

    Returns
    -------
    float
        1 for neutral (universal or random) allocation, above 1 for progressive targeting, at most
        1/q. Total benefits are Σ weight x benefit. The household straddling the q cut-off is
        counted fractionally, so the result is exact for any weights.
    """
    if not 0 < bottom_share <= 1:
        raise ValueError(f"bottom_share must be in (0, 1], got {bottom_share}")
    y = np.asarray(welfare, dtype=np.float64).reshape(-1)
    b = np.asarray(benefit, dtype=np.float64).reshape(-1)
    if y.shape != b.shape:
        raise ValueError(f"welfare has {y.shape[0]} entries but benefit has {b.shape[0]}")
    w = _weights(sample_weight, y.shape[0])
    size = np.ones_like(y) if household_size is None else np.asarray(household_size, np.float64)
    pop = w * size
    total_benefit = w @ b
    total_pop = pop.sum()
    if total_benefit <= 0 or total_pop <= 0:
        return float("nan")
    # Tied welfare values are pooled, so ties do not depend on row order.
    uniq, inverse = np.unique(y, return_inverse=True)
    g_pop = np.bincount(inverse, weights=pop, minlength=uniq.shape[0])
    g_ben = np.bincount(inverse, weights=w * b, minlength=uniq.shape[0])
    cum_before = np.cumsum(g_pop) - g_pop
    # Fraction of each tie group's population lying below the q cut-off.
    cut = bottom_share * total_pop
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(g_pop > 0, np.clip((cut - cum_before) / g_pop, 0.0, 1.0), 0.0)
    share = (frac @ g_ben) / total_benefit
    return float(share / bottom_share)
