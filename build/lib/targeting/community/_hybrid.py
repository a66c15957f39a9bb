"""Hybrid targeting: indicator weights learned from community rankings, scores from indicators only."""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from targeting.community._design import as_frame, make_design
from targeting.community._plackett_luce import Rankings, log_likelihood
from targeting.community._ranks import community_codes

FloatArray = npt.NDArray[np.float64]

#: Ridge strengths searched by grouped cross-validation (per-entry log-likelihood scale).
DEFAULT_ALPHAS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Ridge strength used when too few communities are ranked to cross-validate (fewer than 3).
FALLBACK_ALPHA = 0.1


class CommunityRankHybrid(BaseEstimator):
    """Hybrid targeting (after Follett & Henderson 2023): learn how communities weigh the indicators.

    A rank-ordered (Plackett-Luce) logit of the within-community rankings, poorest named first, on a
    linear index of the household indicators (see :mod:`targeting.community._plackett_luce`). Only
    comparisons *inside* a ranking enter, so ranks from a few communities teach the weights and
    :meth:`predict` scores any household from its indicators alone, including communities that never
    held a meeting.

    With a ``prior`` (a PMT such as ``PMTRegressor("ols")``) the index is

        f(x) = c · prior(x) + z(x) · δ,

    the PMT's (standardised) welfare prediction with a scale ``c`` fitted first on its own, plus
    ridge-penalised deviations ``δ`` on the standardised indicators ``z``: the stronger the penalty
    (chosen by cross-validation over communities) the closer the hybrid stays to the PMT's order, the
    role the shared prior mean plays in Follett & Henderson's Bayesian model. Without a prior,
    ``f = z · δ``. :meth:`predict` returns ``f``: a welfare index in the community's units, higher =
    better off, whose *order* is what counts (deciles and quotas read it; a poverty-line rule cannot,
    it is not log welfare). ``c`` can come out negative: in Burkina Faso the PMT's per-capita welfare
    runs partly against the villages' view (they rank large households richer).

    Parameters
    ----------
    prior : regressor of log per-capita welfare, or ``None``. Fitted inside :meth:`fit` on the rows
        with ``welfare``; if no ``welfare`` is passed it must already be fitted (wrap it in
        ``sklearn.frozen.FrozenEstimator`` to keep it fitted through ``clone``).
    alpha : ridge strength on ``δ`` (per-entry log-likelihood scale), or ``"cv"`` to choose it from
        ``alphas`` by leave-communities-out cross-validation of the held-out log-likelihood (with at
        least 3 ranked communities; otherwise :data:`FALLBACK_ALPHA`).
    cv : number of community folds for ``alpha="cv"`` (at most the number of ranked communities).
    max_iter : L-BFGS iterations.

    Attributes
    ----------
    design_ : fitted ``ColumnTransformer`` (one-hot levels, imputed and standardised numbers).
    coef_ : δ, one weight per design column (``feature_names_out_``); negative = the community sees
        the indicator as a sign of poverty.
    prior_ : the fitted prior (or ``None``); ``prior_scale_`` is ``c``.
    alpha_ : the ridge strength used; ``cv_loglik_`` the held-out mean log-likelihood per alpha.
    n_rankings_, n_ranked_ : rankings and ranked households that taught the weights.
    """

    def __init__(
        self,
        prior: Any = None,
        *,
        alpha: float | Literal["cv"] = "cv",
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        cv: int = 5,
        max_iter: int = 500,
        random_state: int | None = 0,
    ) -> None:
        self.prior = prior
        self.alpha = alpha
        self.alphas = alphas
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.target_tags.required = True
        return tags

    # ---- fitting ---------------------------------------------------------------------------------

    def fit(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        community: npt.ArrayLike | pd.DataFrame | None = None,
        welfare: npt.ArrayLike | None = None,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Self:
        """Learn indicator weights from the ranks ``y``, (n,) or (n, m), NaN = not ranked.

        A rank is a position within the community, lower = poorer (e.g. the percentiles of
        :func:`~targeting.community.rank_percentiles`); only its order inside a ranking counts.
        ``community`` names the ranking each row belongs to (default: one ranking of all rows);
        each column of ``y`` is a separate ranking of that community (several informants).
        ``welfare`` (log per-capita welfare, NaN where unmeasured) trains the ``prior``.
        """
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        frame = as_frame(self._validated(X, reset=True))
        n = len(frame)
        if np.asarray(y).dtype.kind == "c":
            raise ValueError("Complex data not supported")
        r = np.asarray(y, dtype=np.float64)
        r = r.reshape(r.shape[0], -1) if r.ndim else r.reshape(1, 1)
        if r.shape[0] != n:
            raise ValueError(f"ranks have {r.shape[0]} rows, X has {n}")
        if np.isinf(r).any():
            raise ValueError("ranks contain infinity")
        codes = np.zeros(n, dtype=np.int64) if community is None else community_codes(community)
        if codes.shape[0] != n:
            raise ValueError(f"community has {codes.shape[0]} entries, X has {n}")
        w = _check_weight(sample_weight, n)
        for name, col in frame.items():
            if col.dtype == np.float64 and np.isinf(col.to_numpy()).any():
                raise ValueError(f"Input X contains infinity (column {name!r})")

        # One BLAS thread: the problem is small (tens of columns) and threaded BLAS on a shared
        # machine made each L-BFGS step ~10x slower (measured), never faster.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, frame, r, codes, w, welfare, n)

    def _fit(
        self,
        X: Any,
        frame: pd.DataFrame,
        r: FloatArray,
        codes: npt.NDArray[np.int64],
        w: FloatArray,
        welfare: npt.ArrayLike | None,
        n: int,
    ) -> Self:
        self.prior_ = self._fit_prior(X, welfare, w, n)
        offset = None if self.prior_ is None else np.asarray(self.prior_.predict(X), dtype=np.float64)
        self.design_ = make_design(frame).fit(frame)
        Z = np.asarray(self.design_.transform(frame), dtype=np.float64)
        rankings = Rankings.build(r, codes, w)
        if rankings.n_entries == 0 or not (rankings.weight > 0).any():
            raise ValueError("no ranked household: every rank is missing")

        if offset is not None:
            ranked = np.unique(rankings.row)
            sd = float(np.std(offset[ranked])) or 1.0
            self.offset_mean_, self.offset_sd_ = float(np.mean(offset[ranked])), sd
            offset = (offset - self.offset_mean_) / sd
        # The prior's scale is fixed first (stage 1) and only the deviations are penalised: with a
        # free scale the deviations could rebuild the prior's direction and the shrinkage would vanish.
        self.prior_scale_ = float("nan") if offset is None else _prior_scale(offset, rankings, self.max_iter)
        base = None if offset is None else self.prior_scale_ * offset
        self.alpha_, self.cv_loglik_ = self._choose_alpha(Z, offset, rankings)
        self.coef_ = _fit_delta(Z, base, rankings, self.alpha_, self.max_iter)
        self.feature_names_out_ = np.asarray(self.design_.get_feature_names_out(), dtype=object)
        self.n_rankings_ = int(rankings.ranking_start.shape[0])
        self.n_ranked_ = int(np.unique(rankings.row).shape[0])
        return self

    def _fit_prior(self, X: Any, welfare: npt.ArrayLike | None, w: FloatArray, n: int) -> Any:
        if self.prior is None:
            return None
        if welfare is None:
            check_is_fitted(self.prior)
            return self.prior
        y = np.asarray(welfare, dtype=np.float64).reshape(-1)
        if y.shape[0] != n:
            raise ValueError(f"welfare has {y.shape[0]} entries, X has {n}")
        known = np.isfinite(y)
        if not known.any():
            raise ValueError("welfare is missing for every row: the prior cannot be trained")
        rows = X.iloc[np.flatnonzero(known)] if isinstance(X, pd.DataFrame) else np.asarray(X)[known]
        return clone(self.prior).fit(rows, y[known], sample_weight=w[known])

    def _choose_alpha(
        self, Z: FloatArray, offset: FloatArray | None, rankings: Rankings
    ) -> tuple[float, dict[float, float]]:
        if self.alpha != "cv":
            alpha = float(self.alpha)
            if alpha < 0:
                raise ValueError(f"alpha must be non-negative or 'cv', got {self.alpha!r}")
            return alpha, {}
        comms = np.unique(rankings.community)
        if comms.shape[0] < 3 or len(self.alphas) == 0:
            return FALLBACK_ALPHA, {}
        n_splits = min(self.cv, comms.shape[0])
        folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        n_codes = int(rankings.community.max()) + 1
        held = dict.fromkeys(self.alphas, 0.0)
        total = 0.0
        for train_c, _ in folds.split(comms, groups=comms):
            keep = np.zeros(n_codes, dtype=bool)
            keep[comms[train_c]] = True
            train, test = rankings.subset(keep), rankings.subset(~keep)
            total += float(test.weight.sum())
            base = None if offset is None else _prior_scale(offset, train, self.max_iter) * offset
            for a in self.alphas:
                delta = _fit_delta(Z, base, train, a, self.max_iter)
                index = Z @ delta if base is None else base + Z @ delta
                held[a] += log_likelihood(index, test)[0]
        scores = {a: v / total for a, v in held.items()}
        best = max(scores, key=lambda a: (scores[a], a))  # ties: the stronger penalty
        return float(best), scores

    # ---- prediction ------------------------------------------------------------------------------

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
        """Welfare index from indicators only (higher = better off; see the class notes for its scale)."""
        check_is_fitted(self)
        frame = as_frame(self._validated(X, reset=False))
        Z = np.asarray(self.design_.transform(frame), dtype=np.float64)
        index = Z @ self.coef_
        if self.prior_ is not None:
            prior = np.asarray(self.prior_.predict(X), dtype=np.float64)
            index += self.prior_scale_ * (prior - self.offset_mean_) / self.offset_sd_
        return index

    def _validated(self, X: Any, *, reset: bool) -> Any:
        """Checked input: a DataFrame keeps its dtypes (categorical levels), an array becomes float."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if len(X) == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
                )
            return X
        return validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan")

    def weights(self) -> pd.Series:
        """δ by design column, largest magnitude first (what the communities weigh beyond the prior)."""
        check_is_fitted(self)
        s = pd.Series(self.coef_, index=self.feature_names_out_, name="weight")
        return s.reindex(s.abs().sort_values(ascending=False).index)


def _prior_scale(offset: FloatArray, rankings: Rankings, max_iter: int) -> float:
    """Stage 1: the scale ``c`` of the prior's index that best explains the rankings on its own."""
    total = float(rankings.weight.sum()) or 1.0

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        ll, g_f = log_likelihood(theta[0] * offset, rankings)
        return -ll / total, np.array([-(offset @ g_f) / total])

    res = optimize.minimize(
        objective, np.array([1.0]), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    return float(res.x[0])


def _fit_delta(
    Z: FloatArray, base: FloatArray | None, rankings: Rankings, alpha: float, max_iter: int
) -> FloatArray:
    """Stage 2: minimise −loglik(base + Zδ) / total weight + alpha/2 · |δ|²."""
    total = float(rankings.weight.sum()) or 1.0
    offset = np.zeros(Z.shape[0]) if base is None else base

    def objective(delta: FloatArray) -> tuple[float, FloatArray]:
        ll, g_f = log_likelihood(offset + Z @ delta, rankings)
        value = -ll / total + 0.5 * alpha * float(delta @ delta)
        return value, -(Z.T @ g_f) / total + alpha * delta

    res = optimize.minimize(
        objective, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    return np.asarray(res.x, dtype=np.float64)


def _check_weight(sample_weight: npt.ArrayLike | None, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n},)")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w
