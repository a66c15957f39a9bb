"""Experiments end to end on a real SQLite MLflow store: validation table, run, registry, aliases."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from targeting import tracking
from targeting.errors import SpecError
from targeting.experiment import DatasetRef, Experiment, FinalModel, load_experiment, run_experiment
from targeting.settings import get_settings

EXPERIMENTS = Path(str(resources.files("targeting.shipped").joinpath("experiments")))


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from targeting.survey import synthetic

    home = tmp_path_factory.mktemp("home")
    s = get_settings(home=home)
    synthetic.write(synthetic.generate(n_survey=3_000, n_registry=500, seed=7), s.data_dir / "kukar")
    return s


@pytest.fixture(scope="module")
def told() -> list[str]:
    """What the experiment told its progress callback, in order."""
    return []


@pytest.fixture(scope="module")
def outcome(settings, told):
    exp = Experiment(
        name="small", dataset=DatasetRef(spec="kukar_survey", data="home"),
        backends=["ols", "lightgbm"], n_bootstrap=30, final=FinalModel(backend="ols", register=True),
    )
    return run_experiment(exp, settings, progress=told.append)


def test_progress_counts_every_fit_then_the_bootstrap_and_the_final_model(outcome, told):
    fits = [m for m in told if m.startswith("lipatan / fold")]
    assert len(fits) == 5 * 2  # 5 folds x 2 backends, each once
    assert fits[-1].endswith("(10/10 model dilatih / fits done)")
    assert {m.split(": ")[1].split(" (")[0] for m in fits} == {"ols", "lightgbm"}
    later = [m.split(":")[0] for m in told[told.index(fits[-1]) + 1:]]
    assert later == ["bootstrap", "model akhir / final model",
                     "rentang kesejahteraan, dikalibrasi di luar lipatan / welfare intervals, calibrated "
                     "out of fold", "MLflow"]
    final = next(m for m in told if m.startswith("model akhir"))
    n = len(outcome.result.predictions)
    assert final == f"model akhir / final model: ols, {n:,} rumah tangga / households"


def test_a_step_prints_one_line_per_message_off_a_terminal():
    import io

    from rich.console import Console

    from targeting.jobs.console import step_with_progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=40)  # narrower than a message: never wrapped
    with step_with_progress(console, "Validasi") as tell:
        tell("lipatan / fold 1 dari / of 2: ols (1/2 model dilatih / fits done)")
        tell("bootstrap: 30 ulangan / replicates")
    lines = out.getvalue().splitlines()
    assert lines[0] == "… Validasi"
    assert lines[1].startswith("  · lipatan / fold 1 dari / of 2: ols (1/2") and lines[1].endswith(" s)")
    assert lines[2].startswith("  · bootstrap: 30 ulangan")
    assert lines[3].startswith("✓ Validasi (") and len(lines) == 4


def test_the_problems_table_gives_each_reason_in_indonesian_then_english():
    import io

    import pandas as pd
    from rich.console import Console

    from targeting.jobs.console import problems_table

    rejects = pd.DataFrame({
        "column": ["toilet", "floor_material", "toilet"],
        "reason": ["bukan kode yang sah", "kosong", "bukan kode yang sah"],
        "reason_en": ["not a valid code", "missing", "not a valid code"],
    })
    out = io.StringIO()
    Console(file=out, width=120).print(problems_table(rejects))
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if line.startswith("┃"))
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["kolom / column", "alasan / reason", "n"]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert rows == [["toilet", "bukan kode yang sah / not a valid code", "2"],
                    ["floor_material", "kosong / missing", "1"]]


def test_validation_table_is_out_of_sample_and_consistent(outcome):
    t = outcome.result.table.set_index(["backend", "metric", "coverage_label"])["estimate"]
    for backend in ("ols", "lightgbm"):
        assert 0.5 < t[(backend, "spearman", "")] < 0.9
        # DOMAIN.md identity: when #selected = #poor, beneficiary-based inclusion = exclusion
        ex = t[(backend, "exclusion_error", "poverty rate")]
        inc = t[(backend, "inclusion_error", "poverty rate")]
        assert ex == pytest.approx(inc, abs=0.02)
        assert 0.3 < ex < 0.7  # DOMAIN.md: 0.40-0.65 at coverage = a 7-20% poverty rate
    # the baseline's difference to itself is not reported; the other backend's is
    assert "Δ lightgbm" in outcome.comparison.columns and "Δ ols" not in outcome.comparison.columns
    assert outcome.curve_png.exists() and outcome.curve_png.stat().st_size > 10_000


def test_run_is_recorded_and_model_registered(outcome, settings):
    import mlflow

    run = mlflow.get_run(outcome.run_id)
    assert run.data.params["dataset"] == "kukar_survey"
    spearman = run.data.metrics["ols.spearman"]
    assert spearman == pytest.approx(
        outcome.result.table.query("backend == 'ols' and metric == 'spearman'")["estimate"].iloc[0]
    )
    assert run.data.metrics["n_households"] == 3_000
    versions = tracking.list_models(settings)
    assert [v.version for v in versions] == [outcome.model_version] == ["1"]
    assert versions[0].aliases == ["challenger"]
    # artifacts live under the state folder, never ./mlruns
    assert str(settings.artifacts_dir.resolve()) in run.info.artifact_uri
    assert not Path("mlruns").exists()


def test_promote_and_load_champion_round_trip(outcome, settings, tmp_path):
    from targeting.pmt import design_frame, load_model
    from targeting.survey.load import load_dataset

    assert tracking.download_alias(settings, alias="champion") is None
    tracking.promote(settings, outcome.model_version)
    path, version = tracking.download_alias(settings, alias="champion", dst=tmp_path)
    assert version == "1"
    model, card = load_model(path)
    local, _ = load_model(outcome.model_dir)
    data = load_dataset("kukar_survey", data_dir=settings.data_dir).data
    X = design_frame(data).head(200)
    np.testing.assert_array_equal(model.predict(X), local.predict(X))
    with pytest.raises(Exception, match="no version"):
        tracking.promote(settings, "99")


def test_shipped_experiments_validate():
    names = sorted(p.name for p in EXPERIMENTS.glob("*.yaml"))
    assert names == ["burkina_community.yaml", "burkina_kfold.yaml", "kukar_kfold.yaml",
                     "paraguay_temporal.yaml"]
    for p in EXPERIMENTS.glob("*.yaml"):
        exp = load_experiment(p)
        assert exp.baseline == "ols" and "ols" in exp.backends
    para = load_experiment(EXPERIMENTS / "paraguay_temporal.yaml")
    assert para.validation.train_variables == {"year": 2023}
    assert para.validation.test_variables == {"year": 2024}


def test_bad_experiment_names_the_field(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\ndataset: {spec: kukar_survey}\nvalidation: {kind: random}\n")
    with pytest.raises(SpecError, match=r"x.yaml: validation.kind"):
        load_experiment(bad)


def test_configuring_one_store_does_not_leak_into_another(tmp_path, settings):
    import os

    tracking.configure(settings)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    other = get_settings(home=tmp_path)
    assert other.tracking_uri() == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert tracking.list_models(other) == []


def test_the_final_model_gets_intervals_from_the_validation_folds(outcome):
    """intervals.json beside the model, calibrated on the K-fold run's own out-of-fold residuals."""
    from targeting.pmt import load_model
    from targeting.pmt.intervals import load_intervals, weighted_quantile

    model, _ = load_model(outcome.model_dir)
    iv = load_intervals(outcome.model_dir, model=model)
    cells = iv.cell_table()
    overall = cells[cells["cell"] == "(semua / all)"]
    pred = outcome.result.predictions
    assert int(overall["n"].iloc[0]) == len(pred)  # every out-of-fold residual, no refit
    # The overall 80 % width is the spread of those residuals (weighted 10th to 90th percentile).
    r = (pred["log_welfare"] - pred["pred_ols"]).to_numpy()
    q10, q90 = weighted_quantile(r, [0.1, 0.9], pred["weight"].to_numpy())
    assert float(overall["width_80"].iloc[0]) == pytest.approx(q90 - q10, rel=0.05)


