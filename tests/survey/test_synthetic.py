"""The calibrated synthetic Kukar survey, registry and ground truth."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import SpecError
from targeting.survey import synthetic
from targeting.survey.synthetic import (
    CALIBRATION_FILE,
    CONTRACT_FILE,
    POVERTY_LINE_KALTIM_2024,
    SyntheticKukar,
    calibration_table,
    generate,
    load_parameters,
    write,
)

CONTRACT = yaml.safe_load(CONTRACT_FILE.read_text(encoding="utf-8"))
FIELDS: dict[str, dict] = CONTRACT["fields"]
CODES: dict[str, dict] = CONTRACT["codes"]
WELFARE_COLUMNS = ["expenditure_pc", "weight"]
# Written only when village meetings are generated (share_of_desa > 0; the default is 0).
MEETING_COLUMNS = ["musdes_rank", "village_head_relative"]
INTERIOR = ["tabang", "kembang_janggut", "kenohan", "muara_wis", "muara_muntai"]
N_SURVEY, N_REGISTRY = 20_000, 40_000


@pytest.fixture(scope="module")
def data() -> SyntheticKukar:
    return generate(n_survey=N_SURVEY, n_registry=N_REGISTRY, seed=11)


@pytest.fixture(scope="module")
def registry_truth(data: SyntheticKukar) -> pd.DataFrame:
    return data.registry.merge(data.truth, on="household_id", validate="one_to_one")


@pytest.fixture(scope="module")
def cheap_params() -> synthetic.KukarParameters:
    """The packaged model with a smaller calibration draw (faster; for tests that need many draws)."""
    p = load_parameters()
    return dataclasses.replace(p, calibration={**p.calibration, "n_households": 60_000})


def poverty_rate_and_se(expenditure: np.ndarray, size: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Persons-weighted headcount and its linearised standard error (households as independent units)."""
    pw = weight * size
    poor = (expenditure < POVERTY_LINE_KALTIM_2024).astype(float)
    rate = float(np.sum(pw * poor) / np.sum(pw))
    z = pw * (poor - rate)
    n = len(z)
    se = float(np.sqrt(n / (n - 1) * np.sum(z**2)) / np.sum(pw))
    return rate, se


# ---- determinism ----------------------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_another_seed_differs(cheap_params):
    a = generate(n_survey=400, n_registry=600, seed=3, params=cheap_params)
    b = generate(n_survey=400, n_registry=600, seed=3, params=cheap_params)
    c = generate(n_survey=400, n_registry=600, seed=4, params=cheap_params)
    for name in ("survey", "registry", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.truth["expenditure_pc"], c.truth["expenditure_pc"])
    assert not np.array_equal(a.survey["expenditure_pc"], c.survey["expenditure_pc"])
    assert not a.registry["head_nik"].equals(c.registry["head_nik"])


def test_registry_does_not_depend_on_survey_size(cheap_params):
    small = generate(n_survey=300, n_registry=500, seed=8, params=cheap_params)
    large = generate(n_survey=900, n_registry=500, seed=8, params=cheap_params)
    pd.testing.assert_frame_equal(small.registry, large.registry)
    pd.testing.assert_frame_equal(small.truth, large.truth)


# ---- contract -----------------------------------------------------------------------------------------


def test_columns_are_the_contract_fields_in_order(data):
    contract_order = [c for c in FIELDS if c not in MEETING_COLUMNS]
    assert list(data.survey.columns) == contract_order
    assert list(data.registry.columns) == [c for c in contract_order if c not in WELFARE_COLUMNS]
    assert list(data.truth.columns) == ["household_id", "expenditure_pc"]
    assert len(data.survey) == N_SURVEY
    assert len(data.registry) == len(data.truth) == N_REGISTRY


