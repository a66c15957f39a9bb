from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.audit.decisions import AuditData
from targeting.audit.groups import MinCell, group_metrics
from targeting.audit.metrics import exclusion_error_rate, inclusion_error_rate
from tests.audit.factory import make_decisions

NO_MIN = MinCell(households=1, denominator=1, poor=1, weighted_poor=0.0)


def households(frame):
    """Hand-worked numbers here count households (survey weight only), not persons."""
    from targeting.audit.decisions import AuditData

    return AuditData.from_frame(frame, unit="household")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_decisions(2500, seed=21)


@pytest.fixture(scope="module")
def table(frame) -> pd.DataFrame:
    return group_metrics(frame, by=["urban", "female_head", "size_band"], n_boot=80, seed=1)


def hand_frame() -> pd.DataFrame:
    # Group A: poor = H0, H1 (w 1, 3), only H0 selected -> EE = 3/4. Group B: poor H3 selected -> 0.
    return pd.DataFrame(
        {
            "household_id": [f"H{i}" for i in range(6)],
            "weight": [1.0, 3.0, 1.0, 2.0, 1.0, 1.0],
            "household_size": 3,
            "predicted_welfare": [1.0, 2, 3, 4, 5, 6],
            "desil": [1, 2, 3, 4, 5, 6],
            "selected": [True, False, True, True, False, False],
            "rule_verdict": ["eligible", "eligible", "not_eligible", "not_eligible", "eligible", "unknown"],
            "poor_true": [True, True, False, True, False, False],
            "urban": [True, True, True, False, False, False],
        }
    )


def value(table, grouping, v1, subject, metric, column="estimate"):
    hit = table[
        (table.grouping == grouping)
        & (table.value_1 == v1)
        & (table.subject == subject)
        & (table.metric == metric)
    ]
    assert len(hit) == 1
    return hit[column].iloc[0]


def test_hand_worked_groups():
    t = group_metrics(AuditData.from_frame(hand_frame(), unit="household"), by=["urban"], min_cell=NO_MIN,
                      n_boot=0)
    assert value(t, "urban", "True", "model", "exclusion_error") == pytest.approx(3 / 4)
    assert value(t, "urban", "False", "model", "exclusion_error") == pytest.approx(0.0)
    assert value(t, "urban", "True", "model", "inclusion_error") == pytest.approx(1 / 2)
    # overall EE: poor weight 6, missed 3 -> 1/2; difference and ratio against it
    assert value(t, "urban", "True", "model", "exclusion_error", "overall") == pytest.approx(0.5)
    assert value(t, "urban", "True", "model", "exclusion_error", "difference") == pytest.approx(0.25)
    assert value(t, "urban", "True", "model", "exclusion_error", "ratio") == pytest.approx(1.5)
    # rules in urban: eligible H0, H1 -> EE 0, coverage 4/5
    assert value(t, "urban", "True", "rules", "exclusion_error") == pytest.approx(0.0)
    assert value(t, "urban", "True", "rules", "coverage") == pytest.approx(4 / 5)
    # agreement in rural: S = H3, R = H4 -> both disagree: weight 3 of 4
    assert value(t, "urban", "False", "model_vs_rules", "agreement") == pytest.approx(1 / 4)
    assert value(t, "urban", "False", "truth", "poverty_rate") == pytest.approx(2 / 4)
    assert value(t, "urban", "True", "model", "exclusion_error", "n_poor") == 2
    assert value(t, "urban", "True", "model", "exclusion_error", "weighted_poor") == pytest.approx(4.0)
    # Counting persons (3 per household here) the rates are the same and the counts three times larger.
    persons = group_metrics(hand_frame(), by=["urban"], min_cell=NO_MIN, n_boot=0)
    assert value(persons, "urban", "True", "model", "exclusion_error") == pytest.approx(3 / 4)
    assert value(persons, "urban", "True", "model", "exclusion_error", "weighted_poor") == pytest.approx(12.0)


def test_every_reportable_cell_equals_the_metric_on_its_subset(frame, table):
    poor = frame["poor_true"].to_numpy(dtype=bool)
    sel = frame["selected"].to_numpy()
    w = (frame["weight"] * frame["household_size"]).to_numpy()  # the default unit: persons
    cells = table[
        (table.subject == "model")
        & table.reportable
        & table.metric.isin(["exclusion_error", "inclusion_error"])
    ]
    assert len(cells) > 10
    fns = {"exclusion_error": exclusion_error_rate, "inclusion_error": inclusion_error_rate}
    for row in cells.itertuples():
        mask = frame[row.feature_1].astype("string").to_numpy() == row.value_1
        if pd.notna(row.feature_2):
            mask &= frame[row.feature_2].astype("string").to_numpy() == row.value_2
        expected = fns[row.metric](poor[mask], sel[mask], sample_weight=w[mask])
        assert row.estimate == pytest.approx(expected, rel=1e-12)
        assert row.ci_low <= row.estimate <= row.ci_high
        assert row.diff_ci_low <= row.difference <= row.diff_ci_high


