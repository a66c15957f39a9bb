"""One scoring path and one metrics engine: the same household, model and unit, the same answer."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from targeting.survey.load import frame_to_survey
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import generate
from tests.models import train_model_folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_model_folder(tmp_path_factory.mktemp("model"), n_survey=1500, seed=3)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    frame = generate(n_survey=20, n_registry=600, seed=5).registry
    path = tmp_path_factory.mktemp("registry") / "registry.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_api_and_score_decide_every_field_the_same(model_dir, registry, tmp_path, monkeypatch):
    """`targeting score --rank reference` and POST /v1/score: field by field, household by household."""
    from api.intake import validate_households
    from api.scoring import ModelScorer
    from targeting.cli import app
    from tests.api.conftest import registry_households

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    frame, path = registry
    result = CliRunner().invoke(app, ["score", str(path), "--model", str(model_dir), "--rank", "reference",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "out" / "decisions.parquet").set_index("household_id")
    households = registry_households(600, seed=5)
    service = ModelScorer(model_dir, model_name="kukar-pmt", label="dir", source="tests")
    intake = validate_households(households)
    outputs = service.score(intake.data, lang="id", top_k=4, as_of=date.today())
    assert len(outputs) == len(table) == 600
    n_selected = n_reasons = 0
    for hid, out in zip(intake.data.household_id, outputs, strict=True):
        row = table.loc[hid]
        assert out["predicted_log_welfare"] == pytest.approx(row["predicted_log_welfare"], abs=1e-12)
        assert out["national"] == {"percentile": pytest.approx(row["percentile"], abs=1e-15),
                                   "desil": int(row["desil"])}
        if out["regional"] is None:
            assert row["desil_region"] == 0
        else:
            assert out["regional"]["desil"] == row["desil_region"]
            assert out["regional"]["region"] == row["kecamatan"]
        assert out["programs"] == {p: bool(row[f"program_{p}"]) for p in ("pkh", "sembako", "pbi_jk")}
        assert out["selected"] == bool(row["selected"])
        rules = out["rules"]
        assert rules["verdict"] == row["rule_verdict"] and rules["n_met"] == row["rule_n_met"]
        for cid, flag in rules["criteria"].items():
            cell = row[f"crit_{cid}"]
            assert flag == (None if pd.isna(cell) else bool(cell))
        assert len(out["reasons"]) == row["n_reasons"]
        for r in out["reasons"]:
            i = r["rank"]
            assert r["code"] == row[f"reason_{i}_code"]
            assert r["text"] == row[f"reason_{i}_text_id"]
            assert r["contribution"] == pytest.approx(row[f"reason_{i}_contribution"], abs=1e-12)
            value = row[f"reason_{i}_value"]
            if r["value"] is None:  # a missing answer can be a reason too: missing in both
                assert pd.isna(value)
            else:
                assert (str(r["value"]).lower() if isinstance(r["value"], bool) else str(r["value"])) == value
            assert r["direction"] == row["reason_direction"]
            n_reasons += 1
        n_selected += out["selected"]
    # The comparison covered both directions of reasons and real text.
    assert 0 < n_selected < 600 and n_reasons > 1000


def test_validation_table_and_audit_give_the_same_exclusion_error(tmp_path):
    """The MLflow table's exclusion error at 20 % equals the audit's for desil 1–2 of the same predictions."""
    from targeting.audit import audit_metrics
    from targeting.audit.decisions import AuditData
    from targeting.audit.overall import metric_value
    from targeting.decide import Scorer, Selection
    from targeting.pmt.validation import temporal_validation

    spec = load_spec("kukar_survey")
    whole = frame_to_survey(generate(n_survey=3000, n_registry=10, seed=11).survey, spec).data
    half = np.arange(len(whole)) < 1500
    train, test = whole.subset(pd.Series(half)), whole.subset(pd.Series(~half))
    test = dataclasses.replace(test, name="test half")
    validation = temporal_validation(train, test, ["ols"], coverages=[0.2, 0.3], n_bootstrap=0)
    folder = train_model_folder(tmp_path / "m", n_survey=3000, seed=11, subset=half)
    scorer = Scorer(folder, ruleset=None, selection=Selection(desil_max=2), ranking="within")
    decisions = scorer.decide(test).table
    # Desil 1-2 are 20 % of persons: the validation's coverage rule, counting persons in both.
    table = audit_metrics(AuditData.from_frame(decisions, unit="person"), n_boot=0)
    v = validation.table
    for metric in ("exclusion_error", "inclusion_error", "inclusion_error_nonpoor"):
        row = v[(v.metric == metric) & (v.coverage_label == "20%")]
        expected = float(row["estimate"].iloc[0])
        assert metric_value(table, "model", metric) == pytest.approx(expected, abs=1e-12)
    assert 0.1 < metric_value(table, "model", "exclusion_error") < 0.9
    # The selection is exactly the validation's at 20 % of persons.
    from targeting.pmt.validation import coverage_selections

    sel = coverage_selections(validation.predictions, ["ols"], [0.2], "person")["ols", 0.2]
    np.testing.assert_array_equal(sel, decisions["selected"].to_numpy())
