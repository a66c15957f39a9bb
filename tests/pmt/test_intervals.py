from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_survey  # tests/pmt is a rootdir of its own (no __init__)
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import ModelIntegrityError, SpecError
from targeting.pmt import PMTRegressor
from targeting.pmt.intervals import (
    INTERVALS_FILE,
    WelfareIntervals,
    cqr_interval,
    cqr_scores,
    effective_size,
    fit_intervals,
    interval_groups,
    load_intervals,
    mondrian_levels,
    save_intervals,
    weighted_quantile,
)
from targeting.pmt.validation import design_frame, log_welfare

# ---- weighted quantiles, worked by hand ----------------------------------------------------------


def test_weighted_quantile_by_hand():
    # Sorted: 1 (w 1), 2 (w 2), 3 (w 1), 4 (w 0, ignored); cumulative shares .25, .75, 1.
    values, weights = [3.0, 1.0, 2.0, 4.0], [1.0, 1.0, 2.0, 0.0]
    got = weighted_quantile(values, [0.0, 0.25, 0.26, 0.75, 0.76, 1.0], weights)
    np.testing.assert_array_equal(got, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    st.lists(st.floats(0, 1), min_size=1, max_size=5),
)
def test_weighted_quantile_with_unit_weights_is_numpys_inverted_cdf(values, probs):
    expected = np.quantile(np.asarray(values), np.asarray(probs), method="inverted_cdf")
    np.testing.assert_array_equal(weighted_quantile(values, probs), expected)


def test_weighted_quantile_integer_weights_equal_repetition():
    v = np.array([0.3, -1.2, 2.5, 0.0])
    w = np.array([3, 1, 2, 4])
    probs = np.linspace(0, 1, 21)
    np.testing.assert_array_equal(
        weighted_quantile(v, probs, w), np.quantile(np.repeat(v, w), probs, method="inverted_cdf")
    )


def test_effective_size():
    assert effective_size([1.0, 1.0, 2.0]) == pytest.approx(16 / 6)
    assert effective_size(np.full(7, 3.0)) == pytest.approx(7)


# ---- Mondrian cells and their fallback -----------------------------------------------------------


def _groups(spec: list[tuple[str, bool, int]]) -> pd.DataFrame:
    rows = [(k, u) for k, u, n in spec for _ in range(n)]
    return pd.DataFrame(rows, columns=["region", "urban"])


def test_mondrian_levels():
    assert mondrian_levels(["region", "urban"]) == (("region", "urban"), ("region",), ("urban",))
    assert mondrian_levels(["rural"]) == (("rural",),)
    assert mondrian_levels([]) == ()


def test_fallback_rule_finest_large_enough_cell_else_coarser_else_all():
    # a×urban 50 (own cell), a×rural 10 (too small -> region a, 60), b×urban 10 + b×rural 10
    # (b has 20 < 30 -> urban/rural: urban 60, rural 20 < 30 -> the whole survey).
    g = _groups([("a", True, 50), ("a", False, 10), ("b", True, 10), ("b", False, 10)])
    r = np.random.default_rng(0).normal(size=len(g))
    cal = WelfareIntervals(min_group_size=30).fit(r, g)
    table = cal.cell_table()
    assert set(table["cell"]) == {"(semua / all)", "a × true", "a", "true"}
    score = pd.DataFrame(
        {
            "region": ["a", "a", "b", "b", "zz", None],
            "urban": [True, False, True, False, True, True],
        }
    )
    cells = cal.assign(score)
    names = [table["cell"][c] for c in cells]
    # unseen kecamatan 'zz' and a missing kecamatan fall back to urban's cell.
    assert names == ["a × true", "a", "true", "(semua / all)", "true", "true"]


def test_cell_quantiles_use_only_its_households():
    g = _groups([("a", True, 400), ("b", True, 400)])
    r = np.r_[np.linspace(-1, 1, 400), np.linspace(-3, 3, 400)]
    cal = WelfareIntervals([("region",)], min_group_size=100).fit(r, g)
    lo, hi = cal.interval(np.zeros(2), pd.DataFrame({"region": ["a", "b"]}), 0.5)
    assert hi[1] / hi[0] == pytest.approx(3, rel=0.02)
    assert lo[0] == pytest.approx(-hi[0], abs=0.01)


def test_missing_group_column_is_a_clear_error():
    cal = WelfareIntervals(min_group_size=5).fit(np.arange(20.0), _groups([("a", True, 20)]))
    with pytest.raises(SpecError, match="urban"):
        cal.interval(np.zeros(3), pd.DataFrame({"region": ["a"] * 3}))


