"""Tiny synthetic Kukar survey and registry, and one small fitted model per PMT backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from targeting.pmt import PMTRegressor
from targeting.survey.dataset import SurveyData

BACKENDS = ("ols", "lightgbm", "quantile", "ensemble")


@dataclass(frozen=True)
class Kukar:
    survey: SurveyData
    registry: SurveyData

    @property
    def y(self) -> np.ndarray:
        assert self.survey.welfare is not None
        return np.log(self.survey.welfare.to_numpy())


@pytest.fixture(scope="session")
def kukar() -> Kukar:
    from targeting.survey.load import frame_to_survey
    from targeting.survey.spec import load_spec
    from targeting.survey.synthetic import generate

    d = generate(n_survey=1200, n_registry=500, seed=11)
    survey = frame_to_survey(d.survey, load_spec("kukar_survey")).data
    registry = frame_to_survey(d.registry, load_spec("kukar_registry")).data
    return Kukar(survey, registry)


@pytest.fixture(scope="session")
def models(kukar: Kukar) -> dict[str, PMTRegressor]:
    """Small, quick models: no tuning, 40 rounds of depth-3 trees (the shape the product uses)."""
    out = {}
    for backend in BACKENDS:
        out[backend] = PMTRegressor(
            backend, tune=False, n_estimators=40, early_stopping_rounds=None, ensemble_folds=2
        ).fit(kukar.survey.features, kukar.y, kukar.survey.weight.to_numpy())
    return out