@pytest.mark.parametrize("table", ["survey", "registry"])
def test_values_respect_codes_ranges_and_patterns(data, table):
    frame: pd.DataFrame = getattr(data, table)
    for name, spec in FIELDS.items():
        if name not in frame:
            continue
        col = frame[name].dropna()
        if "codes" in spec:
            unknown = set(col) - set(CODES[spec["codes"]])
            assert not unknown, f"{name}: {unknown}"
        if "allowed" in spec:
            assert set(col.astype(int)) <= set(spec["allowed"]), name
        if "min" in spec:
            assert col.astype(float).min() >= spec["min"], name
        if "max" in spec:
            assert col.astype(float).max() <= spec["max"], name
        if "pattern" in spec:
            assert col.str.fullmatch(spec["pattern"]).all(), name
        if spec["type"] == "int":
            assert pd.api.types.is_integer_dtype(frame[name].dtype), name
        if spec["type"] == "bool":
            assert pd.api.types.is_bool_dtype(frame[name].dtype), name


@pytest.mark.parametrize("table", ["survey", "registry"])
def test_missing_values_only_in_nullable_fields_and_present_where_expected(data, table):
    frame: pd.DataFrame = getattr(data, table)
    missing = frame.isna().sum()
    for name in frame.columns:
        if not FIELDS[name]["nullable"]:
            assert missing[name] == 0, name
    # Survey-style gaps in the fields the calibration file names, a small share each.
    for name in ("floor_area_m2", "land_area_m2", "savings_rp", "head_income_rp"):
        assert 0 < missing[name] / len(frame) < 0.08, name


def test_electricity_va_is_missing_exactly_without_a_pln_connection(data):
    s = data.registry
    pln = s["lighting"].isin(["pln_metered", "pln_unmetered"]).to_numpy()
    assert np.array_equal(s["electricity_va"].isna().to_numpy(), ~pln)
    assert (s.loc[s["lighting"] == "pln_unmetered", "electricity_va"] == 0).all()
    assert (s.loc[s["lighting"] == "pln_metered", "electricity_va"] >= 450).all()
    no_shelter = ~s["has_shelter"].to_numpy()
    assert no_shelter.any()
    assert s.loc[no_shelter, ["floor_material", "wall_material", "tenure"]].isna().all().all()


@pytest.mark.parametrize("table", ["survey", "registry"])
def test_household_members_are_consistent(data, table):
    s: pd.DataFrame = getattr(data, table)
    bands = s[["n_age_0_5", "n_age_6_17", "n_age_18_59", "n_age_60_plus"]].sum(axis=1)
    assert (bands == s["household_size"]).all()
    assert (s["n_disabled"] <= s["household_size"]).all()
    age = s["head_age"]
    head_band = np.select(
        [age < 18, age < 60], [s["n_age_6_17"], s["n_age_18_59"]], default=s["n_age_60_plus"]
    )
    assert (head_band >= 1).all()
    sector_none = s["head_sector"] == "none"
    assert (sector_none == (s["head_employment"] == "not_working")).all()
    no_school_age = s["children_education_max"] == "no_school_age_children"
    assert (no_school_age == (s["n_age_6_17"] == 0)).all()


def test_ids_and_personal_numbers(data):
    s, r, t = data.survey, data.registry, data.truth
    assert s["household_id"].is_unique and r["household_id"].is_unique
    assert s["household_id"].str.fullmatch(r"S\d{6}").all()
    assert r["household_id"].str.fullmatch(r"R\d{7}").all()
    assert (t["household_id"] == r["household_id"]).all()
    niks = pd.concat([s["head_nik"], r["head_nik"]])
    cards = pd.concat([s["family_card_no"], r["family_card_no"]])
    assert niks.is_unique and cards.is_unique
    assert not set(niks) & set(cards)
    assert niks.str.startswith("6402").all() and cards.str.startswith("6402").all()
    # The NIK carries the head's sex (birth day + 40 for women) and birth year.
    day = r["head_nik"].str[6:8].astype(int)
    assert ((day > 40) == (r["head_sex"] == "P")).all()
    year = 2000 + r["head_nik"].str[10:12].astype(int)
    year = year.where(year <= 2024, year - 100)
    assert ((2024 - year - r["head_age"]).isin([0, 1])).all()


