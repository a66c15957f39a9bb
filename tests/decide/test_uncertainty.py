"""Intervals in the one scoring path: the decisions table, the API and the verification list agree."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from targeting.decide import Scorer, Selection
from targeting.shipped import default_model_dir
from targeting.survey.load import frame_to_survey
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import generate


@pytest.fixture(scope="module")
def registry():
    return generate(n_survey=20, n_registry=2000, seed=12).registry


def test_statuses_follow_the_interval_and_the_selection(registry):
    data = frame_to_survey(registry, load_spec("indonesia_household")).data
    scorer = Scorer(default_model_dir(), selection=Selection(program="pkh"), interval_level=0.9)
    t = scorer.decide(data).table
    assert scorer.intervals is not None
    assert (t["welfare_low"] < t["welfare_high"]).all()
    assert t["p_other_side"].between(0, 1).all()
    status = t["status"].astype(str)
    # clearly in: the whole interval below the cut, so selected; clearly out: above it, not selected.
    assert t.loc[status == "clearly_in", "selected"].all()
    assert not t.loc[status == "clearly_out", "selected"].any()
    assert t.loc[status != "borderline", "p_other_side"].max() < t.loc[status == "borderline",
                                                                     "p_other_side"].max()
    # A wider interval (higher level) never turns a borderline household clear.
    wide = Scorer(default_model_dir(), selection=Selection(program="pkh"), interval_level=0.99)
    wide = wide.decide(data).table
    assert (wide["welfare_high"] - wide["welfare_low"] >= t["welfare_high"] - t["welfare_low"] - 1e-6).all()
    assert (wide["status"].astype(str) == "borderline")[status == "borderline"].all()
    # The probability does not depend on the level.
    np.testing.assert_allclose(wide["p_other_side"], t["p_other_side"])


def test_the_api_shows_the_same_uncertainty_as_the_table(registry):
    from api.intake import validate_households
    from api.scoring import ModelScorer
    from tests.api.conftest import registry_households

    households = registry_households(2000, seed=12)[:200]
    service = ModelScorer(default_model_dir(), model_name="kukar-pmt", label="default", source="tests")
    intake = validate_households(households)
    outputs = service.score(intake.data, lang="id", top_k=2, as_of=date.today())
    table = service.scorer.decide(intake.data, top_k=2).table
    for out, (_, row) in zip(outputs, table.iterrows(), strict=True):
        u = out["uncertainty"]
        assert u["status"] == row["status"] and u["level"] == 0.9
        assert u["welfare_low"] == pytest.approx(row["welfare_low"])
        assert u["p_other_side"] == row["p_other_side"]


def test_verify_writes_the_visit_list_for_the_budget(registry, tmp_path, monkeypatch):
    import openpyxl

    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    path = tmp_path / "r.parquet"
    registry.to_parquet(path, index=False)
    runner = CliRunner()
    assert runner.invoke(app, ["score", str(path), "--model", "default", "--program", "pkh",
                               "--out", str(tmp_path / "s")]).exit_code == 0
    result = runner.invoke(app, ["verify", str(tmp_path / "s" / "decisions.parquet"), "--visits", "50"])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "s" / "verifikasi_lapangan.xlsx", read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 51  # header + the 50 visits
    decisions = pd.read_parquet(tmp_path / "s" / "decisions.parquet")
    assert not any(str(n) in str(r) for r in rows for n in registry["head_nik"].head(200))
    # The 50 households whose visit is expected to correct the most persons, under their pseudonyms.
    from targeting.privacy import load_key, pseudonymize

    gain = decisions["p_other_side"] * decisions["household_size"]
    best = decisions.loc[gain.nlargest(50).index, "household_id"]
    expected = set(pseudonymize(best.astype("string"), load_key(tmp_path / "home"), prefix="h"))
    assert {r[2] for r in rows[1:]} == expected
