from __future__ import annotations

import json

import numpy as np
import pytest

import targeting
from targeting.errors import ModelIntegrityError
from targeting.pmt import PMTRegressor, load_model, save_model
from targeting.pmt.persistence import CARD_FILE, MODEL_FILE, SIGNATURE_FILE
from targeting.pmt.validation import cross_validate, design_frame, log_welfare


@pytest.fixture(scope="module")
def fitted(small_survey, fast_params):
    X = design_frame(small_survey)
    y = log_welfare(small_survey)
    models = {}
    for backend in ("ols", "lightgbm", "quantile", "ensemble"):
        params = {} if backend == "ols" else fast_params
        models[backend] = PMTRegressor(backend, **params).fit(
            X, y, small_survey.weight, groups=small_survey.cluster
        )
    return X, models


@pytest.mark.parametrize("backend", ["ols", "lightgbm", "quantile", "ensemble"])
def test_round_trip_predicts_and_explains_identically(fitted, backend, tmp_path, small_survey):
    X, models = fitted
    model = models[backend]
    card_path = save_model(
        model,
        tmp_path / "m",
        dataset_name=small_survey.name,
        feature_types=small_survey.feature_types,
        card_extra={"note": "test"},
    )
    assert card_path.name == CARD_FILE
    loaded, card = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=0, atol=1e-12)
    b0, c0 = model.contributions(X)
    b1, c1 = loaded.contributions(X)
    np.testing.assert_allclose(c1, c0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b1, b0, rtol=0, atol=1e-12)
    assert loaded.get_params() == model.get_params()
    assert card.backend == backend
    assert card.dataset.sha256 == model.training_sha256_ and card.dataset.name == "toy"
    assert card.package_version == targeting.__version__
    assert card.git_commit is None or len(card.git_commit) == 40
    assert card.ensemble_weights == model.weights_
    assert card.extra == {"note": "test"}
    features = {f.name: f for f in card.features}
    assert features["head_education"].categories == ["none", "sd", "smp", "sma", "diploma_plus"]
    assert features["urban"].type == "binary" and features["urban"].kind == "numeric"
    # text formats only, every file hashed in the card
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == set(card.files) | {CARD_FILE, SIGNATURE_FILE}
    assert all(p.endswith((".json", ".txt", ".sig")) for p in files)
    # Signed when saved, by this machine's key (the session's test key).
    assert card.integrity.signed and card.integrity.key_fingerprint.startswith("ed25519:")


def test_card_carries_validation_records(small_survey, tmp_path):
    result = cross_validate(small_survey, ["ols"], n_splits=3, n_bootstrap=10, coverages=[0.3])
    model = PMTRegressor().fit(design_frame(small_survey), log_welfare(small_survey))
    save_model(model, tmp_path / "m", validation=result)
    _, card = load_model(tmp_path / "m")
    assert len(card.validation) == len(result.table)
    assert card.validation[0]["metric"] == "spearman"
    save_model(model, tmp_path / "m2", validation=result.table)
    assert len(load_model(tmp_path / "m2")[1].validation) == len(result.table)


@pytest.mark.parametrize(
    ("backend", "victim"),
    [("lightgbm", "component_lightgbm.txt"), ("ols", "component_ols.json"), ("quantile", MODEL_FILE)],
)
def test_tampered_file_is_refused_by_name(fitted, tmp_path, backend, victim):
    _, models = fitted
    save_model(models[backend], tmp_path / "m")
    path = tmp_path / "m" / victim
    path.write_text(path.read_text().replace("1", "2", 1))
    with pytest.raises(ModelIntegrityError, match=victim):
        load_model(tmp_path / "m")


def test_missing_file_and_mismatched_card_are_refused(fitted, tmp_path):
    _, models = fitted
    save_model(models["ols"], tmp_path / "a")
    (tmp_path / "a" / "component_ols.json").unlink()
    with pytest.raises(ModelIntegrityError, match="component_ols.json.*missing"):
        load_model(tmp_path / "a")

    save_model(models["ols"], tmp_path / "b")
    card = json.loads((tmp_path / "b" / CARD_FILE).read_text())
    card["features"][0]["categories"] = ["somewhere_else"]
    (tmp_path / "b" / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="signature does not match the card"):
        load_model(tmp_path / "b")
    # Past the signature (allow_unsigned), the card is still checked against model.json.
    with pytest.raises(ModelIntegrityError, match="features do not match"):
        load_model(tmp_path / "b", allow_unsigned=True)

    save_model(models["ols"], tmp_path / "c")
    card = json.loads((tmp_path / "c" / CARD_FILE).read_text())
    card["dataset"]["sha256"] = "0" * 64
    (tmp_path / "c" / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="training-data hash"):
        load_model(tmp_path / "c", allow_unsigned=True)

    with pytest.raises(ModelIntegrityError, match="model card not found"):
        load_model(tmp_path / "nowhere")


def test_refuses_to_overwrite_without_flag(fitted, tmp_path):
    _, models = fitted
    save_model(models["ols"], tmp_path / "m")
    with pytest.raises(FileExistsError):
        save_model(models["ols"], tmp_path / "m")
    save_model(models["lightgbm"], tmp_path / "m", overwrite=True)
    assert load_model(tmp_path / "m")[1].backend == "lightgbm"