def test_villages_belong_to_their_kecamatan(data):
    s = data.survey
    labels = s["kecamatan"].map({k: v["id"] for k, v in CODES["kecamatan"].items()})
    pattern = [rf"(Desa|Kelurahan) {re.escape(lab)} \d\d" for lab in labels]
    assert all(re.fullmatch(pat, d) for pat, d in zip(pattern, s["desa"], strict=True))
    kelurahan = s["desa"].str.startswith("Kelurahan")
    assert (kelurahan == s["urban"]).all()
    assert s.groupby("kecamatan")["desa"].nunique().min() >= 2
    assert s["desa"].nunique() < 200


# ---- survey design ---------------------------------------------------------------------------------------


def test_weights_are_inverse_inclusion_probabilities_summing_to_households(data):
    p = load_parameters()
    s = data.survey
    assert s["weight"].sum() == pytest.approx(p.households, rel=1e-9)
    per_kec = s.groupby("kecamatan")["weight"]
    assert (per_kec.nunique() == 1).all()
    counts = s["kecamatan"].value_counts()
    households = per_kec.first() * counts
    expected = pd.Series(p.household_share * p.households, index=list(p.kecamatan))
    pd.testing.assert_series_equal(households.sort_index(), expected.sort_index(), check_names=False)
    # Small kecamatan are oversampled: lower weight than the capital.
    assert per_kec.first()["muara_wis"] < per_kec.first()["tenggarong"] / 2


