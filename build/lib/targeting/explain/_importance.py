"""Global views: how much each indicator moves predicted welfare, overall and per group (kecamatan).

The measure is the weighted mean absolute contribution, ``Σ w_i |c_ij| / Σ w_i`` in log points
(also the signed mean, which is ~0 overall for OLS by construction). Results are data (tables); the
report draws them. :class:`ImportanceAccumulator` builds them chunk by chunk, so a registry never
has to hold every household's contributions at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GlobalImportance:
    """Weighted mean |contribution| per indicator, overall and per group.

    Attributes
    ----------
    overall : one row per indicator, strongest first: ``indicator``, ``mean_abs_contribution``,
        ``mean_contribution``, ``share`` (of the sum of mean |contribution|), ``rank`` (1 = strongest).
    by_group : long table ``group``, ``indicator``, ``mean_abs_contribution``,
        ``mean_contribution``, ``rank`` (within the group), ``weight`` (the group's total weight);
        empty when no groups were given.
    """

    overall: pd.DataFrame
    by_group: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of records)."""
        return {
            "overall": self.overall.to_dict(orient="records"),
            "by_group": self.by_group.to_dict(orient="records"),
        }


class ImportanceAccumulator:
    """Running weighted sums of |contribution| (overall and per group), fed chunk by chunk."""

    def __init__(self, indicators: Sequence[str]) -> None:
        self.indicators = tuple(indicators)
        p = len(self.indicators)
        self._abs = np.zeros(p)
        self._signed = np.zeros(p)
        self._weight = 0.0
        self._groups: dict[str, int] = {}
        self._g_abs: list[FloatArray] = []
        self._g_signed: list[FloatArray] = []
        self._g_weight: list[float] = []

    def add(
        self,
        values: FloatArray,
        sample_weight: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
    ) -> None:
        """Add a chunk: ``values`` (n, p) contributions, weights (n,), group labels (n,)."""
        values = np.asarray(values, dtype=np.float64)
        n, p = values.shape
        if p != len(self.indicators):
            raise ValueError(f"values have {p} columns for {len(self.indicators)} indicators")
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},)")
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        absval = np.abs(values)
        # einsum / reduceat rather than BLAS: OpenBLAS threads make these small products slow.
        self._abs += np.einsum("i,ij->j", w, absval)
        self._signed += np.einsum("i,ij->j", w, values)
        self._weight += float(w.sum())
        if groups is None:
            return
        labels = np.asarray(groups, dtype=object).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"groups has {labels.shape[0]} labels for {n} households")
        if pd.isna(labels).any():
            raise ValueError("groups has missing labels")
        uniq, inverse = np.unique(labels.astype(str), return_inverse=True)
        order = np.argsort(inverse.reshape(-1), kind="stable")
        starts = np.searchsorted(inverse.reshape(-1)[order], np.arange(uniq.size))
        wo = w[order]
        g_abs = np.add.reduceat(absval[order] * wo[:, None], starts, axis=0)
        g_signed = np.add.reduceat(values[order] * wo[:, None], starts, axis=0)
        g_weight = np.add.reduceat(wo, starts)
        for k, label in enumerate(uniq.tolist()):
            idx = self._groups.get(label)
            if idx is None:
                self._groups[label] = len(self._g_abs)
                self._g_abs.append(g_abs[k].copy())
                self._g_signed.append(g_signed[k].copy())
                self._g_weight.append(float(g_weight[k]))
            else:
                self._g_abs[idx] += g_abs[k]
                self._g_signed[idx] += g_signed[k]
                self._g_weight[idx] += float(g_weight[k])

    def result(self) -> GlobalImportance:
        """The tables (means are ``nan`` where a group's weight is zero)."""
        overall = _table(self.indicators, self._abs, self._signed, self._weight)
        total = overall["mean_abs_contribution"].sum()
        overall.insert(3, "share", overall["mean_abs_contribution"] / total if total > 0 else np.nan)
        parts = []
        for label in sorted(self._groups):
            idx = self._groups[label]
            t = _table(self.indicators, self._g_abs[idx], self._g_signed[idx], self._g_weight[idx])
            t.insert(0, "group", label)
            t["weight"] = self._g_weight[idx]
            parts.append(t)
        columns = ["group", "indicator", "mean_abs_contribution", "mean_contribution", "rank", "weight"]
        by_group = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        return GlobalImportance(overall=overall, by_group=by_group)


def _table(
    indicators: tuple[str, ...], abs_sum: FloatArray, signed_sum: FloatArray, weight: float
) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = abs_sum / weight if weight > 0 else np.full(len(indicators), np.nan)
        mean = signed_sum / weight if weight > 0 else np.full(len(indicators), np.nan)
    # strongest first; ties keep the model's indicator order
    order = np.argsort(-np.nan_to_num(mean_abs, nan=-np.inf), kind="stable")
    return pd.DataFrame(
        {
            "indicator": np.asarray(indicators, dtype=object)[order],
            "mean_abs_contribution": mean_abs[order],
            "mean_contribution": mean[order],
            "rank": np.arange(1, len(indicators) + 1),
        }
    )


def global_importance(
    values: FloatArray,
    indicators: Sequence[str],
    *,
    sample_weight: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
) -> GlobalImportance:
    """Weighted mean |contribution| per indicator, overall and per group (e.g. kecamatan)."""
    acc = ImportanceAccumulator(indicators)
    acc.add(values, sample_weight, groups)
    return acc.result()
