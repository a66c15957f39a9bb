"""The report's borderline and field-visit section: hand-worked counts and the simulated benefit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.report import render_audit_html
from targeting.report.verification import selection_cut, verification_view
from tests.report.conftest import CARD, GENERATED, INFO


def frame() -> pd.DataFrame:
    # Six households; the model selects the three poorest predictions. Truth: a, b and e are poor,
    # so c is an inclusion error (3 persons) and e an exclusion error (5 persons).
    return pd.DataFrame({
        "household_id": list("abcdef"),
        "weight": 1.0,
        "household_size": [2, 4, 3, 1, 5, 2],
        "predicted_log_welfare": [12.0, 12.1, 12.2, 12.9, 12.4, 13.5],
        "selected": [True, True, True, False, False, False],
        "status": ["clearly_in", "clearly_in", "borderline", "clearly_out", "borderline", "clearly_out"],
        "p_other_side": [0.01, 0.02, 0.45, 0.05, 0.40, 0.001],
        "kecamatan": ["x", "x", "y", "y", "x", "y"],
    })


def test_status_counts_and_visits_by_hand():
    poor = np.array([True, True, False, False, True, False])
    assert selection_cut(frame()["predicted_log_welfare"].to_numpy(), frame()["selected"].to_numpy()) == 12.3
    view = verification_view(frame(), poor=poor, region="kecamatan")
    assert view is not None and view.curve is not None and view.table is not None
    st = view.statuses.set_index(["by", "group"])
    cols = ["households", "clearly_in", "borderline", "clearly_out"]
    assert st.loc[("all", ""), cols].tolist() == [6, 2, 2, 2]
    assert st.loc[("kecamatan", "x"), ["clearly_in", "borderline", "clearly_out"]].tolist() == [2, 1, 0]
    assert st.loc[("kecamatan", "y"), "borderline_persons"] == 3.0
    assert view.before == {"exclusion_error": 5 / 11, "inclusion_error": 3 / 9}
    # Six visits (the whole registry) correct both errors whatever the order: 8 persons.
    full = view.table[view.table["visits"] == 6].set_index("ordering")
    assert set(full["persons_corrected"]) == {8.0}
    # The p_wrong × persons order visits e (0.40 × 5 = 2.0) before c (0.45 × 3 = 1.35): 2 visits fix all.
    curve = view.curve[view.curve["ordering"] == "p_wrong × persons"].set_index("visits")
    assert curve.loc[2, "persons_corrected"] == 8.0 and curve.loc[2, "exclusion_error"] == 0.0
    assert verification_view(frame().drop(columns="status")) is None
    assert verification_view(frame(), poor=None).curve is None


def test_the_report_shows_the_section(result, ruleset):
    poor = np.array([True, True, False, False, True, False])
    view = verification_view(frame(), poor=poor, region="kecamatan")
    html = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=INFO, generated=GENERATED,
                             verification=view, group_labels={"kecamatan": "Kecamatan"})
    section = html[html.index('<section id="verification"'):]
    section = section[:section.index("</section>")]
    assert "Rumah tangga di ambang batas" in section and "data:image/svg+xml;base64," in section
    assert "galat eksklusi 45,5%" in section  # 5 of 11 poor persons left out before any visit
    row = section[section.index("<tr><td>x</td>"):].split("</tr>")[0]
    assert [c.split("<")[0] for c in row.split('class="num">')[1:]] == ["3", "2", "1", "0", "33,3%"]
