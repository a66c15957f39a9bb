"""A second registry round for the synthetic district: shocks, recoveries and households that split.

DTSEN re-ranks the registry four times a year; between two rounds some households lose income and
their indicators worsen, some recover, and some split into two. This module turns round-1 tables into
round 2 with every parameter in ``kukar_calibration.yaml`` (``second_round``): households untouched
are identical in both rounds, the ground truth is kept for everyone (a split-off household keeps its
parent's per-capita expenditure), and a change table says what happened to whom, so a re-ranking can
be checked household by household.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from targeting.spreadsheet import write_csv
from targeting.survey.synthetic import CALIBRATION_FILE, SyntheticKukar

#: PLN connections from poorest to richest (the contract's allowed values).
VA_LADDER = (0, 450, 900, 1300, 2200, 3500, 5500)


class Shock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(ge=0, le=1)
    log_welfare: float = Field(le=0)
    electricity_down: float = Field(ge=0, le=1)
    sold_motorcycle: float = Field(ge=0, le=1)
    protein_days: int
    food_share: float
    food_insecure: float = Field(ge=0, le=1)


class Recovery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(ge=0, le=1)
    log_welfare: float = Field(ge=0)
    electricity_up: float = Field(ge=0, le=1)
    new_floor: float = Field(ge=0, le=1)
    bought_motorcycle: float = Field(ge=0, le=1)
    bought_smartphone: float = Field(ge=0, le=1)
    protein_days: int
    food_share: float


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(ge=0, le=1)
    head_age: tuple[int, int]


class SecondRound(BaseModel):
    """The ``second_round`` block of the calibration file."""

    model_config = ConfigDict(extra="forbid")
    shock: Shock
    recovery: Recovery
    split: Split


def load_second_round(path: Path | None = None) -> SecondRound:
    raw = yaml.safe_load(Path(path or CALIBRATION_FILE).read_text(encoding="utf-8"))
    return SecondRound.model_validate(raw["second_round"])


@dataclass(frozen=True)
class NextRound:
    """Round 2: the registry and its truth, and what changed (``household_id``, ``change``)."""

    registry: pd.DataFrame
    truth: pd.DataFrame
    changes: pd.DataFrame


def _step(va: pd.Series, rows: np.ndarray, up: bool) -> pd.Series:
    """One step along the PLN ladder for ``rows`` (missing stays missing)."""
    out = va.copy()
    values = out.to_numpy(dtype="float64", na_value=np.nan)
    pos = np.searchsorted(VA_LADDER, values[rows])
    ok = np.isfinite(values[rows])
    pos = np.clip(pos + (1 if up else -1), 0, len(VA_LADDER) - 1)
    values[rows[ok]] = np.asarray(VA_LADDER, dtype=float)[pos[ok]]
    return pd.Series(pd.array(np.where(np.isnan(values), pd.NA, values), dtype="Int64"), index=out.index)


def next_round(data: SyntheticKukar, *, seed: int = 2025, params: SecondRound | None = None) -> NextRound:
    """Round 2 of the registry (the survey, the training data, stays as it is)."""
    p = params or load_second_round()
    rng = np.random.default_rng(seed)
    reg = data.registry.reset_index(drop=True).copy()
    truth = data.truth.set_index("household_id").loc[reg["household_id"]].reset_index()
    n = len(reg)
    order = rng.permutation(n)
    n_shock, n_rec = int(round(p.shock.share * n)), int(round(p.recovery.share * n))
    shocked, recovered = np.sort(order[:n_shock]), np.sort(order[n_shock:n_shock + n_rec])
    log_w = np.log(truth["expenditure_pc"].to_numpy(dtype=float))
    log_w[shocked] += p.shock.log_welfare
    log_w[recovered] += p.recovery.log_welfare
    truth["expenditure_pc"] = np.exp(log_w).round(0)

    def draw(rows: np.ndarray, prob: float) -> np.ndarray:
        return rows[rng.random(rows.size) < prob]

    reg["electricity_va"] = _step(reg["electricity_va"], draw(shocked, p.shock.electricity_down), up=False)
    reg["electricity_va"] = _step(reg["electricity_va"], draw(recovered, p.recovery.electricity_up), up=True)
    for rows, column, value in (
        (draw(shocked, p.shock.sold_motorcycle), "has_motorcycle", False),
        (draw(shocked, p.shock.food_insecure), "food_insecure_12m", True),
        (draw(recovered, p.recovery.bought_motorcycle), "has_motorcycle", True),
        (draw(recovered, p.recovery.bought_smartphone), "has_smartphone", True),
    ):
        col = reg[column].astype("boolean").copy()
        col.iloc[rows] = value
        reg[column] = col
    floor = reg["floor_material"].astype(object).copy()
    floor.iloc[draw(recovered, p.recovery.new_floor)] = "tile_ceramic"
    reg["floor_material"] = pd.array(floor.to_numpy(), dtype="str")
    for rows, days, share in ((shocked, p.shock.protein_days, p.shock.food_share),
                              (recovered, p.recovery.protein_days, p.recovery.food_share)):
        protein = reg["protein_days_per_week"].astype("Int64").copy()
        protein.iloc[rows] = (protein.iloc[rows] + days).clip(0, 7)
        reg["protein_days_per_week"] = protein
        food = reg["food_share"].astype("float64").copy()
        food.iloc[rows] = (food.iloc[rows] + share).clip(0.05, 0.95).round(3)
        reg["food_share"] = food

    # Splits: two adults of a large household form their own.
    eligible = np.flatnonzero((reg["household_size"].to_numpy() >= 4) & (reg["n_age_18_59"].to_numpy() >= 3))
    k = min(eligible.size, int(round(p.split.share * eligible.size)))
    splitting = np.sort(rng.choice(eligible, size=k, replace=False)) if k else np.array([], dtype=np.int64)
    new = reg.iloc[splitting].copy()
    reg.loc[splitting, "household_size"] = reg.loc[splitting, "household_size"] - 2
    reg.loc[splitting, "n_age_18_59"] = reg.loc[splitting, "n_age_18_59"] - 2
    new["household_id"] = new["household_id"].astype(str) + "-B"
    new["household_size"] = 2
    for c in ("n_age_0_5", "n_age_6_17", "n_age_60_plus", "n_disabled"):
        new[c] = 0
    new["n_age_18_59"] = 2
    new["n_children_without_carer"] = pd.array([0] * len(new), dtype="Int64")
    lo, hi = p.split.head_age
    new["head_age"] = rng.integers(lo, hi + 1, len(new))
    for c in ("has_refrigerator", "has_motorcycle", "has_car", "has_tv", "has_gold"):
        new[c] = pd.array([False] * len(new), dtype="boolean")
    new["floor_area_m2"] = (new["floor_area_m2"].astype("float64") * 0.4).round(0).clip(lower=9)
    new["tenure"] = pd.array(["rented"] * len(new), dtype="str")  # a new couple rents
    taken = set(reg["head_nik"].dropna().astype(str)) | set(reg["family_card_no"].dropna().astype(str))
    new["head_nik"] = _fresh_ids(rng, new["head_nik"].astype(str), taken)
    new["family_card_no"] = _fresh_ids(rng, new["family_card_no"].astype(str), taken)
    new_truth = truth.iloc[splitting].copy()
    new_truth["household_id"] = new["household_id"].to_numpy()
    registry = pd.concat([reg, new], ignore_index=True)
    truth_out = pd.concat([truth, new_truth], ignore_index=True)
    ids = reg["household_id"].astype(str).to_numpy()
    changes = pd.DataFrame({
        "household_id": np.concatenate([ids[shocked], ids[recovered], ids[splitting],
                                        new["household_id"].astype(str).to_numpy()]),
        "change": np.repeat(["shock", "recovery", "split_from", "split_new"],
                            [shocked.size, recovered.size, splitting.size, len(new)]),
    })
    return NextRound(registry, truth_out, changes)


def _fresh_ids(rng: np.random.Generator, like: pd.Series, taken: set[str]) -> list[str]:
    """New 16-digit numbers with the same region prefix as ``like``, none already used."""
    out = []
    for value in like:
        while True:
            candidate = value[:6] + f"{int(rng.integers(0, 10**10)):010d}"
            if candidate not in taken:
                taken.add(candidate)
                out.append(candidate)
                break
    return out


def write_round(round2: NextRound, out_dir: Path, *, round_no: int = 2) -> dict[str, Path]:
    """``registry_round<k>.parquet``, ``truth_round<k>.parquet`` and ``changes_round<k>.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"registry": out_dir / f"registry_round{round_no}.parquet",
             "truth": out_dir / f"truth_round{round_no}.parquet",
             "changes": out_dir / f"changes_round{round_no}.csv"}
    round2.registry.to_parquet(paths["registry"], index=False)
    round2.truth.to_parquet(paths["truth"], index=False)
    write_csv(round2.changes, paths["changes"])
    return paths
