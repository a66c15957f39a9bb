"""Scoring with the real model: the numbers the API returns are the library's numbers, reproducibly."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.intake import sha256_json, validate_households
from targeting.eligibility import evaluate, load_ruleset
from targeting.pmt.persistence import load_model
from targeting.pmt.programs import load_programs
from targeting.pmt.reference import load_reference
from tests.api.conftest import Service, registry_households, valid_household

POOR = valid_household(
    2, kecamatan="tabang", urban="0", household_size="7", n_age_0_5="2", n_age_6_17="3", n_age_18_59="2",
    head_education="none", head_employment="casual_labourer", head_sector="farming", floor_material="earth",
    wall_material="bamboo", roof_material="thatch", floor_area_m2="20", toilet="none",
    drinking_water="river", lighting="non_electric", electricity_va="0", cooking_fuel="firewood",
    has_refrigerator="0", has_motorcycle="0", has_tv="0", has_smartphone="0", food_share="0.75",
    bought_clothes_last_year="0", meals_per_day="2", protein_days_per_week="0", food_insecure_12m="1",
    can_pay_clinic="0", savings_rp="0",
)
RICH = valid_household(1, household_size="2", n_age_0_5="0", n_age_6_17="0", head_education="diploma_plus",
                       has_car="1", floor_material="marble_granite", electricity_va="2200", food_share="0.3")


def test_numbers_are_the_librarys(service: Service, model_dir: Path) -> None:
    r = service.score([RICH, POOR], lang="en")
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    data = validate_households([RICH, POOR]).data
    model, _ = load_model(model_dir)
    expected = model.predict(data.features[list(model.schema_.names)])
    got = np.array([d["predicted_log_welfare"] for d in decisions])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose([d["predicted_welfare_pc"] for d in decisions], np.exp(expected), rtol=1e-12)
    reference = load_reference(model_dir)
    position, desil = reference.national.rank(expected)
    assert [d["national"]["desil"] for d in decisions] == desil.tolist()
    np.testing.assert_allclose([d["national"]["percentile"] for d in decisions], position)
    assert decisions[0]["national"]["desil"] > decisions[1]["national"]["desil"]
    assert [d["regional"]["region"] for d in decisions] == ["tenggarong", "tabang"]
    programs = load_programs().programs
    for d in decisions:
        for key, program in programs.items():
            assert d["programs"][key] == (program.desil_min <= d["national"]["desil"] <= program.desil_max)
    trace = evaluate(data.frame, load_ruleset("kepmensos_262_2022"), as_of=date.fromisoformat(
        r.json()["versions"]["as_of"]))
    assert [d["rules"]["verdict"] for d in decisions] == trace["verdict"].astype(str).tolist()
    assert [d["rules"]["n_met"] for d in decisions] == trace["n_met"].tolist()
    assert decisions[1]["rules"]["criteria"]["e"] is True  # earth floor
    assert decisions[0]["rules"]["criteria"]["e"] is False


def test_poor_household_is_in_the_bottom_deciles_and_eligible(service: Service) -> None:
    (poor,) = service.score([POOR]).json()["decisions"]
    assert poor["national"]["desil"] <= 2
    assert poor["programs"] == {"pkh": True, "sembako": True, "pbi_jk": True}
    assert poor["rules"]["verdict"] == "eligible"


def test_a_decision_can_be_recomputed_from_the_store(service: Service, model_scorer: Any) -> None:
    from api.store import DecisionRow

    (decision,) = service.score([POOR], lang="id", top_k=3).json()["decisions"]
    with service.app.state.sessions() as session:
        row = session.get(DecisionRow, decision["decision_id"])
    assert row is not None
    assert sha256_json(row.inputs) == row.input_sha256 == decision["input_sha256"]
    # Years later: the stored input, the same model folder and rule set give the same outputs.
    again = validate_households([{"household_id": "anything", **row.inputs}])
    assert not again.problems
    recomputed = model_scorer.score(again.data, lang="id", top_k=3,
                                    as_of=date.fromisoformat(decision["created_at"][:10]))
    assert recomputed == [row.outputs]


def test_scoring_is_deterministic(service: Service) -> None:
    a = service.score([POOR, RICH]).json()["decisions"]
    b = service.score([POOR, RICH]).json()["decisions"]
    keep = ("input_sha256", "predicted_log_welfare", "national", "regional", "programs", "rules", "reasons")
    assert [{k: d[k] for k in keep} for d in a] == [{k: d[k] for k in keep} for d in b]


def test_models_route_shows_the_card(service: Service, model_scorer: Any) -> None:
    r = service.client.get("/v1/models", headers=service.headers("analyst"))
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == model_scorer.info.model_version
    assert body["model_version"].startswith("test+") and len(body["model_version"]) == len("test+") + 16
    assert body["card"]["backend"] == "ols"
    assert [f["name"] for f in body["card"]["features"]][:2] == ["kecamatan", "urban"]
    assert body["card"]["reference"]["sha256"] == model_scorer.reference.sha256
    assert body["ruleset_id"] == "kepmensos_262_2022" and len(body["ruleset_version"]) == 16


def test_a_thousand_registry_households(service: Service) -> None:
    households = registry_households(1000, seed=11)
    r = service.score(households)
    assert r.status_code == 200, r.text[:500]
    decisions = r.json()["decisions"]
    assert len(decisions) == 1000 and r.json()["rejected"] == []
    desil = np.array([d["national"]["desil"] for d in decisions])
    # Registry and survey come from one population: each desil holds roughly a tenth.
    shares = np.bincount(desil, minlength=11)[1:] / 1000
    assert np.all(shares > 0.04) and np.all(shares < 0.17), shares


def test_reasons_follow_the_request_language(service: Service) -> None:
    (d_id,) = service.score([POOR], lang="id", top_k=4).json()["decisions"]
    (d_en,) = service.score([POOR], lang="en", top_k=4).json()["decisions"]
    assert (d_id["lang"], d_en["lang"]) == ("id", "en")
    assert len(d_id["reasons"]) == len(d_en["reasons"]) == 4
    assert [r["code"] for r in d_id["reasons"]] == [r["code"] for r in d_en["reasons"]]
    assert all("menurunkan perkiraan kesejahteraan" in r["text"] for r in d_id["reasons"])
    assert all("lowers the welfare estimate" in r["text"] for r in d_en["reasons"])


def test_reasons_are_the_catalogues_and_exact(service: Service, model_scorer: Any) -> None:
    from targeting.explain import Explainer

    r = service.score([POOR, RICH], top_k=3, lang="en")
    poor, rich = r.json()["decisions"]
    data = validate_households([POOR, RICH]).data
    X = data.features[model_scorer.features]
    expected = Explainer(model_scorer.model, top_k=3).explain(X, selected=[True, False])
    for got, exp in zip((poor, rich), expected, strict=True):
        assert [x["code"] for x in got["reasons"]] == [x.code for x in exp.reasons]
        assert [x["text"] for x in got["reasons"]] == [x.text_en for x in exp.reasons]
        assert [x["value"] for x in got["reasons"]] == [x.value for x in exp.reasons]
        np.testing.assert_allclose([x["contribution"] for x in got["reasons"]],
                                   [x.contribution for x in exp.reasons], atol=1e-12)
        assert got["predicted_log_welfare"] == pytest.approx(exp.prediction, abs=1e-12)
    assert {x["direction"] for x in poor["reasons"]} == {"down"} and poor["programs"]["pkh"]
    assert {x["direction"] for x in rich["reasons"]} == {"up"} and not any(rich["programs"].values())
    assert all(x["contribution"] < 0 for x in poor["reasons"])
    assert poor["components"]["reasons"].startswith("kukar_reasons@")
    assert poor["components"]["explain_method"] == "linear"


def test_no_reasons_when_none_are_asked(service: Service) -> None:
    (d,) = service.score([POOR], top_k=0).json()["decisions"]
    assert d["reasons"] == []


def test_a_boosted_model_scores_and_explains_exactly(tmp_path: Path) -> None:
    from api.scoring import ModelScorer
    from targeting.explain import Explainer
    from tests.api.conftest import train_model_folder

    folder = train_model_folder(tmp_path / "lgbm", n_survey=1000, backend="lightgbm", tune=False,
                                n_estimators=40, early_stopping_rounds=None)
    scorer = ModelScorer(folder, model_name="kukar-pmt", label="test", source="tests")
    data = validate_households([POOR, RICH]).data
    out = scorer.score(data, lang="id", top_k=2, as_of=date(2026, 1, 15))
    model, _ = load_model(folder)
    X = data.features[scorer.features]
    np.testing.assert_allclose([o["predicted_log_welfare"] for o in out], model.predict(X), atol=1e-9)
    selected = [any(o["programs"].values()) for o in out]
    expected = Explainer(model, top_k=2).explain(X, selected=selected)
    assert [[r["text"] for r in o["reasons"]] for o in out] == [
        [r.text_id for r in e.reasons] for e in expected]
    assert out[0]["components"]["explain_method"] == "tables"


def test_a_missing_answer_leaves_its_criterion_unknown(service: Service) -> None:
    (d,) = service.score([{**POOR, "floor_material": None}]).json()["decisions"]
    assert d["rules"]["criteria"]["e"] is None
    assert d["rules"]["n_unknown"] == 1
    assert d["rules"]["verdict"] == "eligible"  # 6 other criteria are met: the unknown cannot change it


@pytest.mark.parametrize("shipped", [False, True], ids=["ols", "default ensemble"])
def test_one_household_at_a_time_is_decided_as_in_a_batch(shipped: bool, model_scorer: Any) -> None:
    """A one-household request takes the few-rows paths (tree tables read at once, categorical codes);
    a batch of 90 the bulk ones. Every output field is the same, floats to the last bit.

    The shipped default is an OLS + LightGBM ensemble compiled into tree tables; the library
    scorer explains with one thread unless told otherwise.
    """
    from api.scoring import ModelScorer
    from targeting.shipped import default_model_dir

    scorer = (ModelScorer(default_model_dir(), model_name="pmt", label="default", source="shipped")
              if shipped else model_scorer)
    households = registry_households(90, seed=11)
    today = date.today()
    batch = validate_households(households)
    assert len(batch.data) == 90
    together = scorer.score(batch.data, lang="id", top_k=4, as_of=today)
    singles = [validate_households([h]) for h in households]
    alone = [scorer.score(one.data, lang="id", top_k=4, as_of=today)[0] for one in singles]
    assert alone == together
    assert [one.inputs[0] for one in singles] == batch.inputs  # what the store keeps of each
