"""Survey-weighted drift statistics: shares in bins, PSI, and two-sample tests with Kish effective sizes.

Written here because the usual drift libraries (Evidently among them) take no sample weights, and a
survey or a registry compared without its weights describes the sample, not the population. SciPy has
the unweighted versions; with unit weights every function below reproduces it (the tests check this):

* :func:`weighted_ks_2samp` — the statistic of ``scipy.stats.ks_2samp``; its p-value is SciPy's
  asymptotic one (``method="asymp"``) evaluated at the effective sizes.
* :func:`weighted_chi2_2samp` — ``scipy.stats.chi2_contingency(..., correction=False)`` on the 2 x B
  table of effective counts.
* :func:`adjust_pvalues` — ``scipy.stats.false_discovery_control``.

Effective sizes are Kish's, n_eff = (sum w)^2 / sum w^2: they account for unequal weights, not for
clustering, so on a clustered survey the p-values are optimistic (too small). That is one reason the
flags are driven by the PSI, an effect size, with significance only as a guard against noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Correction = Literal["bh", "by"]

#: Share given to a bin that is empty on one side, so its PSI term stays finite (see
#: :func:`population_stability_index`). 1e-4 = 0.01% of the population.
DEFAULT_EPSILON = 1e-4


def _weights(values: npt.ArrayLike, weight: npt.ArrayLike | None) -> FloatArray:
    n = np.asarray(values).shape[0]
    if weight is None:
        return np.ones(n)
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weight has {w.shape[0]} entries, expected {n}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    return w


def kish_effective_size(weight: npt.ArrayLike) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2; n for equal weights, 0 if all are 0."""
    w = np.asarray(weight, dtype=np.float64)
    ss = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / ss if ss > 0 else 0.0


def weighted_shares(codes: npt.ArrayLike, weight: npt.ArrayLike | None, n_bins: int) -> FloatArray:
    """Weighted share of each bin ``0..n_bins-1`` (``codes`` are bin numbers); zeros if no weight."""
    c = np.asarray(codes, dtype=np.int64)
    if c.size and (c.min() < 0 or c.max() >= n_bins):
        raise ValueError(f"bin codes must lie in 0..{n_bins - 1}")
    w = _weights(c, weight)
    totals = np.bincount(c, weights=w, minlength=n_bins).astype(np.float64)
    s = totals.sum()
    return totals / s if s > 0 else totals


