"""The report's rounds-and-grievances section: hand-worked counts, key rotation, the rendered page."""

from __future__ import annotations

import pandas as pd

from targeting.privacy import pseudonymize
from targeting.report import render_audit_html
from targeting.report.rounds import ELSEWHERE, HERE, RoundsView, grievance_counts, round_flows
from tests.drift.test_drift_rounds import current, previous
from tests.report.conftest import CARD, GENERATED, INFO

OLD, NEW = bytes(range(32)), bytes(range(1, 33))


def _p(household_id: str, key: bytes) -> str:
    return str(pseudonymize(pd.Series([household_id], dtype="string"), key)[0])


def grievances() -> pd.DataFrame:
    # pA twice (one upheld), pB once before the key rotation (old key), one household not in the registry.
    return pd.DataFrame({
        "household_pseudonym": [_p("pA", NEW), _p("pA", NEW), _p("pB", OLD), _p("zz", NEW)],
        "status": ["outcome_changed", "no_change", "outcome_unchanged", "outcome_changed"],
        "upheld": [True, False, False, True],
    })


def test_grievances_by_kecamatan_by_hand_across_a_key_rotation():
    counts = grievance_counts(grievances(), current(), [NEW, OLD], ["kecamatan", "not_a_column"])
    assert set(counts) == {"", "kecamatan"}
    everyone = counts[""].set_index("all")
    assert everyone.loc[HERE].tolist() == [3, 1, 1, 1]  # filed, upheld, outcome changed, no change
    assert everyone.loc[ELSEWHERE].tolist() == [1, 1, 1, 0]
    by = counts["kecamatan"].set_index("kecamatan")
    assert by.loc["x"].tolist() == [3, 1, 1, 1]  # pA and pB are in kecamatan x this round
    assert by.loc[ELSEWHERE].tolist() == [1, 1, 1, 0]
    assert "y" not in by.index
    # Without the old key, pB's grievance cannot be linked: it is counted elsewhere, not dropped.
    alone = grievance_counts(grievances(), current(), [NEW], [])[""].set_index("all")
    assert alone.loc[HERE, "filed"] == 2 and alone.loc[ELSEWHERE, "filed"] == 2
    assert int(alone["filed"].sum()) == len(grievances())


def test_the_report_shows_flows_and_grievances(result, ruleset):
    flows = round_flows(previous(), current(), ["kecamatan"])
    view = RoundsView(previous="round-1/decisions.parquet", flows=flows,
                      grievances=grievance_counts(grievances(), current(), [NEW, OLD], ["kecamatan"]),
                      n_grievances=4)
    html = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=INFO, generated=GENERATED,
                             rounds=view, group_labels={"kecamatan": "Kecamatan"})
    section = html[html.index('<section id="rounds"'):]
    section = section[:section.index("</section>")]
    assert "Putaran dan sanggahan" in section and "round-1/decisions.parquet" in section
    assert "Menurut Kecamatan" in section and "Sanggahan menurut Kecamatan" in section
    # pkh in kecamatan x: stayed 1 (A), entered 0, new 0, left 1 (B), gone 1 (D); persons out 3 + 5.
    row = section[section.index("<tr><td>PKH</td><td>x</td>"):]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:8]]
    assert cells == ["1", "0", "0", "1", "1", "0", "8"]
    assert "4 sanggahan tercatat" in section
    empty = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=INFO, generated=GENERATED)
    assert 'id="rounds"' not in empty