def test_group_values_match_across_dtypes():
    """A survey read from CSV (text '1') and a registry from Parquet (bool) find the same cell."""
    r = np.random.default_rng(1).normal(size=100)
    cal = WelfareIntervals([("urban",)], min_group_size=10).fit(r, {"urban": np.r_[[1.0] * 50, [0.0] * 50]})
    a = cal.assign({"urban": np.array(["1", "0"], dtype=object)})
    b = cal.assign({"urban": pd.array([1, 0], dtype="Int64")})
    assert list(a) == list(b) and a[0] != a[1] and 0 not in a


# ---- agreement with MAPIE (unit weights, one group) ----------------------------------------------


def test_split_bounds_equal_mapies_signed_split_conformal():
    from mapie.conformity_scores import AbsoluteConformityScore
    from mapie.regression import SplitConformalRegressor
    from sklearn.dummy import DummyRegressor

    rng = np.random.default_rng(3)
    # (n + 1)(1 − α/2) not a whole number: there the lower bound is one order statistic wider than MAPIE's.
    n, level = 398, 0.9
    y_cal = rng.gumbel(size=n)  # skewed: the two tails differ
    X_cal = np.zeros((n, 1))
    model = DummyRegressor(strategy="constant", constant=0.0).fit(X_cal, y_cal)
    mapie = SplitConformalRegressor(
        model, confidence_level=level, conformity_score=AbsoluteConformityScore(sym=False), prefit=True
    ).conformalize(X_cal, y_cal)
    _, bounds = mapie.predict_interval(np.zeros((1, 1)))
    tau = (1 - (1 - level) / 2) * (n + 1) / n
    cal = WelfareIntervals((), probs=[1 - tau, 0.5, tau]).fit(y_cal)
    lo, hi = cal.interval(np.zeros(1), None, level)
    assert lo[0] == pytest.approx(bounds[0, 0, 0], abs=1e-6)
    assert hi[0] == pytest.approx(bounds[0, 1, 0], abs=1e-6)


# ---- invariants ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated() -> tuple[WelfareIntervals, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 3000
    g = pd.DataFrame({"region": rng.choice(["a", "b", "c"], n), "urban": rng.random(n) < 0.4})
    sd = np.where(g["region"] == "a", 0.2, 0.5) * np.where(g["urban"], 0.8, 1.0)
    r = rng.standard_t(5, n) * sd
    w = rng.uniform(0.5, 2.0, n)
    return WelfareIntervals(min_group_size=300).fit(r, g, w), g


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.05, 0.98),
    st.floats(0.0, 0.2),
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=20),
)
def test_wider_nominal_level_never_gives_a_narrower_interval(calibrated, level, extra, preds):
    cal, g = calibrated
    wider = min(level + extra, 0.985)
    groups = g.iloc[: len(preds)].reset_index(drop=True)
    lo1, hi1 = cal.interval(np.asarray(preds), groups, level)
    lo2, hi2 = cal.interval(np.asarray(preds), groups, wider)
    assert np.all(lo2 <= lo1) and np.all(hi2 >= hi1)
    assert np.all(lo1 <= np.asarray(preds) + 1e-9) or level < 0.1  # a central interval holds the median


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False), min_size=2, max_size=30), st.floats(-2, 2))
def test_prob_below_is_monotone_in_the_cut_and_bounded(calibrated, cuts, pred):
    cal, g = calibrated
    cuts_sorted = np.sort(np.asarray(cuts))
    groups = pd.concat([g.iloc[[0]]] * len(cuts_sorted), ignore_index=True)
    p = cal.prob_below(np.full(len(cuts_sorted), pred), cuts_sorted, groups)
    assert np.all(np.diff(p) >= 0)
    assert np.all((p >= 0.001 - 1e-12) & (p <= 0.999 + 1e-12))
    # Raising the prediction never raises the probability of being below a fixed cut.
    q = cal.prob_below(np.full(len(cuts_sorted), pred + 0.3), cuts_sorted, groups)
    assert np.all(q <= p + 1e-12)


