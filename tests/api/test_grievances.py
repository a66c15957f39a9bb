"""Grievances (sanggahan): corrections re-scored by the one scorer, chained, append-only, restart-proof."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import Service, registry_households, start_service

REPORTED = {"reported_by": "Petugas Dinsos Kecamatan Loa Kulu", "reported_on": "2026-11-20",
            "channel": "dinsos", "evidence": "BA-verifikasi/2026/117"}


def _grievance(service: Service, household_id: str, corrections: dict[str, Any], *, role: str = "officer",
               headers: dict[str, str] | None = None, **body: Any) -> Any:
    return service.client.post(
        "/v1/grievances", json={"household_id": household_id, "corrections": corrections, **REPORTED, **body},
        headers={**service.headers(role), **(headers or {})})


def _history(service: Service, household_id: str) -> dict[str, Any]:
    r = service.client.get(f"/v1/households/{household_id}/decisions", headers=service.headers("inspector"))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def scored(service: Service) -> tuple[Service, dict[str, Any], dict[str, Any]]:
    household = registry_households(1, seed=5)[0]
    r = service.score([household])
    assert r.status_code == 200, r.text
    return service, household, r.json()["decisions"][0]


def test_a_correction_is_rescored_as_the_corrected_household_would_be(scored) -> None:
    service, household, first = scored
    corrections = {"floor_material": "earth", "has_smartphone": False, "floor_area_m2": 12}
    r = _grievance(service, household["household_id"], corrections)
    assert r.status_code == 201, r.text
    out = r.json()
    g, new = out["grievance"], out["decision"]
    # The corrected household scored from scratch gives the same decision (one scoring path).
    direct = service.score([{**household, **corrections}]).json()["decisions"][0]
    assert new["predicted_log_welfare"] == pytest.approx(direct["predicted_log_welfare"], abs=1e-12)
    assert new["national"] == direct["national"] and new["programs"] == direct["programs"]
    assert new["input_sha256"] == direct["input_sha256"]
    assert new["revisits"] == first["decision_id"] == g["revisits_decision_id"]
    assert g["decision_id"] == new["decision_id"]
    # Exactly the corrected fields, before and after, as stored (codes, numbers, booleans).
    assert household["floor_material"] != "earth" and household["has_smartphone"] is True
    assert g["changes"] == [
        {"field": "floor_area_m2", "before": float(household["floor_area_m2"]), "after": 12.0},
        {"field": "floor_material", "before": household["floor_material"], "after": "earth"},
        {"field": "has_smartphone", "before": True, "after": False},
    ]
    # An OLS model: only the corrected indicators' contributions move, and they add up to the change.
    moved = {w["indicator"] for w in g["why"]}
    assert moved <= {"floor_material", "has_smartphone", "floor_area_m2"} and moved
    delta = new["predicted_log_welfare"] - first["predicted_log_welfare"]
    assert sum(w["contribution_change"] for w in g["why"]) == pytest.approx(delta, abs=1e-9)
    assert all(w["effect_pct"] == pytest.approx(100 * math.expm1(w["contribution_change"])) for w in g["why"])
    assert delta < 0  # a poorer house, fewer assets: lower predicted welfare
    # Status and "upheld" follow from the two outcomes, worked out here from the two decisions.
    changed = (first["national"]["desil"] != new["national"]["desil"]
               or first["programs"] != new["programs"] or first["selected"] != new["selected"]
               or first["rules"]["verdict"] != new["rules"]["verdict"])
    assert g["status"] == ("outcome_changed" if changed else "outcome_unchanged")
    gained = any(v and not first["programs"][p] for p, v in new["programs"].items()) or (
        new["selected"] and not first["selected"])
    assert g["upheld"] is gained
    assert g["before"]["desil"] == first["national"]["desil"]
    assert g["after"]["desil"] == new["national"]["desil"]
    assert g["explanation"]["id"].startswith("Dikoreksi: floor_area_m2, floor_material, has_smartphone.")
    assert g["model_changed"] is False
    assert g["reported_by"] == REPORTED["reported_by"] and g["evidence"] == REPORTED["evidence"]


def test_a_correction_that_changes_nothing_is_recorded_as_such(scored) -> None:
    service, household, first = scored
    r = _grievance(service, household["household_id"], {"floor_material": household["floor_material"],
                                                         "head_age": str(household["head_age"])})
    assert r.status_code == 201, r.text
    g = r.json()["grievance"]
    assert g["status"] == "no_change" and g["decision_id"] is None and r.json()["decision"] is None
    assert g["changes"] == [] and g["upheld"] is False and g["after"] is None
    history = _history(service, household["household_id"])
    assert [d["decision_id"] for d in history["decisions"]] == [first["decision_id"]]
    assert [x["status"] for x in history["grievances"]] == ["no_change"]


def test_corrections_are_validated_as_survey_values(scored) -> None:
    service, household, _ = scored
    bad = {"floor_material": "earht", "household_size": 0}
    r = _grievance(service, household["household_id"], bad)
    assert r.status_code == 422, r.text
    problems = {(p["field"], p["reason_en"]) for p in r.json()["errors"]}
    # The same reasons /v1/score gives for the same values in a new survey row.
    direct = service.score([{**household, **bad}]).json()
    assert direct.get("decisions") is None or direct["decisions"] == []
    assert problems == {(p["field"], p["reason_en"]) for p in direct["errors"]}
    assert "floor_material" in {f for f, _ in problems}
    assert _history(service, household["household_id"])["grievances"] == []  # nothing stored


@pytest.mark.parametrize(("corrections", "field", "reason"), [
    ({"head_nik": "6402074310790009"}, "head_nik", "not an indicator"),
    ({"household_id": "R9"}, "household_id", "not an indicator"),
    ({"floor_materail": "earth"}, "floor_materail", "unknown field"),
    ({}, "corrections", "no corrections given"),
])
def test_what_a_grievance_cannot_correct(scored, corrections, field, reason) -> None:
    service, household, _ = scored
    r = _grievance(service, household["household_id"], corrections)
    assert r.status_code == 422, r.text
    [problem] = r.json()["errors"]
    assert problem["field"] == field and problem["reason_en"].startswith(reason)
    assert "6402074310790009" not in r.text  # a NIK is never echoed


def test_unknown_household_or_another_households_decision(scored) -> None:
    service, household, first = scored
    assert _grievance(service, "NO-SUCH-ID", {"floor_material": "earth"}).status_code == 404
    other = registry_households(2, seed=6)[1]
    assert service.score([other]).status_code == 200
    r = _grievance(service, other["household_id"], {"floor_material": "earth"}, revisits=first["decision_id"])
    assert r.status_code == 404, r.text
    r = _grievance(service, household["household_id"], {"floor_material": "earth"}, revisits="0" * 32)
    assert r.status_code == 404


def test_roles(scored) -> None:
    service, household, _ = scored
    for role, code in (("inspector", 403), ("analyst", 403), ("officer", 201), ("scorer", 201)):
        r = _grievance(service, household["household_id"], {"meals_per_day": 2}, role=role)
        assert r.status_code == code, (role, r.text)
    r = service.client.post("/v1/grievances", json={"household_id": "x", "corrections": {}, **REPORTED})
    assert r.status_code == 401


def test_retry_returns_the_stored_grievance(scored) -> None:
    service, household, _ = scored
    key = {"Idempotency-Key": "sanggahan-117"}
    a = _grievance(service, household["household_id"], {"meals_per_day": 1}, headers=key)
    b = _grievance(service, household["household_id"], {"meals_per_day": 1}, headers=key)
    assert (a.status_code, b.status_code) == (201, 200)
    assert b.headers["Idempotent-Replayed"] == "true"
    assert b.json()["grievance"]["grievance_id"] == a.json()["grievance"]["grievance_id"]
    assert b.json()["decision"]["decision_id"] == a.json()["decision"]["decision_id"]
    again = _grievance(service, household["household_id"], {"meals_per_day": 2}, headers=key)
    assert again.status_code == 409 and "Idempotency-Key was already used" in again.json()["detail"]
    assert len(_history(service, household["household_id"])["grievances"]) == 1


def _chain(service: Service, household: dict[str, Any]) -> list[str]:
    assert household["floor_material"] != "earth"  # both corrections change the stored inputs
    fridge = {"has_refrigerator": not household["has_refrigerator"]}
    g1 = _grievance(service, household["household_id"], fridge).json()
    g2 = _grievance(service, household["household_id"], {"floor_material": "earth"}).json()
    # The second grievance revisits the latest decision: the one the first produced.
    assert g2["grievance"]["revisits_decision_id"] == g1["decision"]["decision_id"]
    return [g1["grievance"]["grievance_id"], g2["grievance"]["grievance_id"]]


def test_the_chain_survives_a_restart_and_cannot_be_edited(tmp_path: Path, model_scorer: Any) -> None:
    household = registry_households(1, seed=5)[0]
    gen = start_service(tmp_path, model_scorer)
    service = next(gen)
    first = service.score([household]).json()["decisions"][0]
    ids = _chain(service, household)
    before = _history(service, household["household_id"])
    gen.close()

    gen = start_service(tmp_path, model_scorer)  # a new process on the same store and key
    service = next(gen)
    after = _history(service, household["household_id"])
    assert after == before
    decisions = after["decisions"]
    assert [d["revisits"] for d in decisions] == [None, first["decision_id"], decisions[1]["decision_id"]]
    assert [g["grievance_id"] for g in after["grievances"]] == ids
    assert [g["decision_id"] for g in after["grievances"]] == [d["decision_id"] for d in decisions[1:]]
    engine = service.app.state.engine
    for sql in ("UPDATE grievances SET upheld = 1", "DELETE FROM grievances",
                "UPDATE grievances SET record = '{}'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert _history(service, household["household_id"]) == before
    gen.close()


def test_a_grievance_file_from_the_command_line(tmp_path: Path, model_dir: Path, model_scorer: Any,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.security.cli import run_main

    households = registry_households(3, seed=9)
    gen = start_service(tmp_path, model_scorer)
    service = next(gen)
    first = service.score(households).json()["decisions"]
    gen.close()
    a, b, c = (h["household_id"] for h in households)
    assert households[0]["floor_material"] != "earth"
    grievances = tmp_path / "sanggahan.csv"
    grievances.write_text(
        "household_id,reported_by,reported_on,channel,evidence,floor_material,meals_per_day\n"
        f"{a},Petugas Loa Kulu,2026-11-20,desa,BA/117,earth,\n"             # filed, re-scored
        f"{b},Petugas Loa Kulu,2026-11-20,dinsos,,,{households[1]['meals_per_day']}\n"  # changes nothing
        f"{c},Petugas Loa Kulu,20/11/2026,desa,,earth,\n"                   # a date the file cannot mean
        "R9999999,Petugas Loa Kulu,2026-11-20,desa,,earth,\n"               # no decision about it
        f"{a},Petugas Loa Kulu,2026-11-21,desa,,marmer_emas,\n",                 # not a floor code
        encoding="utf-8")
    monkeypatch.setenv("TARGETING_API_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("TARGETING_API_ALLOW_UNSIGNED", "true")
    run = run_main(["grievance", str(grievances), "--out", str(tmp_path / "out")], tmp_path,
                   monkeypatch, capsys)
    assert run.code == 1, run.err
    import pandas as pd

    filed = pd.read_csv(tmp_path / "out" / "grievances.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv", dtype=str, keep_default_na=False)
    assert list(filed["row"]) == ["2", "3"]
    assert filed["status"][0] in ("outcome_changed", "outcome_unchanged") and filed["decision_id"][0]
    assert filed["status"][1] == "no_change" and filed["decision_id"][1] == ""
    assert filed["changed_fields"][0] == "floor_material"
    assert filed["revisits_decision_id"][0] == first[0]["decision_id"]
    assert [(r.row, r.column, r.value) for r in rejects.itertuples()] == [
        ("4", "reported_on", "20/11/2026"), ("5", "household_id", "R9999999"),
        ("6", "floor_material", "marmer_emas")]
    assert "2 grievances filed" in run.err and "3 rows refused" in run.err

    # The service sees what the command stored, chained to the decisions it revisits.
    gen = start_service(tmp_path, model_scorer)
    service = next(gen)
    history = _history(service, a)
    assert [g["grievance_id"] for g in history["grievances"]] == [filed["grievance_id"][0]]
    assert history["decisions"][-1]["revisits"] == first[0]["decision_id"]
    gen.close()