def test_intersections_partition_the_population(frame, table):
    pair = table[
        (table.grouping == "urban × female_head") & (table.subject == "model") & (table.metric == "coverage")
    ]
    assert len(pair) == 4
    persons = (frame["weight"] * frame["household_size"]).sum()
    assert pair["weighted_households"].sum() == pytest.approx(persons)
    assert set(zip(pair.value_1, pair.value_2, strict=True)) == {
        ("False", "False"),
        ("False", "True"),
        ("True", "False"),
        ("True", "True"),
    }
    assert set(table.grouping) == {
        "urban",
        "female_head",
        "size_band",
        "urban × female_head",
        "urban × size_band",
        "female_head × size_band",
    }


@pytest.mark.parametrize(
    ("rule", "truth_reportable", "coverage_reportable"),
    [
        (MinCell(households=1, denominator=1, poor=1, weighted_poor=0), True, True),
        (MinCell(households=1, denominator=1, poor=3, weighted_poor=0), False, True),  # 2 poor in the cell
        (MinCell(households=1, denominator=1, poor=1, weighted_poor=4.5), False, True),  # 4 poor represented
        (MinCell(households=4, denominator=1, poor=1, weighted_poor=0), False, False),  # 3 households
        (MinCell(households=1, denominator=2, poor=1, weighted_poor=0), True, True),
    ],
)
def test_min_cell_rule(rule, truth_reportable, coverage_reportable):
    t = group_metrics(households(hand_frame()), by=["urban"], min_cell=rule, n_boot=0)
    ee = t[(t.value_1 == "True") & (t.subject == "model") & (t.metric == "exclusion_error")].iloc[0]
    cov = t[(t.value_1 == "True") & (t.subject == "model") & (t.metric == "coverage")].iloc[0]
    assert ee.reportable == truth_reportable
    assert cov.reportable == coverage_reportable
    if not truth_reportable:
        assert ee.note == "too_small"
        assert np.isnan([ee.estimate, ee.ci_low, ee.difference, ee.ratio]).all()


def test_denominator_rule_applies_per_metric():
    # Urban: 2 selected among the truth rows (H0, H2) but 2 poor: a denominator of 3 hides both.
    t = group_metrics(households(hand_frame()), by=["urban"], min_cell=MinCell(1, 3, 1, 0.0), n_boot=0)
    urban = t[(t.value_1 == "True") & (t.subject == "model")].set_index("metric")
    assert not urban.loc["inclusion_error", "reportable"]
    assert not urban.loc["exclusion_error", "reportable"]
    assert urban.loc["inclusion_error_nonpoor", "n_denominator"] == 1
    assert urban.loc["coverage", "reportable"]


def test_default_min_cell_rule_is_applied_exactly(table):
    ee = table[table.metric == "exclusion_error"]
    expected = (
        (ee.n_households >= 50) & (ee.n_poor >= 30) & (ee.weighted_poor >= 100) & (ee.n_denominator >= 30)
    )
    assert (ee.reportable == expected).all()
    assert (~ee.reportable).any() and ee.reportable.any()
    assert ee.loc[~ee.reportable, "estimate"].isna().all()
    assert (ee.loc[~ee.reportable, "note"] == "too_small").all()


def test_missing_attributes_are_skipped_and_registry_has_no_truth_metrics():
    frame = make_decisions(300, truth=False).drop(columns=["disability"])
    t = group_metrics(frame, by=["urban", "disability"], n_boot=10)
    assert t.attrs["missing_groups"] == ["disability"]
    assert set(t.subject) == {"model", "rules", "model_within_rules", "model_vs_rules"}
    assert set(t.metric) == {"coverage", "agreement", "model_not_rules", "rules_not_model"}


def test_estimates_equal_fairlearns_metricframe_household_by_household():
    """fairlearn's MetricFrame on one row per household, with the metric functions, is the reference."""
    from fairlearn.metrics import MetricFrame

    from targeting.audit.groups import household_states, metric_specs

    frame = make_decisions(1200, seed=5)
    frame.loc[frame.index % 7 == 0, "poor_true"] = None  # some households without a measured truth
    data = AuditData.from_frame(frame)
    table = group_metrics(data, by=["urban", "size_band"], intersections=True, min_cell=NO_MIN, n_boot=0)
    states = household_states(data)
    known = (states & 8) > 0
    specs = metric_specs(data.has_truth, data.subjects)
    w = data.rate_weight
    for attrs in (["urban"], ["size_band"], ["urban", "size_band"]):
        mf = MetricFrame(
            metrics={f"{s}.{m}": spec.function for (s, m), spec in specs.items()},
            y_true=(states & 4) > 0,
            y_pred=2 * data.selected.astype(int) + data.eligible,
            sensitive_features=frame[attrs].astype("string"),
            sample_params={f"{s}.{m}": {"sample_weight": np.where(known, w, 0.0) if spec.truth else w}
                           for (s, m), spec in specs.items()},
        )
        part = table[table.grouping == " × ".join(attrs)]
        for row in part.itertuples():
            key = row.value_1 if len(attrs) == 1 else (row.value_1, row.value_2)
            expected = mf.by_group.loc[key, f"{row.subject}.{row.metric}"]
            assert row.estimate == pytest.approx(expected, rel=1e-12, nan_ok=True), (attrs, key, row.metric)
            assert row.overall == pytest.approx(mf.overall[f"{row.subject}.{row.metric}"], rel=1e-12)
