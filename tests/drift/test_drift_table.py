"""Per-indicator drift tables on tiny surveys whose every PSI, test and flag was worked out by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import stats

from targeting.drift import (
    TABLE_COLUMNS,
    DriftThresholds,
    indicator_drift,
    load_thresholds,
    prediction_drift,
    survey_drift,
)
from targeting.errors import SpecError

from .factory import survey

# Two bins for numbers so that the rooms case stays small enough to work by hand.
T = DriftThresholds(numeric_bins=2)


def reference(repeat: int = 1):
    return survey("ref", floor=["earth", "earth", "tile", "tile"], rooms=[1, 2, 3, 4], tv=[0, 0, 1, 1],
                  repeat=repeat)


def current(repeat: int = 1):
    return survey("cur", floor=["earth", "tile", "tile", "tile"], rooms=[1, 1, 1, 2], tv=[0, 0, 1, 1],
                  repeat=repeat)


def test_every_cell_of_a_four_household_comparison():
    res = indicator_drift(reference(), current(), thresholds=T)
    assert list(res.table.columns) == list(TABLE_COLUMNS)
    floor, rooms, tv = (res.row(n) for n in ("floor", "rooms", "tv"))

    # floor: earth 1/2 -> 1/4, tile 1/2 -> 3/4; PSI = 0.25 ln 3 = 0.2747 (major band).
    assert floor.psi == pytest.approx(0.25 * math.log(3))
    assert floor.level == "major"
    assert floor.n_bins == 2  # the missing bin is empty on both sides
    # chi-square on counts [[2, 2], [1, 3]] = 8/15, 1 dof, p = 0.465: noise at n = 4, so no flag.
    assert floor.test == "chi2"
    assert floor.statistic == pytest.approx(8 / 15)
    assert floor.p_value == pytest.approx(stats.chi2.sf(8 / 15, 1))
    assert not floor.significant
    assert floor.flag == "stable"
    assert (floor.top_bin, floor.top_bin_reference, floor.top_bin_current) == ("earth", 0.5, 0.25)

    # rooms: the reference median is 2 -> bins <= 2 and > 2 with shares 1/2, 1/2; the current 1, 0.
    # PSI = (1 - 0.5) ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.3466 + 4.2577 = 4.6043
    assert rooms.psi == pytest.approx(0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5))
    assert rooms.psi == pytest.approx(4.604319, abs=1e-6)
    assert rooms.top_bin == "> 2"
    # KS: F_ref(1) = 1/4 vs F_cur(1) = 3/4, F_ref(2) = 1/2 vs 1: D = 1/2; SciPy's asymptotic p.
    assert rooms.test == "ks"
    assert rooms.statistic == pytest.approx(0.5)
    assert rooms.p_value == pytest.approx(stats.ks_2samp([1, 2, 3, 4], [1, 1, 1, 2], method="asymp").pvalue)
    assert (rooms.mean_reference, rooms.mean_current) == (2.5, 1.25)

    # tv: identical shares: PSI 0, chi-square 0, p 1.
    assert (tv.psi, tv.statistic, tv.p_value, tv.flag) == (0.0, 0.0, 1.0, "stable")

    # Benjamini-Hochberg over the three p-values.
    np.testing.assert_allclose(res.table["p_adjusted"],
                               stats.false_discovery_control(res.table["p_value"].to_numpy()))
    assert res.flagged() == []


def test_same_shift_in_a_larger_sample_is_flagged():
    # 100 copies of each household: shares (and PSI) unchanged, chi-square 100 x 8/15 = 53.3.
    res = indicator_drift(reference(100), current(100), thresholds=T)
    floor = res.row("floor")
    assert floor.psi == pytest.approx(0.25 * math.log(3))
    assert floor.statistic == pytest.approx(400 * 8 / 60)
    assert floor.significant
    assert floor.flag == "major"
    assert floor.psi_null == pytest.approx(1 / 400 + 1 / 400)
    assert res.flagged() == ["floor", "rooms"]
    assert res.flagged("major") == ["floor", "rooms"]


def test_without_the_significance_guard_the_band_is_the_flag():
    lenient = T.model_copy(update={"require_significance": False})
    res = indicator_drift(reference(), current(), thresholds=lenient)
    assert res.row("floor").flag == "major"


def test_moderate_band_and_weights():
    # Reference earth 1/2; current earth weighted 2 of 5 = 0.4:
    # PSI = (0.4 - 0.5) ln(0.8) + (0.6 - 0.5) ln(1.2) = 0.1 ln 1.5 = 0.0405: stable.
    cur = survey("cur", floor=["earth", "tile", "tile"], rooms=[1, 2, 3], tv=[0, 1, 1], weight=[2, 1.5, 1.5])
    res = indicator_drift(reference(), cur, thresholds=T)
    assert res.row("floor").psi == pytest.approx(0.1 * math.log(1.5))
    assert res.row("floor").level == "stable"
    # Earth 1/2 -> 1/5 (weight 1 of 5): (0.2 - 0.5) ln 0.4 + (0.8 - 0.5) ln 1.6
    cur = survey("cur", floor=["earth", "tile"], rooms=[1, 2], tv=[0, 1], weight=[1, 4])
    psi = indicator_drift(reference(), cur, thresholds=T).row("floor").psi
    assert psi == pytest.approx((0.2 - 0.5) * math.log(0.4) + (0.8 - 0.5) * math.log(1.6))
    # Earth 1/2 -> 1/3: (1/3 - 1/2) ln(2/3) + (2/3 - 1/2) ln(4/3) = (1/6) ln 2 = 0.1155: moderate.
    cur = survey("cur", floor=["earth", "tile"], rooms=[1, 2], tv=[0, 1], weight=[1, 2])
    row = indicator_drift(reference(), cur, thresholds=T).row("floor")
    assert row.psi == pytest.approx((1 / 6) * math.log(2))
    assert row.level == "moderate"


def test_person_weights_count_members():
    # By persons: the reference's sizes 3, 1, 2, 2 give earth 4 of 8 and tile 4 of 8; the current's
    # sizes 1, 1, 1, 5 give earth 1 of 8 and tile 7 of 8.
    ref = survey("ref", floor=["earth", "earth", "tile", "tile"], rooms=[1, 2, 3, 4], tv=[0, 0, 1, 1],
                 size=[3, 1, 2, 2])
    cur = survey("cur", floor=["earth", "tile", "tile", "tile"], rooms=[1, 1, 1, 2], tv=[0, 0, 1, 1],
                 size=[1, 1, 1, 5])
    by_person = indicator_drift(ref, cur, thresholds=T, unit="person").row("floor")
    expected = (1 / 8 - 1 / 2) * math.log(1 / 4) + (7 / 8 - 1 / 2) * math.log(7 / 4)
    assert by_person.psi == pytest.approx(expected)
    by_household = indicator_drift(ref, cur, thresholds=T, unit="household").row("floor")
    assert by_household.psi == pytest.approx(0.25 * math.log(3))


def test_missing_values_and_new_codes_are_bins_of_their_own():
    cur = survey("cur", floor=["earth", "tile", None, None], rooms=[1, 2, np.nan, 4], tv=[0, 1, np.nan, 1])
    res = indicator_drift(reference(), cur, thresholds=T)
    bins = res.bins[res.bins["indicator"] == "floor"].set_index("bin")
    assert bins.loc["missing", "current_share"] == 0.5
    assert bins.loc["missing", "reference_share"] == 0.0
    # earth and tile 1/2 -> 1/4 each, missing 0 -> 1/2 (floored at 1e-4):
    expected = 2 * (-0.25) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert res.row("floor").psi == pytest.approx(expected)
    assert res.row("floor").missing_current == 0.5
    assert res.row("rooms").missing_current == 0.25


def test_a_code_the_reference_never_had_is_its_own_bin():
    ref = reference()
    cur = current()
    features = cur.features.copy()
    features["floor"] = features["floor"].cat.add_categories(["bamboo"])
    features.loc[0, "floor"] = "bamboo"
    cur = type(cur)(**{**cur.__dict__, "features": features})
    bins = indicator_drift(ref, cur, thresholds=T).bins.set_index(["indicator", "bin"])
    assert bins.loc[("floor", "bamboo"), "current_share"] == 0.25
    assert bins.loc[("floor", "bamboo"), "reference_share"] == 0.0


def test_indicators_only_one_side_has_are_listed_not_compared():
    cur = current()
    features = cur.features.drop(columns=["tv"]).assign(lamp=1.0)
    cur = type(cur)(**{**cur.__dict__, "features": features,
                       "feature_types": {"floor": "categorical", "rooms": "numeric", "lamp": "binary"}})
    res = indicator_drift(reference(), cur, thresholds=T)
    assert res.table["indicator"].tolist() == ["floor", "rooms"]
    assert (res.only_reference, res.only_current) == (("tv",), ("lamp",))


def test_an_indicator_that_changed_type_is_an_error():
    cur = current()
    cur = type(cur)(**{**cur.__dict__, "feature_types": {**cur.feature_types, "rooms": "categorical"}})
    with pytest.raises(SpecError, match="'rooms' is numeric in 'ref' but categorical in 'cur'"):
        indicator_drift(reference(), cur, thresholds=T)


def test_prediction_drift_bins_are_reference_deciles():
    # Reference predictions 1..10 (unit weights): deciles put one value in each bin. The current
    # population sits at 1 and 2: shares 1/2, 1/2 in the first two reference desil, 0 elsewhere.
    t = DriftThresholds(numeric_bins=10)
    row, bins = prediction_drift(np.arange(1.0, 11), [1.0, 2.0], reference_weight=np.ones(10),
                                 current_weight=[1.0, 1.0], thresholds=t)
    assert len(bins) == 10
    expected = 2 * (0.5 - 0.1) * math.log(5) + 8 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert row["psi"].iloc[0] == pytest.approx(expected)
    assert row["kind"].iloc[0] == "prediction"
    # F_ref(2) = 0.2 vs F_cur(2) = 1: D = 0.8
    assert row["statistic"].iloc[0] == pytest.approx(0.8)


class _ConstantModel:
    """A fitted-model stand-in: predicts 'rooms' as log welfare."""

    class schema_:  # noqa: N801 - mimics the fitted attribute
        names = ("floor", "rooms", "tv")

    def predict(self, X):
        return X["rooms"].to_numpy(dtype=float)


def test_survey_drift_adds_prediction_and_welfare_rows_and_flat_metrics():
    ref = survey("ref", floor=["earth", "tile"], rooms=[1, 2], tv=[0, 1], welfare=[100, 200], repeat=50)
    cur = survey("cur", floor=["earth", "tile"], rooms=[1, 2], tv=[0, 1], welfare=[110, 220], repeat=50)
    res = survey_drift(ref, cur, model=_ConstantModel(), thresholds=T)
    assert res.table["indicator"].tolist() == ["floor", "rooms", "tv", "predicted_log_welfare", "log_welfare"]
    assert res.row("predicted_log_welfare").psi == 0.0
    # log welfare: reference median ln 100 -> bins <= ln 100 / above; the current's 110 and 220 are
    # both above: shares (1/2, 1/2) -> (0, 1) = 4.6043 as for rooms.
    assert res.row("log_welfare").psi == pytest.approx(4.604319, abs=1e-6)
    m = res.flat_metrics()
    assert m["drift.psi.floor"] == 0.0
    assert m["drift.n_indicators"] == 3
    assert m["drift.n_flag_major"] == 0
    assert m["drift.prediction.psi"] == 0.0
    assert m["drift.welfare.psi"] == pytest.approx(4.604319, abs=1e-6)
    frame = res.to_frame()
    assert frame[["reference", "current"]].iloc[0].tolist() == ["ref", "cur"]


def test_metric_keys_replace_characters_mlflow_refuses():
    cur = current()
    features = cur.features.rename(columns={"rooms": "rooms (m²)"})
    types = {"floor": "categorical", "rooms (m²)": "numeric", "tv": "binary"}
    ref = reference()
    ref = type(ref)(**{**ref.__dict__, "features": ref.features.rename(columns={"rooms": "rooms (m²)"}),
                       "feature_types": types})
    cur = type(cur)(**{**cur.__dict__, "features": features, "feature_types": types})
    keys = indicator_drift(ref, cur, thresholds=T).flat_metrics()
    assert "drift.psi.rooms _m__" in keys


def test_packaged_thresholds_are_the_convention():
    t = load_thresholds(as_of=date(2027, 1, 1))
    got = (t.psi_moderate, t.psi_major, t.numeric_bins, t.alpha, t.correction)
    assert got == (0.10, 0.25, 10, 0.05, "bh")
    assert t.require_significance
    with pytest.raises(SpecError, match="no value in force on 2020-01-01"):
        load_thresholds(as_of=date(2020, 1, 1))


def test_thresholds_file_errors_name_the_file_and_field(tmp_path):
    from importlib import resources

    text = resources.files("targeting.drift").joinpath("thresholds.yaml").read_text("utf-8")
    bad = tmp_path / "t.yaml"
    bad.write_text(text.replace("2026-12-01: 0.25", "2026-12-01: 0.05"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"t\.yaml: on 2027-01-01: .*psi_moderate 0.1 must be below"):
        load_thresholds(bad, as_of=date(2027, 1, 1))
    bad.write_text(text.replace("2026-12-01: bh", "2026-12-01: bonferroni"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"t\.yaml: thresholds\.correction\.values"):
        load_thresholds(bad, as_of=date(2027, 1, 1))
