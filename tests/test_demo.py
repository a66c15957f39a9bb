"""The main job end to end on a small synthetic district: every stage, real MLflow, real Chromium."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest
from rich.console import Console

from targeting.jobs.demo import run_demo
from targeting.settings import get_settings


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    from targeting.report import find_chromium

    settings = get_settings(home=tmp_path / "home")
    pdf = find_chromium() is not None
    with open(tmp_path / "log.txt", "w") as log_file:
        paths = run_demo(settings, n_survey=3_000, n_registry=6_000, seed=11, n_bootstrap=20,
                         pdf=pdf, console=Console(file=log_file, width=140))
    decisions = pd.read_parquet(paths["decisions"])
    assert len(decisions) == 6_000
    # desil 1 = the model's poorest 10% of persons
    persons = decisions["household_size"]
    share = float(persons[decisions["selected"]].sum() / persons.sum())
    assert share == pytest.approx(0.10, abs=0.01)
    assert (decisions.loc[decisions["selected"], "desil"] == 1).all()
    # reasons for every selected household point down, and their texts are Indonesian
    sel = decisions[decisions["selected"]]
    assert (sel["reason_1_code"].notna()).all()
    assert sel["reason_1_text_id"].astype(str).str.contains("menurunkan").all()
    # the audit had the synthetic truth: three-way, with the rules
    assert decisions["poor_true"].notna().all()
    # NIK never in clear in any export
    registry = pd.read_parquet(settings.data_dir / "kukar" / "registry.parquet")
    niks = set(registry["head_nik"].dropna().head(50))
    assert "head_nik" not in decisions.columns and "head_nik_pseudonym" in decisions.columns
    for key in ("decisions", "html", "flagged_csv", "metrics_csv", "groups_csv", "json"):
        blob = paths[key].read_bytes()
        assert not any(n.encode() in blob for n in niks), key
    with zipfile.ZipFile(paths["flagged_xlsx"]) as z:
        xml = b"".join(z.read(n) for n in z.namelist())
    assert not any(n.encode() in xml for n in niks)
    # the report, and the PDF printed by Chromium when it is there
    html = paths["html"].read_text(encoding="utf-8")
    assert "Kepmensos" in html and 'lang="id"' in html
    if pdf:
        assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    # the model went through the registry: v1 registered and promoted on the first run
    log = (tmp_path / "log.txt").read_text()
    assert "promoted to @champion" in log


def test_a_small_shipped_plan_runs_through_the_cli(tmp_path, monkeypatch):
    """`targeting run kukar_small`: generate, the shipped model, score, rules, audit; every file written."""
    import json

    from typer.testing import CliRunner

    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = CliRunner().invoke(app, ["run", "kukar_small", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    decisions = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    assert len(decisions) == 5000
    assert (decisions["selected"] == decisions["program_pkh"]).all()
    payload = json.loads((tmp_path / "run" / "audit" / "audit.json").read_text())
    assert payload["has_truth"] and payload["ruleset"] == "kepmensos_262_2022"
    # PKH covers desil 1-4: with a 7 % poverty rate most of the poor are reached, many others too.
    summary = payload["summary"]
    assert summary["model.exclusion_error"] < 0.2 < summary["model.inclusion_error"]
    assert 0.38 < summary["model.coverage"] < 0.42  # 40 % of persons
