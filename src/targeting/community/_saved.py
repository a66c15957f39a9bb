"""The PMT + community blend as a saved model part: ``community_blend.json`` beside the model.

At training time γ is the weighted least-squares slope of the PMT's out-of-fold residual on the
normal score of the consensus rank (as :class:`~targeting.community.CommunityBlend` fits it), taken
from the K-fold validation's own out-of-fold predictions; at scoring time a household with a rank
gets ``γ · Φ⁻¹(percentile)`` added to its predicted log welfare, as one more exact contribution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.community._blend import normal_score
from targeting.community._ranks import RankSpec, community_percentiles
from targeting.errors import ModelIntegrityError

BLEND_FILE = "community_blend.json"
SCHEMA_VERSION = 1
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SavedBlend:
    """γ and where the ranks are, as the model folder keeps them."""

    gamma: float
    ranks: RankSpec
    n_ranked: int

    def percentiles(self, frame: pd.DataFrame, weight: npt.ArrayLike) -> FloatArray:
        """Each household's consensus within-community percentile (NaN where not ranked)."""
        if not all(c in frame.columns for c in (*self.ranks.columns, *self.ranks.community)):
            return np.full(len(frame), np.nan)
        return community_percentiles(frame, self.ranks, sample_weight=weight)["consensus"].to_numpy(
            dtype=np.float64)

    def adjustment(self, percentile: FloatArray) -> FloatArray:
        """γ · Φ⁻¹(percentile), 0 where a household has no rank."""
        out = self.gamma * normal_score(np.where(np.isnan(percentile), 0.5, percentile))
        return np.where(np.isnan(percentile), 0.0, out)


def fit_blend_gamma(residual: FloatArray, percentile: FloatArray, weight: FloatArray) -> tuple[float, int]:
    """γ: the weighted slope through the origin of out-of-fold residuals on the rank's normal score."""
    ok = np.isfinite(residual) & np.isfinite(percentile)
    z = normal_score(percentile[ok])
    w = weight[ok]
    den = float(w @ (z * z))
    return (float(w @ (z * residual[ok]) / den) if den > 0 else 0.0), int(ok.sum())


def save_blend(gamma: float, ranks: RankSpec, n_ranked: int, model_dir: Path, **info: Any) -> Path:
    path = Path(model_dir) / BLEND_FILE
    path.write_text(json.dumps({
        "schema_version": SCHEMA_VERSION, "gamma": gamma, "n_ranked": n_ranked,
        "ranks": {"columns": list(ranks.columns), "community": list(ranks.community), "poorer": ranks.poorer},
        **info}, indent=1) + "\n", encoding="utf-8")
    from targeting.pmt.persistence import CARD_FILE, seal_model

    if (Path(model_dir) / CARD_FILE).exists():  # the blend moves ranks: signed like the model
        seal_model(model_dir)
    return path


def load_blend(model_dir: Path) -> SavedBlend | None:
    """The blend of a model folder, or None if it has none."""
    path = Path(model_dir) / BLEND_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {raw.get('schema_version')!r}")
        return SavedBlend(float(raw["gamma"]), RankSpec.from_mapping(raw["ranks"]), int(raw["n_ranked"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{path}: not a valid community blend ({exc})") from exc
