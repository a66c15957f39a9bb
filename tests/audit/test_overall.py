from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.audit.metrics import exclusion_error_rate, spearman_weighted
from targeting.audit.overall import audit_metrics, metric_value
from tests.audit.factory import make_decisions

# Hand-worked case (as in test_metrics): weights 1,2,1,1,3,2.
POOR = [True, True, True, False, False, False]
SEL = [True, False, True, True, False, False]
W = [1.0, 2, 1, 1, 3, 2]
VERDICT = ["eligible", "eligible", "not_eligible", "eligible", "unknown", "not_eligible"]


def households(frame):
    """Hand-worked numbers here count households (survey weight only), not persons."""
    from targeting.audit.decisions import AuditData

    return AuditData.from_frame(frame, unit="household")


def hand_frame(**overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "household_id": [f"H{i}" for i in range(6)],
            "weight": W,
            "household_size": [1, 2, 3, 4, 5, 6],
            "predicted_welfare": [1.0, 5, 2, 3, 6, 4],
            "desil": [1, 5, 2, 3, 6, 4],
            "selected": SEL,
            "rule_verdict": VERDICT,
            "poor_true": POOR,
            "welfare_true": [1.0, 2, 3, 4, 5, 6],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


@pytest.mark.parametrize(
    ("subject", "metric", "expected"),
    [
        # model: P∧S = 2, P∧¬S = 2, ¬P∧S = 1, ¬P∧¬S = 5
        ("model", "exclusion_error", 2 / 4),
        ("model", "inclusion_error", 1 / 3),
        ("model", "inclusion_error_nonpoor", 1 / 6),
        ("model", "coverage", 3 / 10),
        # rules eligible = H0, H1, H3: P∧R = 3, P∧¬R = 1, ¬P∧R = 1, ¬P∧¬R = 5
        ("rules", "exclusion_error", 1 / 4),
        ("rules", "inclusion_error", 1 / 4),
        ("rules", "coverage", 4 / 10),
        # within the rules: H0, H3 -> P∧S = 1, P∧¬S = 3, ¬P∧S = 1
        ("model_within_rules", "exclusion_error", 3 / 4),
        ("model_within_rules", "inclusion_error", 1 / 2),
        ("model_within_rules", "coverage", 2 / 10),
        ("truth", "poverty_rate", 4 / 10),
        # S and R differ on H1 (2), H2 (1): agreement 7/10; S∧¬R / S = 1/3; R∧¬S / R = 2/4
        ("model_vs_rules", "agreement", 7 / 10),
        ("model_vs_rules", "model_not_rules", 1 / 3),
        ("model_vs_rules", "rules_not_model", 2 / 4),
        ("model_vs_rules", "rules_unknown", 3 / 10),
    ],
)
def test_hand_worked_metrics(subject, metric, expected):
    table = audit_metrics(households(hand_frame()), n_boot=0)
    assert metric_value(table, subject, metric) == pytest.approx(expected)


def test_every_inclusion_error_is_named_with_its_definition():
    table = audit_metrics(households(hand_frame(crit_a=[True, True, False, True, False, False])), n_boot=0)
    defs = table.set_index(["subject", "metric"])["definition"]
    assert "beneficiary-based" in defs["model", "inclusion_error"]
    assert "non-poor-based" in defs["model", "inclusion_error_nonpoor"]
    assert "criteria met" in defs["rules", "spearman"]
    assert table["ci_low"].isna().all()  # n_boot=0: no intervals


def test_intervals_bracket_estimates_and_are_reproducible():
    frame = make_decisions(1500, seed=11)
    a = audit_metrics(households(frame), n_boot=120, seed=3)
    b = audit_metrics(households(frame), n_boot=120, seed=3)
    c = audit_metrics(households(frame), n_boot=120, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    inside = (a["ci_low"] <= a["estimate"] + 1e-9) & (a["estimate"] <= a["ci_high"] + 1e-9)
    assert inside.all()
    sp = metric_value(a, "model", "spearman")
    assert sp == pytest.approx(
        spearman_weighted(frame["welfare_true"], frame["predicted_welfare"], sample_weight=frame["weight"])
    )
    width = a.set_index(["subject", "metric"]).eval("ci_high - ci_low")
    assert 0 < width["model", "exclusion_error"] < 0.2


def test_perfect_selection_has_zero_errors_and_degenerate_interval():
    frame = make_decisions(400, seed=2)
    frame["selected"] = frame["poor_true"].astype(bool)
    table = audit_metrics(households(frame), n_boot=50).set_index(["subject", "metric"])
    assert table.loc[("model", "exclusion_error"), ["estimate", "ci_low", "ci_high"]].tolist() == [0, 0, 0]
    assert table.loc[("model", "targeting_differential"), "estimate"] == pytest.approx(1.0)


def test_selected_count_equal_to_poor_count_makes_both_errors_equal():
    frame = make_decisions(800, seed=5)
    frame["weight"] = 1.0
    n_poor = int(frame["poor_true"].sum())
    order = np.argsort(frame["predicted_welfare"].to_numpy())
    frame["selected"] = False
    frame.loc[order[:n_poor], "selected"] = True
    table = audit_metrics(households(frame), n_boot=0)
    assert metric_value(table, "model", "inclusion_error") == pytest.approx(
        metric_value(table, "model", "exclusion_error")
    )


def test_registry_without_truth_reports_model_vs_rules_only():
    frame = make_decisions(300, truth=False)
    table = audit_metrics(households(frame), n_boot=20)
    assert set(table["metric"]) == {
        "coverage",
        "agreement",
        "model_not_rules",
        "rules_not_model",
        "rules_unknown",
    }
    assert not table.attrs["has_truth"]


def test_rows_without_truth_are_left_out_of_truth_metrics_only():
    frame = hand_frame()
    frame["poor_true"] = pd.array([True, True, None, False, False, False], dtype="boolean")
    table = audit_metrics(households(frame), n_boot=0)
    known = frame["poor_true"].notna().to_numpy()
    poor = frame["poor_true"].fillna(False).to_numpy(dtype=bool)
    expected = exclusion_error_rate(poor[known], np.array(SEL)[known], sample_weight=np.array(W)[known])
    assert metric_value(table, "model", "exclusion_error") == pytest.approx(expected)
    assert metric_value(table, "model", "coverage") == pytest.approx(3 / 10)
