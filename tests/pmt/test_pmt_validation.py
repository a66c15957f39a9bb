from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from targeting.audit import (
    auc_weighted,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    r2_weighted,
    spearman_weighted,
)
from targeting.errors import InputFileError, SpecError
from targeting.pmt import PMTRegressor
from targeting.pmt.ranking import select_coverage
from targeting.pmt.validation import (
    compare_backends,
    cross_validate,
    design_frame,
    evaluate_predictions,
    log_welfare,
    plot_targeting_curve,
    poor_flags,
    size_feature,
    targeting_curve,
    temporal_validation,
)


def _prediction_frame(survey, preds: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "household_id": survey.household_id,
            "fold": 0,
            "region": survey.region,
            "cluster": survey.cluster,
            "weight": survey.weight,
            "household_size": survey.household_size,
            "log_welfare": log_welfare(survey),
            "poor": survey.poor,
            "poverty_line": survey.poverty_line,
        }
    )
    for k, v in preds.items():
        frame[f"pred_{k}"] = v
    return frame


@pytest.fixture(scope="module")
def noisy_predictions(small_survey):
    y = log_welfare(small_survey)
    rng = np.random.default_rng(5)
    good = y + rng.normal(scale=0.3, size=len(y))
    tied = np.round(y + rng.normal(scale=0.5, size=len(y)), 1)  # many ties
    return _prediction_frame(small_survey, {"ols": good, "tied": tied})


@pytest.mark.parametrize("unit", ["person", "household"])
def test_point_estimates_equal_the_audit_metrics(noisy_predictions, unit):
    pred = noisy_predictions
    table = evaluate_predictions(
        pred,
        ["ols", "tied"],
        coverages=["poverty_rate", 0.3, "poverty_line"],
        n_bootstrap=0,
        unit=unit,
    )
    w = pred["weight"].to_numpy() * (pred["household_size"].to_numpy() if unit == "person" else 1)
    y = pred["log_welfare"].to_numpy()
    poor = pred["poor"].to_numpy()
    rate = w[poor].sum() / w.sum()
    for backend in ["ols", "tied"]:
        p = pred[f"pred_{backend}"].to_numpy()
        got = table[table["backend"] == backend].set_index(["metric", "coverage_label"])["estimate"]
        assert got[("spearman", "")] == pytest.approx(spearman_weighted(y, p, sample_weight=w))
        assert got[("r2_log_welfare", "")] == pytest.approx(r2_weighted(y, p, sample_weight=w))
        assert got[("auc_poor", "")] == pytest.approx(auc_weighted(poor, p, sample_weight=w))
        by_line = np.exp(p) < pred["poverty_line"].to_numpy()
        for label, sel in (
            ("poverty rate", select_coverage(p, w, rate)),
            ("30%", select_coverage(p, w, 0.3)),
            ("poverty line", by_line),
        ):
            for metric, fn in (
                ("exclusion_error", exclusion_error_rate),
                ("inclusion_error", inclusion_error_rate),
                ("inclusion_error_nonpoor", inclusion_error_rate_nonpoor),
            ):
                assert got[(metric, label)] == pytest.approx(fn(poor, sel, sample_weight=w)), metric
        line_row = table[(table["backend"] == backend) & (table["coverage_label"] == "poverty line")]
        assert line_row["coverage"].iloc[0] == pytest.approx(w @ by_line / w.sum())


