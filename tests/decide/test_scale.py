"""The streaming runner at scale: spilled chunks decide as the scorer does, parts read as one file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.audit.decisions import read_decisions
from targeting.decide import Scorer, Selection
from targeting.decide import ranking as rk
from targeting.decide.prepared import Prepared
from targeting.decide.runner import RankInputs, score_dataset
from targeting.survey.load import frame_to_survey
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import generate, iter_registry_parts, write_partitioned
from tests.models import train_model_folder

SPEC = "indonesia_household"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    # The product's shape: an OLS + shallow LightGBM ensemble (pattern tables and a compiled linear member).
    return train_model_folder(tmp_path_factory.mktemp("model"), n_survey=1500, seed=21, backend="ensemble",
                              tune=False, n_estimators=30, early_stopping_rounds=None, ensemble_folds=2,
                              n_jobs=1)


@pytest.fixture(scope="module")
def registry() -> pd.DataFrame:
    return generate(n_survey=20, n_registry=4000, seed=23).registry


def _scorer(model_dir: Path, **kw) -> Scorer:
    return Scorer(model_dir, selection=kw.pop("selection", Selection(desil_max=3)), key=bytes(32), **kw)


def test_prepared_chunks_survive_the_disk_and_decide_as_decide_does(model_dir, registry):
    scorer = _scorer(model_dir)
    data = frame_to_survey(registry, load_spec(SPEC)).data
    direct = scorer.decide(data)
    prepared = scorer.prepare(data)
    ranks = scorer.rank(prepared.prediction, prepared.population, prepared.region)
    back = Prepared.from_arrow(prepared.to_arrow())
    assert back.values is None and back.candidates is not None  # compact: no n x p contributions
    again = scorer.finish(back, ranks)
    pd.testing.assert_frame_equal(direct.table, again.table)
    np.testing.assert_array_equal(direct.reason_index, again.reason_index)
    # A selected household's reasons point down (negative contributions), another's up.
    sel = direct.table["selected"].to_numpy()
    c1 = direct.table["reason_1_contribution"].to_numpy()
    assert sel.any() and (~sel).any()
    assert (c1[sel & ~np.isnan(c1)] < 0).all() and (c1[~sel & ~np.isnan(c1)] > 0).all()


def test_the_streaming_runner_equals_deciding_the_whole_registry_in_memory(model_dir, registry, tmp_path):
    path = tmp_path / "registry.parquet"
    registry.to_parquet(path, index=False)
    scorer = _scorer(model_dir)
    outcome = score_dataset(scorer, load_spec(SPEC), tmp_path / "out", files={"households": path},
                            chunk_rows=1000)
    written, meta = read_decisions(outcome.decisions)
    assert meta is not None and meta.n_households == 4000
    expected = scorer.decide(frame_to_survey(registry, load_spec(SPEC)).data).table
    pd.testing.assert_frame_equal(written, expected, check_categorical=False, check_dtype=False)
    assert outcome.n_households == 4000 and outcome.counts["selected"] == int(expected["selected"].sum())
    # Nothing of pass 1's spill is left behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["decisions.parquet", "summary.json"]


def test_a_folder_of_parts_scores_as_the_file_and_rejects_name_their_part(model_dir, registry, tmp_path):
    frame = registry.copy()
    frame["household_size"] = frame["household_size"].astype(object)
    frame.loc[2600, "household_size"] = "enam"  # row 2600 of the file = row 600 of part 2 (0-based)
    whole = tmp_path / "registry.csv"
    frame.to_csv(whole, index=False)
    text = pd.read_csv(whole, dtype=str, keep_default_na=False)  # the cells as written, in Parquet parts
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate((0, 1000, 2000, 3000)):
        text.iloc[start:start + 1000].to_parquet(parts / f"part-{i:02d}.parquet", index=False)
    scorer = _scorer(model_dir)
    a = score_dataset(scorer, load_spec(SPEC), tmp_path / "a", files={"households": whole}, chunk_rows=700)
    b = score_dataset(scorer, load_spec(SPEC), tmp_path / "b", files={"households": parts}, chunk_rows=700)
    da, db = pd.read_parquet(a.decisions), pd.read_parquet(b.decisions)
    pd.testing.assert_frame_equal(da, db, check_categorical=False)
    assert a.n_rejected == b.n_rejected == 1 and b.n_households == 3999
    rejects = pd.read_csv(b.rejects, dtype=str)
    # The file's row 2602 (header = row 1) is row 602 of part-02.parquet.
    assert rejects[["file", "row", "value"]].values.tolist() == [["part-02.parquet", "602", "enam"]]


def test_rank_inputs_rank_regions_as_their_labels_do():
    rng = np.random.default_rng(3)
    n = 3000
    pred = np.round(rng.normal(13, 0.5, n), 2)  # rounded: ties, broken by row order
    pop = rng.integers(1, 7, n).astype(float)
    labels = rng.choice(["tabang", "anggana", "sebulu", "loa_kulu"], n)
    inputs = RankInputs(has_region=True)
    for s in range(0, n, 700):  # labels met in another order than sorted
        inputs.add_arrays(pred[s:s + 700], pop[s:s + 700], pd.Series(labels[s:s + 700]),
                          np.arange(s, min(n, s + 700), dtype=np.uint64))
    assert len(inputs) == n
    got_pred, got_pop, got_region = inputs.arrays()
    assert list(got_region.categories) == sorted(set(labels))
    got = rk.within(got_pred, got_pop, np.asarray(got_region, dtype=object))
    want = rk.within(pred, pop, labels.astype(object))
    np.testing.assert_array_equal(got.desil, want.desil)
    np.testing.assert_array_equal(got.desil_region, want.desil_region)
    np.testing.assert_array_equal(got.percentile_region, want.percentile_region)


def test_registry_parts_are_one_registry_with_unique_ids_and_personal_numbers(tmp_path):
    parts = list(iter_registry_parts(n_registry=9001, partitions=4, seed=5))
    assert [len(r) for r, _ in parts] == [2251, 2250, 2250, 2250]
    reg = pd.concat([r for r, _ in parts], ignore_index=True)
    assert reg["household_id"].tolist() == [f"R{i:07d}" for i in range(1, 9002)]
    for col in ("household_id", "head_nik", "family_card_no"):
        assert reg[col].is_unique, col
    truth = pd.concat([t for _, t in parts], ignore_index=True)
    assert truth["household_id"].tolist() == reg["household_id"].tolist()
    # Same seed, same registry; the parts are valid contract rows.
    again = next(iter_registry_parts(n_registry=9001, partitions=4, seed=5))[0]
    pd.testing.assert_frame_equal(parts[0][0], again)
    loaded = frame_to_survey(reg, load_spec(SPEC))
    assert len(loaded.rejects) == 0 and len(loaded.data) == 9001
    paths = write_partitioned(tmp_path, n_survey=200, n_registry=3000, partitions=3, seed=5)
    assert sorted(p.name for p in paths["registry"].iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert sum(len(pd.read_parquet(p)) for p in paths["truth"].iterdir()) == 3000
    assert paths["survey"].is_file() and paths["calibration"].is_file()


def test_available_cores_respects_affinity_omp_and_the_cgroup_quota(monkeypatch, tmp_path):
    from targeting.pmt import threads

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads, "_CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.available_cores() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.available_cores() == 3
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # 1.5 cores: two threads may run
    monkeypatch.setattr(threads, "_CGROUP_CPU_MAX", quota)
    assert threads.available_cores() == 2
    quota.write_text("max 100000\n")
    assert threads.available_cores() == 3
    assert threads.resolve_threads(8) == 3 and threads.resolve_threads(1) == 1
    with pytest.raises(ValueError, match="at least 1"):
        threads.resolve_threads(0)


def test_lightgbm_threads_are_capped_and_do_not_change_the_model(monkeypatch):
    from targeting.pmt import PMTRegressor, threads
    from targeting.pmt.boosting import native_params

    def n_threads(n_jobs):
        params = native_params({}, objective="regression", quantile_alpha=0.5, seed=0, n_jobs=n_jobs)
        return params["num_threads"]

    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    assert n_threads(8) == 1
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert n_threads(None) == 2 and n_threads(1) == 1
    survey = generate(n_survey=1500, n_registry=10, seed=3).survey
    data = frame_to_survey(survey, load_spec("kukar_survey")).data
    y = np.log(data.welfare.to_numpy())
    fits = [PMTRegressor("lightgbm", tune=False, n_estimators=40, early_stopping_rounds=None, n_jobs=n)
            .fit(data.features, y, data.weight.to_numpy()) for n in (1, 2)]
    np.testing.assert_array_equal(fits[0].predict(data.features), fits[1].predict(data.features))


def test_deciles_from_shares_are_assign_deciles():
    from targeting.pmt.ranking import assign_deciles, deciles_from_shares, population_shares

    rng = np.random.default_rng(9)
    score, w = np.round(rng.normal(size=5000), 1), rng.integers(1, 9, 5000).astype(float)
    by = rng.choice(["a", "b", "c"], 5000).astype(object)
    for group in (None, by):
        np.testing.assert_array_equal(deciles_from_shares(population_shares(score, w, by=group)),
                                      assign_deciles(score, w, by=group))
