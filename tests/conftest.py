"""Shared test fixtures: paths, and small valid households in the Indonesian contract."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def model_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway Ed25519 key for the session: models the tests save are signed (and trusted) with it.

    As on a machine set up with `targeting models keygen`. Tests of unsigned models remove it.
    """
    from targeting.pmt.signing import SIGNING_KEY_ENV, generate_signing_key

    path, _ = generate_signing_key(tmp_path_factory.mktemp("signing") / "tests.key")
    before = os.environ.get(SIGNING_KEY_ENV)
    os.environ[SIGNING_KEY_ENV] = str(path)
    yield path
    if before is None:
        os.environ.pop(SIGNING_KEY_ENV, None)
    else:
        os.environ[SIGNING_KEY_ENV] = before


def shared_data(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real survey data not available at {path} (only on the project's machines)")
    return path


def valid_household(i: int = 1, **overrides: object) -> dict[str, object]:
    """One household that passes every contract check (text cells, as a CSV would give them)."""
    row: dict[str, object] = {
        "household_id": f"H{i:04d}", "head_nik": f"6402{i:012d}", "family_card_no": f"6402{i + 7:012d}",
        "kecamatan": "tenggarong", "desa": "Desa Tenggarong 01", "urban": "1", "household_size": "4",
        "n_age_0_5": "1", "n_age_6_17": "1", "n_age_18_59": "2", "n_age_60_plus": "0", "n_disabled": "0",
        "n_children_without_carer": "0", "head_sex": "L", "head_age": "40", "head_education": "sma",
        "head_employment": "employee", "head_sector": "trade", "head_income_rp": "3000000",
        "has_shelter": "1", "floor_material": "tile_ceramic", "wall_material": "plastered_brick",
        "roof_material": "metal_sheet", "roof_condition": "good", "floor_area_m2": "54",
        "toilet": "private", "drinking_water": "bottled", "lighting": "pln_metered",
        "electricity_va": "900", "cooking_fuel": "lpg", "tenure": "owned", "has_refrigerator": "1",
        "has_motorcycle": "1", "has_car": "0", "has_tv": "1", "has_smartphone": "1", "has_gold": "0",
        "has_boat": "0", "land_area_m2": "0", "livestock_units": "0", "food_share": "0.45",
        "bought_clothes_last_year": "1", "meals_per_day": "3", "protein_days_per_week": "4",
        "food_insecure_12m": "0", "can_pay_clinic": "1", "children_education_max": "senior_secondary_plus",
        "savings_rp": "2000000",
    }
    row.update(overrides)
    return row


@pytest.fixture
def households() -> pd.DataFrame:
    """Five valid households as text cells."""
    return pd.DataFrame([valid_household(i) for i in range(1, 6)])