def population_stability_index(
    reference_shares: npt.ArrayLike,
    current_shares: npt.ArrayLike,
    *,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI = sum over bins of (c - r) ln(c / r): 0 for identical shares, never negative.

    A share below ``epsilon`` is raised to ``epsilon`` (without renormalising the others), so a bin that
    is empty on one side adds (c - epsilon) ln(c / epsilon) instead of infinity: a code held by 1% of
    the current population and by nobody in the reference adds 0.0099 x ln(100) = 0.046. Each term is
    (c - r) times the log of c / r, two numbers of the same sign, so the floor keeps PSI >= 0.
    """
    r = np.asarray(reference_shares, dtype=np.float64)
    c = np.asarray(current_shares, dtype=np.float64)
    if r.shape != c.shape:
        raise ValueError(f"share vectors differ in length: {r.shape} vs {c.shape}")
    if np.any(r < 0) or np.any(c < 0) or not (np.all(np.isfinite(r)) and np.all(np.isfinite(c))):
        raise ValueError("shares must be finite and non-negative")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    return float(np.sum(psi_terms(r, c, epsilon=epsilon)))


def psi_terms(reference_shares: FloatArray, current_shares: FloatArray, *,
              epsilon: float = DEFAULT_EPSILON) -> FloatArray:
    """Each bin's term of the PSI (same floor as :func:`population_stability_index`)."""
    r = np.maximum(reference_shares, epsilon)
    c = np.maximum(current_shares, epsilon)
    return (c - r) * np.log(c / r)


def psi_null_mean(n_bins: int, n_reference: float, n_current: float) -> float:
    """Expected PSI of two samples from one population: (B - 1)(1/n + 1/m), to first order.

    To first order PSI = sum (c - r)^2 / p, and under no change each difference has variance
    p(1 - p)(1/n + 1/m); summed over B non-empty bins that is (B - 1)(1/n + 1/m). With effective sizes of
    200 and 10 bins it is 0.09: a PSI near the 0.1 convention is then noise, not drift.
    """
    if n_reference <= 0 or n_current <= 0 or n_bins < 1:
        return float("nan")
    return (n_bins - 1) * (1.0 / n_reference + 1.0 / n_current)


def quantile_edges(values: npt.ArrayLike, weight: npt.ArrayLike | None, n_bins: int) -> FloatArray:
    """Inner bin edges at the weighted quantiles k / n_bins (k = 1..n_bins-1) of ``values``, deduplicated.

    The quantile is the smallest value whose cumulative weight share reaches k / n_bins (as
    `targeting.survey.load.weighted_quantile`); missing values are ignored. Bins are right-closed:
    (-inf, e1], (e1, e2], ..., (e_m, inf), so a discrete indicator (rooms: 1, 2, 3...) gets one bin per
    value where its quantiles coincide, never an empty bin between two equal edges.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    x = np.asarray(values, dtype=np.float64)
    w = _weights(x, weight)
    keep = np.isfinite(x) & (w > 0)
    x, w = x[keep], w[keep]
    if x.size == 0 or n_bins == 1:
        return np.empty(0)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    cum = np.cumsum(w[order])
    q = np.arange(1, n_bins) / n_bins
    idx = np.minimum(np.searchsorted(cum, q * cum[-1]), xs.size - 1)
    edges = np.unique(xs[idx])
    # An edge at the maximum leaves the last bin empty in the reference by construction: drop it.
    return edges[edges < xs[-1]]


def numeric_bin_codes(values: npt.ArrayLike, edges: FloatArray) -> IntArray:
    """Bin of each value under right-closed ``edges``; missing values go to the last bin (len(edges) + 1)."""
    x = np.asarray(values, dtype=np.float64)
    codes = np.searchsorted(edges, x, side="left").astype(np.int64)
    codes[np.isnan(x)] = edges.size + 1
    return codes


def numeric_bin_labels(edges: FloatArray) -> list[str]:
    """Labels of the bins of :func:`numeric_bin_codes` (the last one is the missing bin)."""
    if edges.size == 0:
        return ["all", "missing"]
    labels = [f"<= {edges[0]:g}"]
    labels += [f"({a:g}, {b:g}]" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"> {edges[-1]:g}")
    return [*labels, "missing"]


@dataclass(frozen=True)
class TestResult:
    """A two-sample test: statistic, p-value, degrees of freedom (chi-square) and the effective sizes."""

    statistic: float
    pvalue: float
    n_reference: float
    n_current: float
    dof: float = float("nan")


def weighted_ks_2samp(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    reference_weight: npt.ArrayLike | None = None,
    current_weight: npt.ArrayLike | None = None,
) -> TestResult:
    """Two-sided Kolmogorov–Smirnov test between two weighted samples (missing values left out).

    D = max |F_r(x) - F_c(x)| with weighted empirical CDFs. The p-value is Smirnov's asymptotic one as
    SciPy computes it (``kstwo.sf(D, round(n m / (n + m)))``) with Kish effective sizes for n and m:
    with unit weights it equals ``scipy.stats.ks_2samp(..., method="asymp")``. On discrete values
    (counts of rooms) the test is conservative, as the unweighted one is.
    """
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(current, dtype=np.float64)
    wx, wy = _weights(x, reference_weight), _weights(y, current_weight)
    kx, ky = np.isfinite(x) & (wx > 0), np.isfinite(y) & (wy > 0)
    x, wx, y, wy = x[kx], wx[kx], y[ky], wy[ky]
    nx, ny = kish_effective_size(wx), kish_effective_size(wy)
    if x.size == 0 or y.size == 0:
        return TestResult(float("nan"), float("nan"), nx, ny)
    grid = np.union1d(x, y)
    d = float(np.max(np.abs(_ecdf(x, wx, grid) - _ecdf(y, wy, grid))))
    m, n = sorted((nx, ny), reverse=True)
    # Rounded to 9 decimals first, so weights scaled by a constant (Kish sizes equal up to float
    # error) cannot land on either side of a .5; exact for integer sizes, as SciPy computes them.
    en = round(round(m * n / (m + n), 9))
    p = float(np.clip(stats.kstwo.sf(d, en), 0.0, 1.0)) if en >= 1 else float("nan")
    return TestResult(d, p, nx, ny)


def _ecdf(x: FloatArray, w: FloatArray, grid: FloatArray) -> FloatArray:
    order = np.argsort(x, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])])
    return cum[np.searchsorted(x[order], grid, side="right")] / cum[-1]


def weighted_chi2_2samp(
    reference_codes: npt.ArrayLike,
    current_codes: npt.ArrayLike,
    n_bins: int,
    *,
    reference_weight: npt.ArrayLike | None = None,
    current_weight: npt.ArrayLike | None = None,
) -> TestResult:
    """Chi-square test of equal bin shares, on effective counts (Kish n_eff x weighted share).

    Scaling each sample's shares to its effective size is the first-order design correction for
    unequal weights (a Rao–Scott-type adjustment by the weighting design effect); bins empty in both
    samples are left out. With unit weights it equals ``chi2_contingency(counts, correction=False)``.
    """
    wr = _weights(reference_codes, reference_weight)
    wc = _weights(current_codes, current_weight)
    nr, nc = kish_effective_size(wr), kish_effective_size(wc)
    if nr == 0 or nc == 0:
        return TestResult(float("nan"), float("nan"), nr, nc)
    table = np.vstack([
        nr * weighted_shares(reference_codes, wr, n_bins),
        nc * weighted_shares(current_codes, wc, n_bins),
    ])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return TestResult(0.0, 1.0, nr, nc, 0.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return TestResult(stat, float(stats.chi2.sf(stat, dof)), nr, nc, float(dof))


def adjust_pvalues(pvalues: npt.ArrayLike, method: Correction = "bh") -> FloatArray:
    """Multiple-testing adjusted p-values (missing stay missing).

    ``bh``: Benjamini–Hochberg, controls the false discovery rate under independence or positive
    dependence; ``by``: Benjamini–Yekutieli, valid under any dependence, more conservative. Both are
    ``scipy.stats.false_discovery_control``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method=method)
    return out