def test_the_printed_validation_table_names_metrics_in_indonesian_then_english(outcome):
    import io

    from rich.console import Console

    from targeting.cli import _print_outcome

    out = io.StringIO()
    _print_outcome(outcome, Console(file=out, width=300))
    lines = out.getvalue().splitlines()
    rate = outcome.result.poverty_rate
    assert lines[0].strip() == (
        f"small: kukar_survey (tingkat kemiskinan / poverty rate {rate:.3f}; nilai [rentang kepercayaan "
        "95 %] / estimate [95% CI]; Δ = metode − ols / backend − ols)")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert [r[:2] for r in rows[:6]] == [
        ["Korelasi Spearman / Spearman correlation", ""],
        ["R² (log pengeluaran) / R² (log consumption)", ""],
        ["AUC (miskin/tidak) / AUC (poor/not poor)", ""],
        ["Kesalahan eksklusi / Exclusion error", "tingkat kemiskinan / poverty rate"],
        ["Kesalahan inklusi / Inclusion error", "tingkat kemiskinan / poverty rate"],
        ["Kesalahan inklusi (bukan miskin) / Inclusion error (non-poor-based)",
         "tingkat kemiskinan / poverty rate"],
    ]
    assert rows[6][:2] == ["Kesalahan eksklusi / Exclusion error", "20%"]
    # The cells are the comparison's own: the same numbers as comparison.csv.
    assert rows[6][2:] == outcome.comparison.loc["exclusion_error @ 20%"].tolist()
    header = next(line for line in lines if line.startswith("┃"))
    assert [h.strip() for h in header.split("┃")[1:-1]] == [
        "metrik / metric", "cakupan / coverage", "ols", "lightgbm", "Δ lightgbm"]
    assert f"model versi / model version {outcome.model_version} terdaftar / registered" in lines[-1]


def test_metric_labels_come_from_the_model_card_and_keep_unknown_names():
    from targeting.jobs.console import metric_label

    assert metric_label("exclusion_error_30") == "Kesalahan eksklusi / Exclusion error @ 30%"
    assert metric_label("community_recall").startswith("Cakupan yang termiskin menurut desa / Recall")
    assert metric_label("some_new_metric_2") == "some_new_metric_2"


def test_row_progress_off_a_terminal_is_one_line_per_phase_in_both_languages():
    import io

    from rich.console import Console

    from targeting.jobs.console import RowProgress

    out = io.StringIO()
    with RowProgress(Console(file=out, force_terminal=False, width=200)) as progress:
        progress("pass1", 1_000, 2_500)
        progress("pass1", 2_500, 2_500)
        progress("pass2", 2_500, 2_500)
    lines = out.getvalue().splitlines()
    assert [line.split(" s (")[0].rsplit(",", 1)[0] for line in lines] == [
        "✓ Membaca dan memeriksa / reading, validating, predicting: 2,500 baris / rows",
        "✓ Keputusan dan alasan / deciding and explaining: 2,500 baris / rows",
    ]
    assert all(line.endswith(" baris/detik / rows/s)") for line in lines)