@given(n=st.integers(min_value=20, max_value=200_000))
@settings(max_examples=60, deadline=None)
def test_allocation_sums_to_n_and_keeps_a_floor(cheap_params, n):
    p = cheap_params
    n_h = synthetic._allocate(n, p)
    assert n_h.sum() == n
    assert n_h.min() >= min(int(p.survey_design["min_per_kecamatan"]), n // len(p.kecamatan))


def test_weighted_quantile_hand_worked():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    w = np.array([1.0, 1.0, 2.0, 4.0])  # cumulative by value: 1, 3, 4, 8 of 8
    assert synthetic._weighted_quantile(x, w, 0.10) == 1.0
    assert synthetic._weighted_quantile(x, w, 0.20) == 2.0
    assert synthetic._weighted_quantile(x, w, 0.375) == 2.0
    assert synthetic._weighted_quantile(x, w, 0.40) == 3.0
    assert synthetic._weighted_quantile(x, w, 0.90) == 4.0


# ---- calibration -----------------------------------------------------------------------------------------


def test_calibration_table_is_within_tolerance(data):
    table = calibration_table(data).set_index("measure")
    assert list(table.columns) == ["target", "achieved", "tolerance", "ok", "measure_id"]
    assert table.loc["poverty rate, persons (registry ground truth)", "measure_id"] == (
        "tingkat kemiskinan, jiwa (kebenaran registri)")
    poverty_rows = table.index.str.startswith("poverty rate")
    assert (table.loc[poverty_rows, "target"] == 0.0728).all()
    # Non-poverty rows: the file's tolerances hold at this sample size.
    others = table[~poverty_rows]
    assert others["ok"].all(), others[~others["ok"]]


def test_the_printed_calibration_table_is_indonesian_first(data):
    from targeting.jobs.demo import calibration_for_terminal

    table = calibration_table(data)
    shown = calibration_for_terminal(table)
    assert list(shown.columns) == ["ukuran / measure", "sasaran / target", "capaian / achieved",
                                   "toleransi / tolerance", "sesuai / ok"]
    row = shown.iloc[-1]
    assert row["ukuran / measure"] == "jumlah penduduk (survei, berbobot) / population (survey, weighted)"
    assert shown["sesuai / ok"].tolist() == ["ya / yes" if ok else "tidak / no" for ok in table["ok"]]
    assert shown["capaian / achieved"].tolist() == table["achieved"].tolist()


def test_poverty_rates_hit_the_target_within_sampling_error(data, registry_truth):
    s = data.survey
    rate, se = poverty_rate_and_se(
        s["expenditure_pc"].to_numpy(), s["household_size"].to_numpy(float), s["weight"].to_numpy()
    )
    # 0.3 pp is the target band for the default sizes; smaller draws get 3 standard errors.
    assert abs(rate - 0.0728) <= max(0.003, 3 * se), (rate, se)
    r = registry_truth
    rate, se = poverty_rate_and_se(
        r["expenditure_pc"].to_numpy(), r["household_size"].to_numpy(float), np.ones(len(r))
    )
    assert abs(rate - 0.0728) <= max(0.003, 3 * se), (rate, se)


def test_calibration_survives_edited_kecamatan_parameters(cheap_params):
    # Make the capital as poor as the interior: the solved intercept must keep the headcount at target.
    shift = cheap_params.welfare_shift.copy()
    shift[list(cheap_params.kecamatan).index("tenggarong")] = -0.3
    edited = dataclasses.replace(cheap_params, welfare_shift=shift)
    d = generate(n_survey=200, n_registry=30_000, seed=5, params=edited)
    r = d.registry.merge(d.truth, on="household_id")
    size = r["household_size"].to_numpy(float)
    rate, se = poverty_rate_and_se(r["expenditure_pc"].to_numpy(), size, np.ones(len(r)))
    assert abs(rate - 0.0728) <= max(0.003, 3 * se), (rate, se)
    capital = (r["kecamatan"] == "tenggarong").to_numpy()
    cap_rate, _ = poverty_rate_and_se(
        r["expenditure_pc"].to_numpy()[capital], size[capital], np.ones(capital.sum())
    )
    assert cap_rate > 0.0728


def test_poor_households_are_larger(data):
    s = data.survey
    poor = s["expenditure_pc"] < POVERTY_LINE_KALTIM_2024
    w = s["weight"]
    poor_size = np.average(s["household_size"][poor], weights=w[poor])
    other_size = np.average(s["household_size"][~poor], weights=w[~poor])
    assert poor_size > other_size + 1.0
    assert np.average(s["n_age_0_5"][poor], weights=w[poor]) > np.average(
        s["n_age_0_5"][~poor], weights=w[~poor]
    )


# ---- structure ---------------------------------------------------------------------------------------


def share(frame: pd.DataFrame, mask: pd.Series) -> float:
    return float(mask.mean()) if len(frame) else float("nan")


def test_indicators_follow_welfare(registry_truth):
    r = registry_truth
    poor = r["expenditure_pc"] < POVERTY_LINE_KALTIM_2024
    P, N = r[poor], r[~poor]
    assert share(P, P["floor_material"] == "earth") > 1.5 * share(N, N["floor_material"] == "earth")
    assert share(P, P["toilet"] != "private") > 2 * share(N, N["toilet"] != "private")
    assert share(P, P["electricity_va"] == 450) > 1.5 * share(N, N["electricity_va"] == 450)
    assert share(P, P["has_refrigerator"] == True) < share(N, N["has_refrigerator"] == True) / 1.5  # noqa: E712
    assert share(P, P["food_insecure_12m"] == True) > 2 * share(N, N["food_insecure_12m"] == True)  # noqa: E712
    assert share(P, P["head_education"].isin(["none", "sd"])) > share(
        N, N["head_education"].isin(["none", "sd"])
    )
    # Food share of the poor: mostly above one half (Engel's law; the line is 70.8% food).
    assert share(P, P["food_share"] > 0.5) > 0.8
    # Many poor households on small PLN connections.
    assert share(P, P["electricity_va"].isin([450, 900])) > 0.6
    # ... but imperfectly: some poor households own a refrigerator, some non-poor have an earth floor.
    assert share(P, P["has_refrigerator"] == True) > 0.1  # noqa: E712
    assert (N["floor_material"] == "earth").sum() > 0


def test_interior_kecamatan_are_poorer_and_more_rural_than_the_capital(registry_truth):
    r = registry_truth
    poor = r["expenditure_pc"] < POVERTY_LINE_KALTIM_2024
    pw = r["household_size"]

    def rate(mask: pd.Series) -> float:
        return float((pw * poor)[mask].sum() / pw[mask].sum())

    interior = r["kecamatan"].isin(INTERIOR)
    capital = r["kecamatan"] == "tenggarong"
    assert rate(interior) > 2 * rate(capital)
    assert r.loc[interior, "urban"].mean() < 0.1 < 0.6 < r.loc[capital, "urban"].mean()


def test_kepmensos_262_criteria_flag_more_poor_than_non_poor_but_imperfectly(data):
    s = data.survey
    poor = (s["expenditure_pc"] < POVERTY_LINE_KALTIM_2024).to_numpy()
    w = s["weight"].to_numpy()
    poor_walls = [
        "bamboo",
        "wire",
        "wooden_board",
        "tarpaulin_cardboard",
        "unplastered_brick",
        "thatch",
        "zinc",
    ]
    flags = pd.DataFrame(
        {
            "a_not_working": s["head_employment"] == "not_working",
            "b_food_insecure": s["food_insecure_12m"].fillna(False),
            "c_food_share": s["food_share"] > 0.5,
            "d_no_clothes": ~s["bought_clothes_last_year"].fillna(True),
            "e_floor": s["floor_material"].isin(["earth", "plaster"]),
            "f_wall": s["wall_material"].isin(poor_walls),
            "g_toilet": s["toilet"].isin(["none", "communal"]),
            "h_light": (s["electricity_va"] == 450).fillna(False) | (s["lighting"] == "non_electric"),
        }
    ).astype(bool)
    for name in flags:
        f = flags[name].to_numpy()
        assert np.average(f[poor], weights=w[poor]) > np.average(f[~poor], weights=w[~poor]), name
    count = flags.sum(axis=1).to_numpy()
    assert np.average(count[poor], weights=w[poor]) > np.average(count[~poor], weights=w[~poor]) + 1
    at_least_4 = count >= 4
    recall = np.average(at_least_4[poor], weights=w[poor])
    precision = np.average(poor[at_least_4], weights=w[at_least_4])
    assert 0.1 < recall < 0.9 and 0.1 < precision < 0.9


def test_no_shelter_is_very_rare(data):
    assert 0 < (~data.registry["has_shelter"]).mean() < 0.006


# ---- files and errors -----------------------------------------------------------------------------


def test_write_and_reload(tmp_path: Path, cheap_params):
    d = generate(n_survey=300, n_registry=400, seed=2, params=cheap_params)
    paths = write(d, tmp_path / "kukar", params=cheap_params)
    assert {k: p.name for k, p in paths.items()} == {
        "survey": "survey.csv",
        "registry": "registry.parquet",
        "truth": "truth.parquet",
        "calibration": "calibration.csv",
    }
    pd.testing.assert_frame_equal(pd.read_parquet(paths["registry"]), d.registry, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["truth"]), d.truth, check_dtype=False)
    survey = pd.read_csv(paths["survey"], dtype={"head_nik": str, "family_card_no": str})
    assert list(survey.columns) == list(d.survey.columns)
    assert (survey["head_nik"] == d.survey["head_nik"]).all()
    np.testing.assert_allclose(survey["weight"], d.survey["weight"])


