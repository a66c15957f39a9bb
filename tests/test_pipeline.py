"""The main job end to end on a small synthetic district: every stage, real MLflow, real Chromium."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest
from rich.console import Console

from targeting.pipeline import run_demo
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
    assert sel["reasons_id"].str.contains("menurunkan").all()
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