def test_prob_below_inverts_the_quantile_grid(calibrated):
    # Without ties (a large cell) the two are exact inverses ...
    big = WelfareIntervals(()).fit(np.random.default_rng(5).normal(size=200_000))
    pred = np.linspace(-1, 1, 50)
    for prob in (0.003, 0.05, 0.3, 0.5, 0.9, 0.99):
        np.testing.assert_allclose(big.prob_below(pred, big.quantile(pred, None, prob)), prob, atol=1e-9)
    # ... in a cell of a few hundred, a grid step can hold no new residual: the CDF is then a step.
    cal, g = calibrated
    pred = np.linspace(-1, 1, len(g))
    n_min = min(c.n_eff for c in cal.cells_)
    for prob in (0.05, 0.3, 0.5, 0.9):
        got = cal.prob_below(pred, cal.quantile(pred, g, prob), g)
        assert np.all(np.abs(got - prob) <= 1 / n_min + 0.005)


# ---- coverage where the truth is known -----------------------------------------------------------


def _simulate(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    g = pd.DataFrame({"region": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
                      "urban": rng.random(n) < 0.35})
    by_region = g["region"].map({"a": 0.25, "b": 0.4, "c": 0.6, "d": 0.9}).to_numpy()
    scale = by_region * np.where(g["urban"], 0.7, 1)
    resid = (rng.gumbel(size=n) - 0.5772) * scale  # skewed and heteroscedastic by group
    w = np.where(g["urban"], 50.0, 150.0) * rng.uniform(0.8, 1.2, n)
    return g, resid, w


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_group_coverage_holds_within_binomial_tolerance(level):
    rng = np.random.default_rng(20)
    g_cal, r_cal, w_cal = _simulate(rng, 12_000)
    g_new, r_new, w_new = _simulate(rng, 40_000)
    cal = WelfareIntervals(min_group_size=400).fit(r_cal, g_cal, w_cal)
    pred = rng.normal(size=len(g_new))  # any prediction: only the residual matters
    lo, hi = cal.interval(pred, g_new, level)
    inside = (pred + r_new >= lo) & (pred + r_new <= hi)
    cells = cal.assign(g_new)
    for c in np.unique(cells):
        m = cells == c
        n_cal = cal.cells_[c].n_eff
        n_new = effective_size(w_new[m])
        # Calibration quantile noise plus evaluation noise, both binomial; 4 SD.
        tol = 4 * np.sqrt(level * (1 - level) * (1 / n_cal + 1 / n_new))
        cov = np.average(inside[m], weights=w_new[m])
        assert abs(cov - level) < tol, (cal.cells_[c].key, cov, tol)
    # The heteroscedasticity is real: a single pooled calibration under-covers group d.
    pooled = WelfareIntervals(()).fit(r_cal, None, w_cal)
    plo, phi = pooled.interval(pred, None, level)
    d = (g_new["region"] == "d").to_numpy()
    pooled_cov = np.average(((pred + r_new >= plo) & (pred + r_new <= phi))[d], weights=w_new[d])
    assert pooled_cov < level - 0.05


def test_fit_intervals_end_to_end_covers_new_villages():
    train, test = make_survey(2500, seed=3), make_survey(5000, seed=4)
    est = PMTRegressor("ols", size_feature="household_size")
    cal = fit_intervals(est, train, group_columns=("urban", "no_schooling"), min_group_size=200)
    assert cal.levels_ == (("urban", "no_schooling"), ("urban",), ("no_schooling",))
    y_train = log_welfare(train)
    persons = train.population_weight.to_numpy()
    b = cal.welfare_desil_boundaries
    assert b is not None and len(b) == 9 and np.all(np.diff(b) > 0)
    assert np.sum(persons[y_train < b[3]]) / persons.sum() == pytest.approx(0.4, abs=0.01)
    model = PMTRegressor("ols", size_feature="household_size").fit(
        design_frame(train), log_welfare(train), train.weight
    )
    pred = model.predict(design_frame(test))
    y = log_welfare(test)
    groups = interval_groups(test, ("urban", "no_schooling"))
    lo, hi = cal.interval(pred, groups, 0.9)
    w = test.weight.to_numpy()
    inside = (y >= lo) & (y <= hi)
    school = groups["no_schooling"].to_numpy(dtype=bool)
    # Noise is twice as wide without schooling: their intervals are wider and still cover.
    assert np.median((hi - lo)[school]) > 1.5 * np.median((hi - lo)[~school])
    for m in (school, ~school):
        tol = 4 * np.sqrt(0.09 * (1 / 200 + 1 / effective_size(w[m])))
        assert abs(np.average(inside[m], weights=w[m]) - 0.9) < tol


# ---- CQR -----------------------------------------------------------------------------------------


def test_cqr_scores_and_interval_by_hand():
    y = np.array([1.0, 2.0, 5.0])
    np.testing.assert_array_equal(cqr_scores(y, [0.0, 2.5, 1.0], [3.0, 3.0, 4.0]), [-1.0, 0.5, 1.0])
    scores = np.linspace(-1, 1, 999)
    cal = WelfareIntervals(()).fit(scores)
    lo, hi = cqr_interval([0.0], [1.0], cal, None, 0.5)
    # Corrected level 0.5 x 1000/999 = 0.5005, rounded outwards to the grid's next point, 0.505.
    q = weighted_quantile(scores, 0.505)
    assert (lo[0], hi[0]) == pytest.approx((-q, 1 + q), abs=1e-6)


# ---- JSON ----------------------------------------------------------------------------------------


def test_json_round_trip_is_identical(calibrated, tmp_path):
    cal, g = calibrated
    cal.info_["model_training_sha256"] = "abc"
    path = save_intervals(cal, tmp_path)
    assert path.name == INTERVALS_FILE
    back = load_intervals(tmp_path)
    assert back.to_dict() == cal.to_dict()
    assert json.loads(path.read_text())["schema_version"] == 1
    pred = np.linspace(-2, 2, len(g))
    for level in (0.8, 0.9):
        for a, b in zip(back.interval(pred, g, level), cal.interval(pred, g, level), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.prob_below(pred, 0.1, g), cal.prob_below(pred, 0.1, g))


def test_load_refuses_another_models_calibration_and_malformed_files(calibrated, tmp_path):
    cal, _ = calibrated
    cal.info_["model_training_sha256"] = "abc"
    save_intervals(cal, tmp_path)

    class Other:
        training_sha256_ = "def"

    with pytest.raises(ModelIntegrityError, match="calibrated for"):
        load_intervals(tmp_path, model=Other())
    state = cal.to_dict()
    state["cells"][1]["quantiles"] = state["cells"][1]["quantiles"][::-1]
    (tmp_path / INTERVALS_FILE).write_text(json.dumps(state))
    with pytest.raises(ModelIntegrityError, match="non-decreasing"):
        load_intervals(tmp_path)
    state = cal.to_dict() | {"schema_version": 99}
    (tmp_path / INTERVALS_FILE).write_text(json.dumps(state))
    with pytest.raises(ModelIntegrityError, match="schema version"):
        load_intervals(tmp_path)


def test_measurement_error_is_taken_out_of_the_residuals():
    # Residual = true-welfare part (sd 0.3) + survey measurement error (sd 0.4): total sd 0.5.
    rng = np.random.default_rng(8)
    n = 50_000
    part, error = rng.normal(0, 0.3, n), rng.normal(0, 0.4, n)
    measured = WelfareIntervals(()).fit(part + error)
    true = WelfareIntervals((), measurement_error_sd=0.4).fit(part + error)
    for cal, sd in ((measured, 0.5), (true, 0.3)):
        lo, hi = cal.interval(np.zeros(1), None, 0.9)
        assert hi[0] - lo[0] == pytest.approx(2 * 1.645 * sd, rel=0.03)
    assert WelfareIntervals.from_dict(true.to_dict()).measurement_error_sd == 0.4


_KEY_VALUES = st.one_of(st.none(), st.just(float("nan")), st.just(pd.NA), st.booleans(),
                        st.sampled_from(["Tenggarong", "Loa Kulu", "1", "true", ""]),
                        st.sampled_from([1.0, 2.0, 2.5, -0.0]), st.integers(-3, 3))


@settings(max_examples=200, deadline=None)
@given(st.lists(_KEY_VALUES, max_size=8), st.sampled_from(["object", "list", "bool", "float"]))
def test_group_keys_of_an_array_are_those_of_its_series(values, kind):
    """A group column given as an array (the scorer's interval groups) gets the keys a Series gets."""
    from targeting.pmt.intervals import _key_texts

    if kind == "bool":
        arr = np.array([bool(v) if isinstance(v, bool) else False for v in values], dtype=bool)
    elif kind == "float":
        arr = np.array([float(v) if isinstance(v, int | float) and v is not None else np.nan for v in values])
    else:
        arr = np.array(values, dtype=object)
    codes, texts = _key_texts(arr if kind != "list" else list(arr))
    s_codes, s_texts = _key_texts(pd.Series(arr))
    np.testing.assert_array_equal(codes, s_codes)
    assert texts == s_texts
