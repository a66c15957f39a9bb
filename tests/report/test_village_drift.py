"""The village and drift report sections: hand-worked counts, the drift table read back, bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.errors import InputFileError
from targeting.report import render_audit_html
from targeting.report.village import read_drift_table, village_view
from targeting.spreadsheet import write_csv
from tests.report.conftest import CARD, GENERATED, INFO


def decisions() -> pd.DataFrame:
    # Five ranked households (two below the 40 % share: the village's poorest) and one unranked.
    return pd.DataFrame({
        "selected": [True, False, True, False, True, False],
        "community_percentile": [0.1, 0.3, 0.5, 0.7, np.nan, 0.9],
        "method": ["model+community"] * 4 + ["model", "model+community"],
        "rule_verdict": ["eligible", "eligible", "not_eligible", "unknown", "eligible", "not_eligible"],
    })


def test_village_counts_by_hand():
    v = village_view(decisions(), share=0.4)
    assert v is not None
    assert (v["n_ranked"], v["n"]) == (5, 6)
    assert v["by_method"] == {"model+community": 5, "model": 1}
    # Of the poorest (rows 0 and 1): one selected, both eligible.
    assert v["recall"] == 0.5 and v["rules_recall"] == 1.0
    assert v["cross"] == [
        {"who": "poorest", "households": 2, "selected": 1, "rules": 2, "both": 1},
        {"who": "others", "households": 3, "selected": 1, "rules": 0, "both": 0},
        {"who": "unranked", "households": 1, "selected": 1, "rules": 1, "both": 1},
    ]
    assert village_view(decisions().drop(columns="community_percentile")) is None
    assert village_view(decisions())["share"] == 0.5  # default: the model's own selection rate


def test_drift_table_in_the_report(tmp_path, result, ruleset):
    table = pd.DataFrame({
        "reference": "survey 2022", "current": "registry 2024",
        "indicator": ["predicted_log_welfare", "floor_material", "has_tv", "roof"],
        "kind": ["prediction", "categorical", "binary", "categorical"],
        "psi": [0.031, 0.27, 0.12, 0.01], "p_adjusted": [0.2, 0.0001, 0.01, 0.9],
        "flag": ["stable", "major", "moderate", "stable"],
    })
    path = write_csv(table, tmp_path / "drift.csv")
    read = read_drift_table(path)
    html = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=INFO, generated=GENERATED,
                             drift=read, village=village_view(decisions(), share=0.4))
    drift = html[html.index('<section id="drift"'):].split("</section>")[0]
    assert "3 indikator, 1 bergeser sedang dan 1 bergeser besar" in drift
    names = [c.split("</td>")[0] for c in drift.split("<tr><td>")[1:]]
    assert names == ["predicted_log_welfare", "floor_material", "has_tv"]  # welfare first, then by PSI
    village = html[html.index('<section id="village"'):].split("</section>")[0]
    assert "5 dari 6 rumah tangga" in village and "50,0%" in village


def test_a_file_that_is_not_a_drift_table(tmp_path):
    bad = tmp_path / "other.csv"
    bad.write_text("indicator,psi\nfloor,0.2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="not a table written by `targeting drift`"):
        read_drift_table(bad)
    worse = tmp_path / "worse.csv"
    worse.write_text("indicator,kind,psi,p_adjusted,flag\nfloor,categorical,lots,0.1,major\n",
                     encoding="utf-8")
    with pytest.raises(InputFileError, match="row 2, column psi: 'lots' is not a number"):
        read_drift_table(worse)
