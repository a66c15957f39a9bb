"""The path on a survey nobody here wrote: Paraguay EPHC, model trained on 2023, 2024 scored and audited."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import shared_data


@pytest.mark.slow
def test_paraguay_2023_model_scores_2024_and_the_audit_equals_the_validation(tmp_path, monkeypatch):
    shared_data("paraguay_ephc")
    from targeting.cli import app
    from targeting.experiment import load_experiment, run_experiment
    from targeting.settings import get_settings
    from targeting.shipped import find

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    exp = load_experiment(find("experiments", "paraguay_temporal"))
    exp = exp.model_copy(update={"backends": ["ols"], "n_bootstrap": 0, "coverages": [0.2],
                                 "final": exp.final.model_copy(update={"backend": "ols"})})
    outcome = run_experiment(exp, get_settings(home=tmp_path / "home"), track=False)
    v = outcome.result.table
    validated = float(v[(v.metric == "exclusion_error") & (v.coverage_label == "20%")]["estimate"].iloc[0])
    runner = CliRunner()
    scored = runner.invoke(app, ["score", "--spec", "paraguay_ephc", "--model", str(outcome.model_dir),
                                 "--ruleset", "none", "--desil-max", "2", "--out", str(tmp_path / "s")])
    assert scored.exit_code == 0, scored.output
    decisions = pd.read_parquet(tmp_path / "s" / "decisions.parquet")
    assert len(decisions) == 17_242 and decisions["poor_true"].sum() == 2_975  # INE's own flag, 2024
    # Reasons name the indicators by the spec's own labels (not the Indonesian catalogue's).
    from targeting.survey.spec import load_spec

    labels = tuple(f.label for f in load_spec("paraguay_ephc").features.values())
    texts = decisions["reason_1_text_id"].dropna().astype(str)
    assert len(texts) > 17_000 and texts.str.startswith(labels).all()
    audited = runner.invoke(app, ["audit", str(tmp_path / "s" / "decisions.parquet"), "--no-pdf",
                                  "--n-boot", "0"])
    assert audited.exit_code == 0, audited.output
    summary = json.loads((tmp_path / "s" / "audit" / "audit.json").read_text())["summary"]
    # One metrics engine: the inspector's report and the validation table agree (persons, desil 1-2).
    assert summary["model.exclusion_error"] == pytest.approx(validated, abs=1e-12)
    assert summary["rules_unknown"] == 0 and summary["flagged.model_not_rules"] == 0
    html = (tmp_path / "s" / "audit" / "audit_report.html").read_text(encoding="utf-8")
    assert "Tidak ada kriteria" in html  # the report says no rule set was applied
