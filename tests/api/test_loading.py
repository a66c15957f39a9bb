"""Which model `targeting serve` loads: --model-dir, else the registry's @champion, else the default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from api.config import get_api_settings
from api.scoring import load_scorer
from targeting.errors import ModelIntegrityError, TargetingError
from targeting.settings import get_settings


def test_default_model_when_there_is_no_registry(tmp_path: Path, model_dir: Path) -> None:
    settings = get_api_settings(project=get_settings(home=tmp_path, default_model_dir=model_dir))
    scorer = load_scorer(settings)
    assert scorer.info.model_version.startswith("default+")
    assert scorer.info.source == f"default model {model_dir}"
    assert not (tmp_path / "mlflow.db").exists()  # looking did not create an empty registry


def test_no_model_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    settings = get_api_settings(project=get_settings(home=tmp_path, default_model_dir=tmp_path / "none"))
    with pytest.raises(TargetingError, match="no model to serve"):
        load_scorer(settings)


def test_a_folder_without_reference_or_with_a_changed_file_is_refused(
    tmp_path: Path, model_dir: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    (copy / "reference.json").unlink()
    settings = get_api_settings(project=get_settings(home=tmp_path), model_dir=copy)
    # The signed card lists the reference, so its absence is a missing model file.
    with pytest.raises(ModelIntegrityError, match="reference.json: listed in the model card but missing"):
        load_scorer(settings)
    shutil.copy(model_dir / "reference.json", copy / "reference.json")
    (copy / "model.json").write_text((copy / "model.json").read_text() + " ")
    with pytest.raises(ModelIntegrityError, match="sha256 does not match"):
        load_scorer(settings)


def test_same_files_same_version(tmp_path: Path, model_dir: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    a = load_scorer(get_api_settings(project=get_settings(home=tmp_path), model_dir=model_dir))
    b = load_scorer(get_api_settings(project=get_settings(home=tmp_path), model_dir=copy))
    assert a.info.model_version == b.info.model_version and a.info.model_version.startswith("dir+")


@pytest.mark.slow
def test_registry_champion_wins_over_the_default(tmp_path: Path, model_dir: Path) -> None:
    from targeting import tracking

    project = get_settings(home=tmp_path, default_model_dir=model_dir)
    run_id = tracking.log_training_run(project, run_name="api-test", params={"backend": "ols"},
                                       metrics={"spearman": 0.7}, model_dir=model_dir)
    version = tracking.register(project, run_id)
    assert load_scorer(get_api_settings(project=project)).info.model_version.startswith("default+")
    tracking.promote(project, version)
    scorer = load_scorer(get_api_settings(project=project))
    assert scorer.info.source == f"models:/kukar-pmt@champion (version {version})"
    assert scorer.info.model_version.startswith(f"v{version}+")
    # Same files as the default folder: the content part of the version is the same.
    default = load_scorer(get_api_settings(project=project, use_registry=False))
    assert scorer.info.model_version.split("+")[1] == default.info.model_version.split("+")[1]


def test_a_rule_set_not_in_force_is_refused_at_start(tmp_path: Path, model_dir: Path) -> None:
    from targeting.errors import RuleSetError

    settings = get_api_settings(project=get_settings(home=tmp_path), model_dir=model_dir,
                                ruleset="kepmensos_146_2013")  # revoked by 262/HUK/2022
    with pytest.raises(RuleSetError, match="146_2013 is not in force on [0-9-]+ .*revoked 2022-12-31"):
        load_scorer(settings)


def test_the_shipped_default_model_loads_and_scores(tmp_path: Path) -> None:
    """models/default is what `targeting serve` uses right after set-up: it must load and verify."""
    from targeting.shipped import default_model_dir

    shipped = default_model_dir()
    settings = get_api_settings(project=get_settings(home=tmp_path, default_model_dir=shipped))
    scorer = load_scorer(settings)
    assert scorer.info.model_version.startswith("default+")
    assert scorer.info.card["backend"] == "ensemble"
    assert scorer.info.card["dataset"]["name"] == "kukar_survey"
