"""Ensemble weights learned from out-of-fold predictions (stacking with non-negative weights)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls

FloatArray = npt.NDArray[np.float64]


def stack_weights(P: FloatArray, y: FloatArray, w: FloatArray) -> tuple[FloatArray, float]:
    """Non-negative weights and a free intercept minimising weighted squared error.

    Solves ``min Σ w_i (y_i − c − Σ_k β_k P_ik)²`` subject to ``β ≥ 0`` (Lawson–Hanson NNLS on the
    weight-centred problem; the intercept ``c`` is unconstrained), where ``P`` holds out-of-fold log
    welfare predictions of the members (rows x members). Weights need not sum to one: the intercept
    absorbs level differences such as the downward shift of a low-quantile member. If every weight
    comes out zero (no member beats the mean), the member with the lowest error gets weight one.
    """
    wn = w / w.sum()
    y_mean = float(wn @ y)
    p_mean = wn @ P
    sq = np.sqrt(wn)[:, None]
    beta, _ = nnls((P - p_mean) * sq, (y - y_mean) * sq[:, 0])
    if not np.any(beta > 0):
        mse = wn @ (P - y[:, None]) ** 2
        beta = np.zeros(P.shape[1])
        beta[int(np.argmin(mse))] = 1.0
    return beta, float(y_mean - p_mean @ beta)
