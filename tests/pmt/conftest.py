"""A small synthetic survey with a known log-linear welfare model, for PMT tests.

log welfare = 13.2 + region + 0.25 urban − 0.35 log(size) + education + floor + 0.30 fridge
              + 0.15 motorcycle + 0.20 log1p(floor area) + village effect + noise,
with noise twice as dispersed for heads without schooling (so mean and low-quantile models rank
differently), some missing values, survey weights by urban/rural stratum and 60 villages (clusters).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.survey.dataset import SurveyData

REGIONS = ("tenggarong", "loa_janan", "samboja", "tabang", "kenohan")
REGION_EFFECT = np.array([0.15, 0.10, 0.05, -0.20, -0.15])
EDUCATION = ("none", "sd", "smp", "sma", "diploma_plus")
EDU_EFFECT = np.array([-0.30, -0.15, 0.0, 0.15, 0.40])
FLOORS = ("earth", "low_quality_wood", "cement_brick", "tile_ceramic")
FLOOR_EFFECT = np.array([-0.25, -0.10, 0.0, 0.15])


def make_survey(n: int = 2000, seed: int = 0, *, name: str = "toy", n_villages: int = 60) -> SurveyData:
    rng = np.random.default_rng(seed)
    village = rng.integers(0, n_villages, n)
    region = village % len(REGIONS)
    urban = (np.arange(n_villages) % 3 == 0)[village]
    status = rng.normal(size=n) + 0.5 * urban  # latent economic status drives the indicators
    size = np.clip(1 + rng.poisson(2.6 - 0.4 * status.clip(-2, 2)), 1, 12).astype(float)
    edu = np.clip(np.round(2 + status + rng.normal(scale=0.8, size=n)), 0, 4).astype(int)
    floor = np.clip(np.round(1.5 + 0.8 * status + rng.normal(scale=0.8, size=n)), 0, 3).astype(int)
    fridge = (rng.random(n) < 1 / (1 + np.exp(-(status + 0.3)))).astype(float)
    moto = (rng.random(n) < 1 / (1 + np.exp(-(status + 1.0)))).astype(float)
    area = np.exp(3.6 + 0.3 * status + rng.normal(scale=0.5, size=n))
    village_effect = rng.normal(scale=0.10, size=n_villages)[village]
    noise = rng.normal(scale=0.30, size=n) * np.where(edu == 0, 2.0, 1.0)
    log_welfare = (
        13.2
        + REGION_EFFECT[region]
        + 0.25 * urban
        - 0.35 * np.log(size)
        + EDU_EFFECT[edu]
        + FLOOR_EFFECT[floor]
        + 0.30 * fridge
        + 0.15 * moto
        + 0.20 * np.log1p(area)
        + village_effect
        + noise
    )
    # Missing values the PMT must cope with.
    floor_obs = pd.Categorical.from_codes(np.where(rng.random(n) < 0.05, -1, floor), categories=list(FLOORS))
    fridge_obs = np.where(rng.random(n) < 0.03, np.nan, fridge)
    area_obs = np.where(rng.random(n) < 0.05, np.nan, area)
    features = pd.DataFrame(
        {
            "kecamatan": pd.Categorical.from_codes(region, categories=list(REGIONS)),
            "urban": urban.astype(float),
            "household_size": size,
            "head_education": pd.Categorical.from_codes(edu, categories=list(EDUCATION)),
            "floor_material": floor_obs,
            "has_refrigerator": fridge_obs,
            "has_motorcycle": moto,
            "floor_area_m2": area_obs,
        }
    )
    weight = np.where(urban, 40.0, 120.0) * rng.uniform(0.8, 1.2, n)
    welfare = np.exp(log_welfare)
    pop = weight * size
    order = np.argsort(welfare)
    line = float(welfare[order][np.searchsorted(np.cumsum(pop[order]), 0.15 * pop.sum())])
    frame = features.copy()
    frame["desa"] = [f"desa_{v:03d}" for v in village]
    return SurveyData(
        name=name,
        frame=frame,
        features=features,
        feature_types={
            "kecamatan": "categorical",
            "urban": "binary",
            "household_size": "numeric",
            "head_education": "categorical",
            "floor_material": "categorical",
            "has_refrigerator": "binary",
            "has_motorcycle": "binary",
            "floor_area_m2": "numeric",
        },
        household_id=pd.Series([f"hh{seed}_{i:05d}" for i in range(n)], name="household_id"),
        weight=pd.Series(weight, name="weight"),
        household_size=pd.Series(size, name="household_size"),
        welfare=pd.Series(welfare, name="welfare"),
        region=pd.Series(np.array(REGIONS)[region], name="region", dtype="string"),
        cluster=pd.Series([f"desa_{v:03d}" for v in village], name="cluster", dtype="string"),
        poverty_line=pd.Series(np.full(n, line), name="poverty_line"),
        poor=pd.Series(welfare < line, name="poor"),
        groups=pd.DataFrame({"urban": urban, "no_schooling": edu == 0}),
    )


@pytest.fixture(scope="session")
def survey() -> SurveyData:
    return make_survey(2000, seed=0)


@pytest.fixture(scope="session")
def small_survey() -> SurveyData:
    return make_survey(600, seed=1, n_villages=30)


@pytest.fixture(scope="session")
def fast_params() -> dict[str, object]:
    """Boosting settings that keep tests quick (one thread avoids OpenMP contention in CI)."""
    return {"n_estimators": 150, "learning_rate": 0.1, "n_jobs": 1, "tune": False}
