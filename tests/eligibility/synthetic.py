"""Random registries with every field the shipped rule sets read (codes drawn from the contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.eligibility._contract import contract_fields

CATEGORY_FIELDS = [
    "kecamatan", "head_employment", "head_sector", "head_education", "floor_material",
    "wall_material", "roof_material", "roof_condition", "toilet", "drinking_water", "lighting",
    "cooking_fuel", "children_education_max",
]  # fmt: skip
BOOL_FIELDS = ["has_shelter", "food_insecure_12m", "bought_clothes_last_year", "can_pay_clinic"]


def random_registry(n: int, *, seed: int = 0, missing_rate: float = 0.02) -> pd.DataFrame:
    """``n`` households with uniformly drawn codes and plausible numbers; a few cells missing."""
    rng = np.random.default_rng(seed)
    fields = contract_fields()
    data: dict[str, object] = {"household_id": [f"H{i:07d}" for i in range(n)]}
    for name in CATEGORY_FIELDS:
        codes = sorted(fields[name].codes or ())
        data[name] = pd.Categorical(rng.choice(codes, n), categories=codes)
    for name in BOOL_FIELDS:
        data[name] = rng.random(n) < (0.98 if name == "has_shelter" else 0.4)
    size = rng.integers(1, 9, n)
    data["household_size"] = size
    data["floor_area_m2"] = np.round(rng.uniform(10, 120, n), 1)
    data["electricity_va"] = rng.choice([0, 450, 900, 1300, 2200], n)
    data["food_share"] = np.round(rng.uniform(0.2, 0.9, n), 3)
    data["meals_per_day"] = rng.integers(1, 4, n)
    data["protein_days_per_week"] = rng.integers(0, 8, n)
    data["land_area_m2"] = np.round(rng.exponential(4000, n))
    data["head_income_rp"] = np.round(rng.lognormal(14.3, 0.7, n), -3)
    data["savings_rp"] = np.round(rng.lognormal(13.5, 1.2, n), -3)
    data["weight"] = rng.uniform(50, 150, n)
    frame = pd.DataFrame(data)
    nullable = [c for c in frame.columns if c not in ("household_id", "kecamatan", "household_size",
                                                     "has_shelter", "weight")]
    for name in nullable:
        hole = rng.random(n) < missing_rate
        if hole.any():
            col = frame[name]
            if col.dtype == bool:
                col = col.astype("boolean")
            elif pd.api.types.is_integer_dtype(col.dtype):
                col = col.astype("Int64")
            frame[name] = col.mask(hole)
    return frame
