"""PMT + community blend: the model's prediction, corrected by the village's rank where one exists."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.special import ndtri
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from targeting.community._ranks import community_codes

FloatArray = npt.NDArray[np.float64]
#: Percentiles are clipped to [EPS, 1 − EPS] before the normal quantile (a one-household community
#: has percentile 1/2; the clip only guards exact 0 or 1 from hand-made input).
EPS = 1e-6
SOURCE_MODEL = "model"
SOURCE_BLEND = "model+community"


class CommunityBlend(BaseEstimator):
    """Predicted log welfare = PMT(x) + γ · Φ⁻¹(community percentile), the rank term only where ranked.

    ``Φ⁻¹`` of the within-community percentile (0 = poorest) is the household's normal score inside
    its community: mean zero in every community, so the rank reorders households *within* a village
    and leaves the PMT's level for the village as a whole. Households without a rank keep the PMT's
    prediction unchanged.

    **How γ is chosen (out of sample only).** ``γ`` is the weighted least-squares slope of the PMT's
    *out-of-fold* residual, log welfare − PMT(x), on the normal score, over the training households
    that have both a rank and measured welfare. The out-of-fold predictions come from ``cv`` folds of
    whole communities, so no household's residual is measured against a PMT that saw its own
    community. ``γ`` > 0 means the rank carries welfare information the indicators miss; ``γ`` ≈ 0
    that it adds nothing beyond the PMT (then the blend is the PMT).

    Attributes
    ----------
    pmt_ : the PMT refitted on every training row with measured welfare.
    gamma_ : γ, in log-welfare points per standard normal score.
    n_ranked_ : training households that determined γ.
    """

    def __init__(self, pmt: Any = None, *, cv: int = 5, random_state: int | None = 0) -> None:
        self.pmt = pmt
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    def _template(self) -> Any:
        if self.pmt is not None:
            return self.pmt
        from targeting.pmt import PMTRegressor

        return PMTRegressor("ols")

    def fit(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        rank: npt.ArrayLike | None = None,
        community: npt.ArrayLike | pd.DataFrame | None = None,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit the PMT on log welfare ``y`` and γ on the ranked rows (``rank``: percentile, NaN = none).

        ``community`` (whole communities stay in one fold) is needed when any row is ranked.
        """
        if sparse.issparse(X):
            raise TypeError(f"{type(self).__name__} does not support sparse input: pass a dense array")
        if _is_complex(X) or _is_complex(y):
            raise ValueError("Complex data not supported")
        y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
        n = y_arr.shape[0]
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        r = np.full(n, np.nan) if rank is None else np.asarray(rank, dtype=np.float64).reshape(-1)
        if r.shape[0] != n or w.shape[0] != n:
            raise ValueError(f"rank, sample_weight and y must have {n} entries")
        # One BLAS thread: several small PMT fits; threaded BLAS only contends on a shared machine.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y_arr, r, w, community, n)

    def _fit(
        self,
        X: Any,
        y_arr: FloatArray,
        r: FloatArray,
        w: FloatArray,
        community: npt.ArrayLike | pd.DataFrame | None,
        n: int,
    ) -> Self:
        known = np.isfinite(y_arr)
        self.pmt_ = clone(self._template()).fit(_rows(X, known), y_arr[known], sample_weight=w[known])
        ranked = known & ~np.isnan(r)
        self.gamma_ = 0.0
        self.n_ranked_ = int(ranked.sum())
        if hasattr(self.pmt_, "n_features_in_"):
            self.n_features_in_ = self.pmt_.n_features_in_
        if self.n_ranked_ == 0:
            return self
        if community is None:
            raise ValueError("community is needed to cross-fit the PMT for ranked households")
        codes = community_codes(community)
        oof = self._out_of_fold(X, y_arr, w, known, ranked, codes)
        q = normal_score(r[ranked])
        den = float(np.sum(w[ranked] * q * q))
        self.gamma_ = float(np.sum(w[ranked] * q * (y_arr[ranked] - oof))) / den if den > 0 else 0.0
        return self

    def _out_of_fold(
        self,
        X: Any,
        y: FloatArray,
        w: FloatArray,
        known: npt.NDArray[np.bool_],
        ranked: npt.NDArray[np.bool_],
        codes: npt.NDArray[np.int64],
    ) -> FloatArray:
        """PMT predictions for the ranked rows from PMTs that never saw their community."""
        comms = np.unique(codes[known])
        if comms.shape[0] < 2:
            raise ValueError("at least two communities with measured welfare are needed to cross-fit")
        n_splits = min(self.cv, comms.shape[0])
        folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        out = np.full(y.shape[0], np.nan)
        for _, test_c in folds.split(comms, groups=comms):
            held = np.isin(codes, comms[test_c])
            target = held & ranked
            if not target.any():
                continue  # a fold without ranked households needs no PMT
            train = known & ~held
            model = clone(self._template()).fit(_rows(X, train), y[train], sample_weight=w[train])
            out[target] = model.predict(_rows(X, target))
        return out[ranked]

    def predict(self, X: pd.DataFrame | npt.ArrayLike, *, rank: npt.ArrayLike | None = None) -> FloatArray:
        """Predicted log welfare; households with a ``rank`` (percentile, 0 = poorest) get the rank term."""
        check_is_fitted(self)
        base = np.asarray(self.pmt_.predict(X), dtype=np.float64)
        if rank is None:
            return base
        r = np.asarray(rank, dtype=np.float64).reshape(-1)
        if r.shape[0] != base.shape[0]:
            raise ValueError(f"rank has {r.shape[0]} entries, X has {base.shape[0]}")
        has = ~np.isnan(r)
        out = base.copy()
        out[has] += self.gamma_ * normal_score(r[has])
        return out

    def sources(self, rank: npt.ArrayLike | None, n: int | None = None) -> npt.NDArray[np.object_]:
        """Which method decided each household: ``model`` or ``model+community`` (the rank was used)."""
        check_is_fitted(self)
        if rank is None:
            if n is None:
                raise ValueError("give n when no rank is passed")
            return np.full(n, SOURCE_MODEL, dtype=object)
        has = ~np.isnan(np.asarray(rank, dtype=np.float64).reshape(-1))
        return np.where(has & (self.gamma_ != 0.0), SOURCE_BLEND, SOURCE_MODEL).astype(object)


def normal_score(percentile: npt.ArrayLike) -> FloatArray:
    """Φ⁻¹ of a within-community percentile (0 = poorest): the rank as a standard normal score."""
    p = np.asarray(percentile, dtype=np.float64)
    return np.asarray(ndtri(np.clip(p, EPS, 1.0 - EPS)), dtype=np.float64)


def _is_complex(a: Any) -> bool:
    return not isinstance(a, pd.DataFrame) and np.asarray(a).dtype.kind == "c"


def _rows(X: Any, mask: npt.NDArray[np.bool_]) -> Any:
    idx = np.flatnonzero(mask)
    return X.iloc[idx] if isinstance(X, pd.DataFrame) else np.asarray(X)[idx]