def test_bootstrap_is_seeded_paired_and_brackets_the_estimate(noisy_predictions):
    a = evaluate_predictions(noisy_predictions, ["ols", "tied"], n_bootstrap=200, seed=3)
    b = evaluate_predictions(noisy_predictions, ["ols", "tied"], n_bootstrap=200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    spear = a[a["metric"] == "spearman"].set_index("backend")
    for backend in ["ols", "tied"]:
        row = spear.loc[backend]
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
    # "tied" is much noisier than "ols": the paired difference is clearly negative
    assert spear.loc["tied", "diff_vs_baseline"] < 0 and spear.loc["tied", "diff_ci_high"] < 0
    assert np.isnan(spear.loc["ols", "diff_vs_baseline"])


def test_identity_inclusion_equals_exclusion_at_the_poverty_rate(noisy_predictions):
    t = evaluate_predictions(noisy_predictions, ["ols"], n_bootstrap=0)
    at_rate = t[t["coverage_label"] == "poverty rate"].set_index("metric")["estimate"]
    # equal up to the population of the one household straddling the cut-off
    w = noisy_predictions["weight"] * noisy_predictions["household_size"]
    poor_pop = w[noisy_predictions["poor"]].sum()
    tol = w.max() / poor_pop
    assert at_rate["exclusion_error"] == pytest.approx(at_rate["inclusion_error"], abs=tol)


def test_cross_validation_never_trains_on_its_test_fold(small_survey, fast_params):
    seen: list[np.ndarray] = []

    class Spy(PMTRegressor):
        def fit(self, X, y, sample_weight=None, *, groups=None):
            seen.append(X.index.to_numpy())
            return super().fit(X, y, sample_weight, groups=groups)

    result = cross_validate(small_survey, {"ols": Spy()}, n_splits=4, n_bootstrap=20, coverages=[0.3])
    folds = result.predictions["fold"].to_numpy()
    assert len(seen) == 4
    for k, train_rows in enumerate(seen):
        assert set(train_rows).isdisjoint(np.nonzero(folds == k)[0])
        assert len(train_rows) + (folds == k).sum() == len(small_survey)
    # whole clusters per fold
    per_cluster = result.predictions.groupby("cluster")["fold"].nunique()
    assert per_cluster.max() == 1
    assert result.predictions["pred_ols"].notna().all()


def test_cross_validate_all_backends_small(small_survey, fast_params):
    result = cross_validate(small_survey, params=fast_params, n_splits=3, n_bootstrap=30)
    assert result.backends == ("ols", "lightgbm", "quantile", "ensemble")
    t = result.table
    assert set(t["metric"]) == {
        "spearman",
        "r2_log_welfare",
        "auc_poor",
        "exclusion_error",
        "inclusion_error",
        "inclusion_error_nonpoor",
    }
    assert set(t["coverage_label"]) == {"", "poverty rate", "20%", "30%", "40%", "poverty line"}
    assert len(t) == 4 * (3 + 5 * 3)
    spear = t[t["metric"] == "spearman"].set_index("backend")["estimate"]
    assert (spear > 0.6).all()  # the toy model explains most of the rank order
    records = result.records()
    assert records[0]["dataset"] == small_survey.name and records[0]["coverage"] is None


def test_temporal_validation_equals_fit_on_train_predict_test(survey, small_survey):
    result = temporal_validation(survey, small_survey, ["ols"], n_bootstrap=10)
    model = PMTRegressor(size_feature="household_size").fit(
        design_frame(survey), log_welfare(survey), survey.weight
    )
    want = model.predict(design_frame(small_survey))
    np.testing.assert_allclose(result.predictions["pred_ols"], want)
    assert result.dataset == "toy -> toy"


def test_temporal_validation_refuses_missing_features(survey, small_survey):
    test = dataclasses.replace(small_survey, features=small_survey.features.drop(columns="urban"))
    with pytest.raises(SpecError, match="urban"):
        temporal_validation(survey, test, ["ols"], n_bootstrap=0)


def test_compare_backends_layout(noisy_predictions):
    t = evaluate_predictions(noisy_predictions, ["tied", "ols"], n_bootstrap=50)
    side = compare_backends(t)
    assert list(side.columns) == ["ols", "tied", "Δ tied"]
    assert side.index[0] == "spearman" and "exclusion_error @ 20%" in side.index
    assert side.loc["spearman", "ols"].count("[") == 1
    assert side.loc["spearman", "Δ tied"].startswith("-")
    numeric = compare_backends(t, formatted=False)
    est = t[(t["metric"] == "spearman") & (t["backend"] == "tied")]["estimate"].item()
    assert numeric.loc["spearman", "tied"] == est


def test_targeting_curve_and_plot(noisy_predictions, tmp_path):
    curve = targeting_curve(noisy_predictions, ["ols"])
    assert set(curve["backend"]) == {"ols", "true welfare"}
    assert curve["coverage"].min() == 0.05 and curve["coverage"].max() == 0.95
    perfect = curve[curve["backend"] == "true welfare"].set_index("coverage")
    # ranking by true welfare excludes nobody once coverage exceeds the poverty rate (~15%)
    assert perfect.loc[0.3, "exclusion_error"] == 0.0
    ols = curve[curve["backend"] == "ols"]
    assert np.all(np.diff(ols["exclusion_error"].to_numpy()) <= 1e-12)
    path = plot_targeting_curve(curve, tmp_path / "fig" / "curve.png", poverty_rate=0.15)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_poor_flags_precedence(small_survey):
    # The survey's truth (welfare below its line) is decided once, when the spec is read.
    flag = small_survey.poor.to_numpy()
    np.testing.assert_array_equal(flag, small_survey.welfare < small_survey.poverty_line)
    np.testing.assert_array_equal(poor_flags(small_survey), flag)
    no_flag = dataclasses.replace(small_survey, poor=None)
    bottom = poor_flags(no_flag)
    pop = small_survey.population_weight.to_numpy()
    assert pop[bottom].sum() / pop.sum() == pytest.approx(0.2, abs=pop.max() / pop.sum())
    share = poor_flags(small_survey, poor_share=0.4)
    assert pop[share].sum() / pop.sum() == pytest.approx(0.4, abs=pop.max() / pop.sum())


def test_design_frame_adds_region_once(small_survey):
    X = design_frame(small_survey)
    assert list(X.columns) == list(small_survey.features.columns)  # kecamatan already is the region
    no_region_feature = dataclasses.replace(
        small_survey, features=small_survey.features.drop(columns="kecamatan")
    )
    X2 = design_frame(no_region_feature)
    assert X2.columns[-1] == "region" and isinstance(X2["region"].dtype, pd.CategoricalDtype)
    assert size_feature(small_survey) == "household_size"


def test_log_welfare_refuses_non_positive(small_survey):
    bad = small_survey.welfare.copy()
    bad.iloc[7] = 0.0
    with pytest.raises(InputFileError, match="row 7"):
        log_welfare(dataclasses.replace(small_survey, welfare=bad))


def test_parallel_folds_give_the_same_predictions(small_survey):
    kwargs = {"n_splits": 3, "n_bootstrap": 0, "coverages": [0.3]}
    serial = cross_validate(small_survey, ["ols"], **kwargs)
    parallel = cross_validate(small_survey, ["ols"], n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(serial.predictions, parallel.predictions)


def test_missing_clusters_are_their_own_units(small_survey):
    cluster = small_survey.cluster.copy()
    cluster.iloc[:50] = pd.NA
    data = dataclasses.replace(small_survey, cluster=cluster)
    result = cross_validate(data, ["ols"], n_splits=3, n_bootstrap=20, coverages=[0.3])
    assert result.predictions["pred_ols"].notna().all()
    assert result.table["ci_low"].notna().all()
