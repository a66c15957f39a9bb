"""Budget and poverty-impact scenarios on hand-worked households (answers computed by hand below)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from targeting.errors import InputFileError, SpecError
from targeting.simulate import (
    BenefitConfig,
    households_from,
    load_benefits,
    method_order,
    simulate,
)

DAY = date(2024, 6, 30)


def four() -> pd.DataFrame:
    """Line 100 per capita per month; A and B are poor (welfare 50, 90), C and D are not."""
    return pd.DataFrame({
        "household_id": ["A", "B", "C", "D"],
        "weight": [1.0, 1.0, 1.0, 1.0],
        "household_size": [1, 1, 1, 1],
        "predicted_welfare": [40.0, 60.0, 55.0, 200.0],
        "desil": [1, 2, 1, 9],
        "rule_verdict": ["eligible", "not_eligible", "eligible", "not_eligible"],
        "rule_n_met": [5, 2, 4, 0],
        "kecamatan": ["x", "y", "y", "y"],
        "welfare_true": [50.0, 90.0, 150.0, 300.0],
        "poverty_line": [100.0] * 4,
    })  # fmt: skip


def flat(per_month: float) -> BenefitConfig:
    return BenefitConfig.model_validate(
        {
            "programs": {
                "prog": {
                    "id": "Program uji",
                    "en": "Test programme",
                    "unit": "household",
                    "counts_as_income": True,
                    "per_month": {"values": {"2020-01-01": per_month}, "evidence": "weak", "source": "test"},
                }
            }
        }
    )


def row(table: pd.DataFrame, method: str, basis: str) -> pd.Series:
    hit = table[(table["method"] == method) & (table["basis"] == basis)]
    assert len(hit) == 1, (method, basis)
    return hit.iloc[0]


def test_cutoff_rows_by_hand() -> None:
    sim = simulate(four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), day=DAY)
    model = row(sim.table, "model", "cutoff")
    # Model: desil 1 = A and C; 2 x 20 x 12 = 480 a year, half of it to C (not poor).
    assert (model.households, model.persons, model.cost) == (2, 2, 480)
    assert (model.leakage_cost, model.leakage_share) == (240, 0.5)
    # Before: A and B poor (2 of 4); gaps 0.5 and 0.1 -> 0.15. After: A at 70, still poor (gap 0.3).
    assert model.headcount_before == 0.5 and model.headcount_after == 0.5
    assert model.gap_before == pytest.approx(0.15) and model.gap_after == pytest.approx(0.10)
    assert model.persons_lifted == 0 and np.isnan(model.cost_per_person_lifted)
    rules = row(sim.table, "rules", "cutoff")  # eligible: A and C
    assert (rules.households, rules.cost) == (2, 480)


def test_equal_budget_rows_by_hand() -> None:
    sim = simulate(
        four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), budget=720, day=DAY
    )
    # Model order A(40), C(55), B(60): all three fit in 720; B reaches 110 and leaves poverty.
    model = row(sim.table, "model", "budget")
    assert (model.households, model.cost, model.budget_unspent) == (3, 720, 0)
    assert model.headcount_after == 0.25 and model.persons_lifted == 1
    assert model.cost_per_person_lifted == 720
    # Rules may take only A and C: 480 spent, 240 left, nobody lifted.
    rules = row(sim.table, "rules", "budget")
    assert (rules.cost, rules.budget_unspent, rules.headcount_after) == (480, 240, 0.5)
    # Perfect (measured welfare): A, B, C in that order; the same three as the model here.
    perfect = row(sim.table, "perfect", "budget")
    assert (perfect.cost, perfect.headcount_after) == (720, 0.25)


def test_perfect_beats_model_when_budget_binds() -> None:
    sim = simulate(
        four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), budget=480, day=DAY
    )
    assert row(sim.table, "model", "budget").headcount_after == 0.5  # A, C
    perfect = row(sim.table, "perfect", "budget")  # A, B: B lifted, nothing leaks
    assert (perfect.headcount_after, perfect.leakage_cost) == (0.25, 0)


def test_quota_order_gives_each_kecamatan_the_same_share() -> None:
    frame = pd.DataFrame({
        "weight": 1.0, "household_size": 1, "desil": 1,
        "predicted_welfare": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "kecamatan": ["x", "x", "y", "y", "y", "y"],
    })  # fmt: skip
    h = households_from(frame)
    # Shares taken before each: x 0, 1/2; y 0, 1/4, 1/2, 3/4 -> x1, y3, y4, x2, y5, y6.
    assert method_order(h, "quota_kecamatan").tolist() == [0, 2, 3, 1, 4, 5]
    assert method_order(h, "model").tolist() == [0, 1, 2, 3, 4, 5]
    assert method_order(h, "rules") is None and method_order(h, "perfect") is None


def test_cost_curve_ends_at_everyone_and_never_raises_poverty() -> None:
    sim = simulate(four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), day=DAY)
    curve = sim.curves["prog", "model"]
    assert curve["cost"].iloc[0] == 0 and curve["cost"].iloc[-1] == 4 * 240
    assert (np.diff(curve["headcount_after"]) <= 0).all() and curve["headcount_after"].iloc[-1] == 0.25


def test_pkh_components_are_capped_largest_first() -> None:
    pkh = load_benefits().program("pkh")
    frame = pd.DataFrame(
        {
            "household_size": [7, 2],
            "n_age_0_5": [2, 0],
            "n_age_6_17": [3, 0],
            "n_age_60_plus": [1, 1],
            "n_disabled": [0, 0],
        }
    )
    amounts, basis = pkh.annual_amounts(frame, DAY)
    # Cap 4: two young children (3,000,000 each), the elderly member (2,400,000), one school child.
    assert basis == "components"
    assert amounts.tolist() == [2 * 3_000_000 + 2_400_000 + 1_263_636, 2_400_000]
    # Without the members' counts: the flat average, said so.
    flat_amounts, basis = pkh.annual_amounts(frame[["household_size"]], DAY)
    assert basis == "flat_average" and flat_amounts.tolist() == [2_870_000, 2_870_000]


def test_amounts_are_dated_and_weak_evidence_is_marked() -> None:
    config = load_benefits()
    sembako = config.program("sembako")
    assert sembako.per_month is not None and sembako.per_month.on(DAY) == 200_000 and sembako.weak
    with pytest.raises(SpecError, match="no benefit amount in effect on 2019-06-30"):
        sembako.per_month.on(date(2019, 6, 30))
    assert config.reference_poverty["kutai_kartanegara_2024"].rate == 0.0728
    with pytest.raises(SpecError, match="unknown programme 'bansos_x'"):
        config.program("bansos_x")


def test_health_premium_costs_but_adds_no_income() -> None:
    frame = four().assign(household_size=[2, 1, 1, 1])
    sim = simulate(frame, programs=["pbi_jk"], cutoffs={"pbi_jk": (1, 1)}, day=DAY)
    model = row(sim.table, "model", "cutoff")
    assert model.cost == 12 * 42_000 * (2 + 1)  # per person: A has two members, C one
    assert model.headcount_after == model.headcount_before


def test_bad_input_is_one_line() -> None:
    with pytest.raises(InputFileError, match="unknown method"):
        simulate(four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), methods=["lottery"])
    with pytest.raises(InputFileError, match="budget must be a positive"):
        simulate(four(), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), budget=0)
    with pytest.raises(InputFileError, match="missing column"):
        simulate(four().drop(columns="desil"), programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20))


def test_without_welfare_only_reach_and_cost() -> None:
    frame = four().drop(columns=["welfare_true", "poverty_line"])
    sim = simulate(frame, programs=["prog"], cutoffs={"prog": (1, 1)}, benefits=flat(20), day=DAY)
    model = row(sim.table, "model", "cutoff")
    assert model.cost == 480 and np.isnan(model.headcount_after) and np.isnan(model.leakage_cost)
    assert "perfect" not in set(sim.table["method"]) and not sim.settings["has_welfare"]
