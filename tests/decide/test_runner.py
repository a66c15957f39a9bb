"""`targeting score` end to end: chunks give the whole file's answer, bad files are answered cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from targeting.decide import Scorer, Selection
from targeting.decide.runner import score_dataset
from targeting.errors import InputFileError
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import generate
from tests.models import train_model_folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_model_folder(tmp_path_factory.mktemp("model"), n_survey=1500, seed=4)


@pytest.fixture(scope="module")
def registry() -> pd.DataFrame:
    return generate(n_survey=20, n_registry=3000, seed=8).registry


def _score(model_dir, path, out, **kw):
    scorer = Scorer(model_dir, selection=Selection(desil_max=3), key=bytes(32))
    return score_dataset(scorer, load_spec("indonesia_household"), out, files={"households": path}, **kw)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_give_the_same_decisions_as_one_pass(model_dir, registry, tmp_path, suffix):
    path = tmp_path / f"registry{suffix}"
    registry.to_csv(path, index=False) if suffix == ".csv" else registry.to_parquet(path, index=False)
    whole = _score(model_dir, path, tmp_path / "whole", chunk_rows=10**6)
    chunked = _score(model_dir, path, tmp_path / "chunked", chunk_rows=1000)
    a = pd.read_parquet(whole.decisions)
    b = pd.read_parquet(chunked.decisions)
    pd.testing.assert_frame_equal(a, b, check_categorical=False)
    # Desil within the registry: equal shares of persons, selected = desil 1-3 (~30 % of persons).
    persons = a["household_size"]
    share = persons[a["selected"]].sum() / persons.sum()
    assert share == pytest.approx(0.3, abs=0.01)
    assert chunked.counts["selected"] == int(a["selected"].sum()) and chunked.n_households == 3000
    summary = json.loads(chunked.summary.read_text())
    assert summary["meta"]["selection"]["desil_max"] == 3 and summary["counts"]["households"] == 3000
    assert "head_nik" not in a.columns and a["head_nik_pseudonym"].str.match(r"^p[0-9a-f]{16}$").all()


def test_a_repeated_id_in_another_chunk_is_a_file_level_error(model_dir, registry, tmp_path):
    frame = registry.copy()
    frame.loc[2500, "household_id"] = frame.loc[10, "household_id"]
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"not unique across the file .*R0000011"):
        _score(model_dir, path, tmp_path / "out", chunk_rows=1000)


def test_cli_score_reports_rejects_with_exit_1_and_writes_safe_exports(model_dir, registry, tmp_path,
                                                                     monkeypatch):
    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    frame = registry.head(300).copy()
    frame["household_size"] = frame["household_size"].astype(object)
    frame.loc[5, "household_size"] = "lima"
    frame.loc[7, "desa"] = '=HYPERLINK("http://x","y")'
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["score", str(path), "--model", str(model_dir), "--program", "pkh",
                                      "--format", "csv", "--out", str(out)])
    assert result.exit_code == 1, result.output
    rejects = pd.read_csv(out / "rejects.csv", dtype=str)
    assert rejects["household_id"].tolist() == [frame.loc[5, "household_id"]]
    assert rejects["value"].tolist() == ["lima"]
    said = " ".join(result.output.split())  # the summary wraps at the terminal's width
    problems = said[said.index("Masalah terbanyak / most frequent problems"):]
    assert "│ household_size │ bukan angka / not a number │ 1 │" in problems  # Indonesian, then English
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert len(decisions) == 299
    # PKH is desil 1-4: the selection is the programme's flag.
    np.testing.assert_array_equal(decisions["selected"], decisions["program_pkh"])
    text = (out / "decisions.csv").read_text(encoding="utf-8")
    assert '"\'=HYPERLINK(""http://x""' in text  # quoted, and prefixed: text, never a formula
    assert ',=HYPERLINK' not in text and '"=HYPERLINK' not in text
    assert (out / "decisions.meta.json").is_file()


def test_cli_score_names_a_missing_file_and_a_bad_option(tmp_path, monkeypatch, capsys):
    from targeting.cli import main

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    import sys

    for args, message in (
        (["score", str(tmp_path / "nope.csv"), "--model", "default"], "file not found"),
        (["score", "--spec", "kukar_registry", "--model", "default"], "not found at"),
        (["score", str(tmp_path / "x.csv"), "--model", str(tmp_path)], "not champion/challenger/default"),
    ):
        monkeypatch.setattr(sys, "argv", ["targeting", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_no_accepted_household_is_a_clear_error(model_dir, registry, tmp_path):
    frame = registry.head(5).copy()
    frame["household_size"] = "x"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"no household was accepted \(5 rows read, 5 rejected"):
        _score(model_dir, path, tmp_path / "out")
    assert (tmp_path / "out" / "rejects.csv").is_file()


def test_what_the_spec_excludes_is_written_apart_from_the_rejects(model_dir, registry, tmp_path):
    """A spec's row filter: excluded rows in excluded.csv with the reason, counted in the summary."""
    import textwrap

    frame = registry.head(400).copy()
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(textwrap.dedent("""
        extends: indonesia_household
        name: district
        data_root: spec
        files:
          - {name: households, path: r.csv}
        rows:
          drop_if:
            - {column: household_size, gt: 8, because: large households are verified in the field first}
        """), encoding="utf-8")
    scorer = Scorer(model_dir, selection=Selection(desil_max=3))
    out = score_dataset(scorer, load_spec(spec_path), tmp_path / "out", chunk_rows=150)
    big = int((frame["household_size"] > 8).sum())
    assert big > 0 and out.n_excluded == big and out.n_households == 400 - big
    excluded = pd.read_csv(tmp_path / "out" / "excluded.csv", dtype=str)
    assert sorted(excluded["household_id"]) == sorted(frame.loc[frame["household_size"] > 8, "household_id"])
    assert excluded["reason_en"].str.endswith("large households are verified in the field first").all()
    summary = json.loads(out.summary.read_text())
    (effect,) = summary["spec_effects"]
    assert effect["n"] == big and effect["rule"] == "drop_if household_size gt 8"
    assert summary["files"]["excluded"] == "excluded.csv" and summary["files"]["rejects"] is None


