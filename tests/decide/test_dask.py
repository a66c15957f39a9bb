"""The Dask engine decides as the single process does, household by household, and survives a dead worker."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.audit.decisions import read_decisions
from targeting.decide import Scorer, Selection
from targeting.decide.partitioned import DECISIONS_DIR, ScorerConfig, dask_client, score_partitioned
from targeting.decide.runner import score_dataset
from targeting.errors import InputFileError, TargetingError
from targeting.privacy import KEY_ENV
from targeting.shipped import default_model_dir
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import write_partitioned

SPEC = "indonesia_household"
KEY = bytes(range(32))


@pytest.fixture(scope="module", autouse=True)
def worker_key():
    """Workers read the pseudonym key from their environment (never from the task graph)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, KEY.hex())
        yield


@pytest.fixture(scope="module")
def client(worker_key):
    with dask_client(None, n_workers=2) as c:
        yield c


def _scorer(**kw) -> tuple[Scorer, ScorerConfig]:
    spec = load_spec(SPEC)
    scorer = Scorer(default_model_dir(), selection=kw.pop("selection", Selection(desil_max=2)), key=KEY,
                    spec=spec, **kw)
    return scorer, ScorerConfig.of(scorer, spec, ruleset="kepmensos_262_2022", key_home=None)


def _as_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical and text columns as plain objects: parts carry their own dictionaries."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype | pd.StringDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([_as_values(read_decisions(p)[0]) for p in parts], ignore_index=True)


def _single(scorer: Scorer, registry: Path, out: Path) -> pd.DataFrame:
    outcome = score_dataset(scorer, load_spec(SPEC), out, files={"households": registry}, chunk_rows=1000)
    return _as_values(read_decisions(outcome.decisions)[0])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """6,000 households in 6 parts, one of them impossible (a household of 0 persons: rejected)."""
    base = tmp_path_factory.mktemp("small")
    paths = write_partitioned(base / "gen", n_survey=200, n_registry=6000, partitions=6, seed=31)
    folder = base / "parts"
    folder.mkdir()
    for part in sorted(paths["registry"].iterdir()):
        frame = pd.read_parquet(part)
        if part.name.endswith("02.parquet"):
            frame.loc[17, "household_size"] = 0
        frame.to_parquet(folder / part.name, index=False)
    return folder


@pytest.mark.slow
def test_dask_gives_the_single_process_desil_household_by_household(client, tmp_path):
    """A registry of 200,000 households in 8 parts: every column of every household, both engines."""
    paths = write_partitioned(tmp_path / "gen", n_survey=200, n_registry=200_000, partitions=8, seed=29)
    scorer, config = _scorer()
    single = _single(scorer, paths["registry"], tmp_path / "single")
    outcome = score_partitioned(config, paths["registry"], tmp_path / "dask", client=client, scorer=scorer)
    parts = _read_parts(tmp_path / "dask" / DECISIONS_DIR)
    pd.testing.assert_frame_equal(parts, single)
    assert outcome.n_households == 200_000 and outcome.partitions == {
        "partitions": 8, "pass1_skipped": 0, "pass2_skipped": 0}
    # Desil in equal shares of persons across the whole registry, not per part.
    persons = single.groupby("desil")["household_size"].sum() / single["household_size"].sum()
    np.testing.assert_allclose(persons.to_numpy(), 0.1, atol=0.002)
    assert outcome.counts["selected"] == int(single["selected"].sum())


def test_rejects_pseudonyms_and_counts_match_the_single_process(client, small, tmp_path):
    scorer, config = _scorer()
    single = _single(scorer, small, tmp_path / "single")
    outcome = score_partitioned(config, small, tmp_path / "dask", client=client, scorer=scorer,
                                chunk_rows=1000)
    pd.testing.assert_frame_equal(_read_parts(tmp_path / "dask" / DECISIONS_DIR), single)
    rejects = pd.read_csv(outcome.rejects, dtype=str)
    assert rejects[["file", "row"]].drop_duplicates().values.tolist() == [["part-00002.parquet", "19"]]
    assert "0" in rejects["value"].tolist()
    assert rejects.equals(pd.read_csv(tmp_path / "single" / "rejects.csv", dtype=str))
    assert outcome.n_rejected == 1 and outcome.n_households == 5999
    assert single["head_nik_pseudonym"].str.match(r"^p[0-9a-f]{16}$").all()
    # Every part's footer describes the whole run; the spill and ranks are gone.
    meta = read_decisions(tmp_path / "dask" / DECISIONS_DIR / "part-000003.parquet")[1]
    assert meta is not None and meta.n_households == 5999 and meta.n_rejected == 1
    assert sorted(p.name for p in (tmp_path / "dask" / "_state").iterdir()) == [
        "excluded", "manifest.json", "pass1", "pass2", "ranking", "rejects", "treated_as_missing"]