def test_written_files_pass_contract_validation(tmp_path: Path, cheap_params):
    from targeting.survey.load import load_dataset

    d = generate(n_survey=300, n_registry=400, seed=2, params=cheap_params)
    write(d, tmp_path / "kukar", params=cheap_params)
    for spec, n in (("kukar_survey", 300), ("kukar_registry", 400)):
        loaded = load_dataset(spec, data_dir=tmp_path)
        assert loaded.n_rejected_rows == 0, loaded.rejects.head()
        assert len(loaded.data) == n


def test_calibration_file_must_name_the_contract_kecamatan(tmp_path: Path):
    raw = yaml.safe_load(CALIBRATION_FILE.read_text(encoding="utf-8"))
    del raw["kecamatan"]["tabang"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad\.yaml.*missing \['tabang'\]"):
        load_parameters(bad)


def _add_level(raw: dict) -> None:
    raw["choices"]["toilet"]["levels"]["bucket"] = [0, 0, 0, 0, 0]


def _unknown_covariate(raw: dict) -> None:
    raw["choices"]["has_tv"]["covariates"][-1] = "income"


def _welfare_without_factor(raw: dict) -> None:
    del raw["choices"]["has_tv"]["factor"]


def _short_row(raw: dict) -> None:
    raw["choices"]["toilet"]["levels"]["none"] = [0, 0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_add_level, r"choices\.toilet.*\['bucket'\] not in the contract"),
        (_unknown_covariate, r"choices\.has_tv: unknown covariates \['income'\]"),
        (_welfare_without_factor, r"choices\.has_tv: `welfare` needs a factor"),
        (_short_row, r"choices\.toilet: each level needs 5 coefficients"),
    ],
)
def test_invalid_choice_models_are_rejected(tmp_path: Path, mutate, message):
    raw = yaml.safe_load(CALIBRATION_FILE.read_text(encoding="utf-8"))
    mutate(raw)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_parameters(bad)


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="n_survey"):
        generate(n_survey=5, n_registry=10)