def test_score_previous_links_the_rounds_and_names_what_moved_the_leavers(model_dir, registry, tmp_path,
                                                                         monkeypatch):
    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    first = registry.head(800).copy()
    second = first.copy()
    # Round 2: 100 households got an electricity upgrade and a tiled floor; 20 left, 30 joined.
    movers = second.index[:100]
    second.loc[movers, "electricity_va"] = 2200
    second.loc[movers, "floor_material"] = "tile_ceramic"
    second = pd.concat([second.iloc[20:], registry.iloc[800:830]], ignore_index=True)
    for name, frame in (("r1", first), ("r2", second)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    runner = CliRunner()
    r1 = runner.invoke(app, ["score", str(tmp_path / "r1.csv"), "--model", str(model_dir), "--program", "pkh",
                             "--contributions", "--out", str(tmp_path / "o1")])
    assert r1.exit_code == 0, r1.output
    assert "contrib_floor_material" in pd.read_parquet(tmp_path / "o1" / "decisions.parquet").columns
    r2 = runner.invoke(app, ["score", str(tmp_path / "r2.csv"), "--model", str(model_dir), "--program", "pkh",
                             "--previous", str(tmp_path / "o1" / "decisions.parquet"),
                             "--out", str(tmp_path / "o2")])
    assert r2.exit_code == 0, r2.output
    rounds = json.loads((tmp_path / "o2" / "rounds" / "rounds.json").read_text())
    presence = (rounds["rounds.n_both"], rounds["rounds.n_previous_only"], rounds["rounds.n_current_only"])
    assert presence == (780, 20, 30)
    leavers = pd.read_csv(tmp_path / "o2" / "rounds" / "leavers.csv", dtype=str)
    assert len(leavers) > 0
    # Those who left PKH among the upgraded households were moved by what changed in them.
    moved = set(first.loc[movers[20:], "household_id"])
    ours = leavers[leavers["household_id"].isin(moved)]
    assert len(ours) > 0
    assert set(ours["reason_1_indicator"]) <= {"electricity_va", "floor_material"}
    assert (ours["other_change"].astype(float).abs() < 1e-9).all()  # the model did not change: they did
    assert ours["reason_1_text_id"].str.contains("menaikkan perkiraan kesejahteraan").all()


@pytest.mark.parametrize("ranking", ["within", "reference"])
def test_writes_beside_the_scoring_give_the_same_file(model_dir, registry, tmp_path, ranking):
    # threads=2: spills and row groups are written on a second thread while the next chunk is scored.
    path = tmp_path / "registry.parquet"
    registry.to_parquet(path, index=False)
    outs = []
    for threads in (1, 2):
        scorer = Scorer(model_dir, selection=Selection(desil_max=3), key=bytes(32), ranking=ranking,
                        threads=threads)
        outs.append(score_dataset(scorer, load_spec("indonesia_household"), tmp_path / f"t{threads}",
                                  files={"households": path}, chunk_rows=700))
    a, b = (pd.read_parquet(o.decisions) for o in outs)
    pd.testing.assert_frame_equal(a, b)
    assert len(b) == 3000 and b["household_id"].tolist() == registry["household_id"].tolist()
    assert outs[0].counts == outs[1].counts


def test_a_failed_write_beside_the_scoring_fails_the_run_and_leaves_no_file(model_dir, registry, tmp_path,
                                                                            monkeypatch):
    import targeting.decide.runner as runner

    path = tmp_path / "registry.parquet"
    registry.to_parquet(path, index=False)
    real = runner.write_prepared
    calls = []

    def full_disk(prepared, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(prepared, target)

    monkeypatch.setattr(runner, "write_prepared", full_disk)
    scorer = Scorer(model_dir, selection=Selection(desil_max=3), key=bytes(32), threads=2)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        score_dataset(scorer, load_spec("indonesia_household"), out, files={"households": path},
                      chunk_rows=700)
    assert not (out / "decisions.parquet").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".pass1-")]  # the spill is removed


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=40), st.sampled_from(["object", "str", "string"]))
def test_id_hashes_are_the_hashes_of_the_id_texts(ids, dtype):
    from targeting.decide.runner import id_hashes

    # The same ids give the same hashes in every chunk, partition and engine, whatever the column's dtype.
    expected = pd.util.hash_array(np.array(ids, dtype=object)) if ids else np.empty(0, dtype=np.uint64)
    np.testing.assert_array_equal(id_hashes(pd.Series(ids, dtype=dtype)), expected)
