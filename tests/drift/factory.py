"""Tiny hand-made surveys for the drift tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from targeting.survey.dataset import SurveyData


def survey(name: str, *, floor: Sequence[str | None], rooms: Sequence[float], tv: Sequence[float],
           weight: Sequence[float] | None = None, size: Sequence[float] | None = None,
           welfare: Sequence[float] | None = None, repeat: int = 1) -> SurveyData:
    """A survey with one categorical (floor), one numeric (rooms) and one binary (tv) indicator.

    ``repeat`` copies every household that many times (to grow the sample without changing shares).
    """
    n = len(floor) * repeat
    features = pd.DataFrame({
        "floor": pd.Categorical(list(floor) * repeat, categories=["earth", "tile"]),
        "rooms": np.tile(np.asarray(rooms, dtype=np.float64), repeat),
        "tv": np.tile(np.asarray(tv, dtype=np.float64), repeat),
    })
    w = np.ones(n) if weight is None else np.tile(np.asarray(weight, dtype=np.float64), repeat)
    hs = np.ones(n) if size is None else np.tile(np.asarray(size, dtype=np.float64), repeat)
    return SurveyData(
        name=name, frame=features.copy(), features=features,
        feature_types={"floor": "categorical", "rooms": "numeric", "tv": "binary"},
        household_id=pd.Series([f"{name}-{i}" for i in range(n)], dtype="string"),
        weight=pd.Series(w), household_size=pd.Series(hs),
        welfare=None if welfare is None else pd.Series(np.tile(np.asarray(welfare, float), repeat)),
    )