# ---- PMT recoverability (the reason this data set exists) ------------------------------------------


@pytest.mark.slow
def test_ols_pmt_recovers_welfare_only_partially(data):
    from scipy.stats import spearmanr
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits

    s = data.survey
    parts = []
    for name, spec in FIELDS.items():
        if spec["role"] != "feature" or name not in s:
            continue
        col = s[name]
        if spec["type"] == "category" or name == "electricity_va":
            parts.append(
                pd.get_dummies(col.astype(object).fillna("NA").astype(str), prefix=name, dtype=float)
            )
        else:
            x = col.astype(float)
            filled = x.fillna(x.median())
            if name in ("floor_area_m2", "land_area_m2", "savings_rp", "livestock_units"):
                filled = np.log1p(filled)
            parts.append(pd.DataFrame({name: filled, f"{name}_na": x.isna().astype(float)}))
    parts.append(pd.get_dummies(s["kecamatan"], prefix="kec", dtype=float))
    x = pd.concat(parts, axis=1)
    x["log_size"] = np.log(s["household_size"])
    x["size2"] = s["household_size"] ** 2
    X, y, w = x.to_numpy(), np.log(s["expenditure_pc"].to_numpy()), s["weight"].to_numpy()
    pred = np.empty_like(y)
    # One BLAS thread: multi-threaded least squares crawls when the 2-core CI machine is busy.
    with threadpool_limits(limits=1, user_api="blas"):
        for train, test in KFold(5, shuffle=True, random_state=0).split(X):
            model = LinearRegression().fit(X[train], y[train], sample_weight=w[train])
            pred[test] = model.predict(X[test])
    rho = spearmanr(pred, y).statistic
    # Exclusion error at coverage = poverty rate (persons): poor not in the bottom 7.28% of predictions.
    pw = w * s["household_size"].to_numpy()
    order = np.argsort(pred)
    selected = np.zeros(len(y), dtype=bool)
    selected[order[np.cumsum(pw[order]) / pw.sum() <= 0.0728]] = True
    poor = s["expenditure_pc"].to_numpy() < POVERTY_LINE_KALTIM_2024
    exclusion = np.sum(pw * (poor & ~selected)) / np.sum(pw * poor)
    assert 0.65 <= rho <= 0.80, rho
    assert 0.40 <= exclusion <= 0.60, exclusion