def test_rows_the_spec_excludes_are_reported_as_the_single_process_reports_them(client, small, tmp_path):
    spec_file = tmp_path / "filtered.yaml"
    spec_file.write_text(
        "extends: indonesia_household\nname: indonesia_household_filtered\n"
        "rows:\n  drop_if:\n"
        "    - {column: floor_material, equals: earth, because: earth floors are surveyed apart}\n",
        encoding="utf-8")
    spec = load_spec(str(spec_file))
    scorer = Scorer(default_model_dir(), selection=Selection(desil_max=2), key=KEY, spec=spec)
    config = ScorerConfig.of(scorer, spec, ruleset="kepmensos_262_2022", key_home=None)
    single = score_dataset(scorer, spec, tmp_path / "single", files={"households": small}, chunk_rows=1000)
    outcome = score_partitioned(config, small, tmp_path / "dask", client=client, scorer=scorer,
                                chunk_rows=1000)
    excluded = pd.read_csv(outcome.extra_files["excluded"], dtype=str)
    assert len(excluded) == outcome.n_excluded == single.n_excluded > 0
    assert set(excluded["value"]) == {"earth"} and excluded["file"].str.startswith("part-").all()
    assert excluded.equals(pd.read_csv(single.extra_files["excluded"], dtype=str))
    assert outcome.n_households + outcome.n_excluded + outcome.n_rejected == 6000
    # The spec's effects are counted in the summary as the single process counts them.
    assert outcome.effects == single.effects and outcome.effects
    assert json.loads(outcome.summary.read_text())["spec_effects"] == single.effects


def test_a_rerun_skips_what_is_done_and_another_run_is_refused(client, small, tmp_path):
    scorer, config = _scorer()
    out = tmp_path / "out"
    first = score_partitioned(config, small, out, client=client, scorer=scorer)
    again = score_partitioned(config, small, out, client=client, scorer=scorer)
    assert again.partitions == {"partitions": 6, "pass1_skipped": 6, "pass2_skipped": 6}
    assert again.counts == first.counts
    other, other_config = _scorer(selection=Selection(desil_max=4))
    with pytest.raises(TargetingError, match=r"holds another scoring run .*selection"):
        score_partitioned(other_config, small, out, client=client, scorer=other)


def test_bad_registries_are_one_line_errors(client, small, tmp_path):
    scorer, config = _scorer()
    with pytest.raises(InputFileError, match="a folder of Parquet parts"):
        score_partitioned(config, small / "part-00000.parquet", tmp_path / "a", client=client, scorer=scorer)
    dup = tmp_path / "dup"
    dup.mkdir()
    for part in sorted(small.iterdir()):
        (dup / part.name).write_bytes(part.read_bytes())
    clash = pd.read_parquet(dup / "part-00004.parquet")
    clash.loc[3, "household_id"] = pd.read_parquet(dup / "part-00000.parquet")["household_id"].iloc[5]
    clash.to_parquet(dup / "part-00004.parquet", index=False)
    with pytest.raises(InputFileError, match=r"not unique across the parts \(1 repeated, e\.g\. R0000006\)"):
        score_partitioned(config, dup, tmp_path / "b", client=client, scorer=scorer)


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    """Kill a worker process while it writes decisions; the rerun finishes only what was not done."""
    import dask
    from distributed import Client, LocalCluster

    paths = write_partitioned(tmp_path / "gen", n_survey=200, n_registry=40_000, partitions=16, seed=37)
    registry = paths["registry"]
    scorer, config = _scorer()
    expected = _single(scorer, registry, tmp_path / "single")
    out = tmp_path / "dask"
    killed: dict[str, int] = {}
    stop = threading.Event()
    # No retries: the killed worker's task fails the run, as a crashed cluster would.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                         silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)

        def watch() -> None:
            while not stop.is_set():
                done = list((out / "_state" / "pass2").glob("*.json"))
                busy = [w for w, keys in client.processing().items() if keys] if done else []
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed["after"] = len(done)
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with pytest.raises(TargetingError, match="worker died during pass 2"):
                score_partitioned(config, registry, out, client=client, scorer=scorer, chunk_rows=1000)
        finally:
            stop.set()
            watcher.join()
    assert killed, "the watcher never found a busy worker to kill"
    finished = len(list((out / "_state" / "pass2").glob("*.json")))
    assert 1 <= finished < 16
    with dask_client(None, n_workers=2) as client:
        outcome = score_partitioned(config, registry, out, client=client, scorer=scorer, chunk_rows=1000)
    assert outcome.partitions["pass1_skipped"] == 16
    assert outcome.partitions["pass2_skipped"] == finished
    got = _read_parts(out / DECISIONS_DIR)
    assert len(got) == 40_000 and got["household_id"].is_unique
    pd.testing.assert_frame_equal(got, expected)
    assert not [p.name for p in (out / DECISIONS_DIR).iterdir() if not p.name.startswith("part-")]


def test_cli_score_engine_dask(small, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["score", str(small), "--model", "default", "--desil-max", "1",
                                      "--engine", "dask", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)  # exit 1: one row rejected
    assert len(_read_parts(out / DECISIONS_DIR)) == 5999
    result = CliRunner().invoke(app, ["score", str(small), "--model", "default", "--scheduler",
                                      "tcp://127.0.0.1:1", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--engine dask" in str(result.exception or result.output)
