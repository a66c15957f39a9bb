"""Save and load PMT models without pickle: LightGBM text models, JSON coefficients, a JSON card.

A saved model is a directory::

    model_card.json          what the model is: features, data hash, validation, versions, files
    model.json               estimator parameters, input schema, ensemble weights, component index
    component_<name>.json    an OLS component (terms, fill values, means, coefficients)
    component_<name>.txt     a LightGBM component (``Booster.model_to_string``)

The card records the sha256 of every other file; :func:`load_model` recomputes them and refuses a
changed, missing or mismatched file with :class:`targeting.errors.ModelIntegrityError`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from targeting.errors import ModelIntegrityError
from targeting.pmt.boosting import BoosterPMT
from targeting.pmt.estimator import PMTRegressor
from targeting.pmt.linear import LinearPMT
from targeting.pmt.schema import InputSchema

__all__ = ["CARD_FILE", "MODEL_FILE", "FeatureCard", "ModelCard", "load_model", "save_model"]

CARD_FILE = "model_card.json"
MODEL_FILE = "model.json"
FORMAT_VERSION = 1
# Estimator parameters whose default is a tuple (JSON turns them into lists).
_TUPLE_PARAMS = ("ensemble_members", "param_grid")


class FeatureCard(BaseModel):
    """One input feature as the model sees it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str = Field(description="numeric | categorical (how the model reads it)")
    type: str | None = Field(default=None, description="numeric | binary | categorical (spec)")
    categories: list[Any] | None = None


class DatasetCard(BaseModel):
    """The training data, identified by name and content hash."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    spec: str | None = None
    sha256: str
    n_households: int


class ModelCard(BaseModel):
    """Everything a reviewer needs to know about a saved PMT, and the hash of every file."""

    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    backend: str
    target: str = "log per-capita welfare (natural log)"
    features: list[FeatureCard]
    dataset: DatasetCard
    training_date: str
    saved_at: str
    package_version: str
    git_commit: str | None
    params: dict[str, Any]
    best_params: dict[str, dict[str, Any]]
    ensemble_weights: dict[str, float]
    ensemble_intercept: float
    validation: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(description="file name -> sha256 of its bytes")
    extra: dict[str, Any] = Field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_commit() -> str | None:
    """The commit of the package's checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values (tuples become lists, numpy scalars become Python ones)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def save_model(
    model: PMTRegressor,
    directory: str | Path,
    *,
    dataset_name: str | None = None,
    dataset_spec: str | None = None,
    feature_types: dict[str, str] | None = None,
    validation: Any = None,
    card_extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` into ``directory`` (created if needed) and return the card's path.

    ``validation`` may be a :class:`targeting.pmt.validation.ValidationResult`, its table, or
    records; ``feature_types`` are the spec's types (``SurveyData.feature_types``) for the card.
    """
    from sklearn.utils.validation import check_is_fitted

    import targeting

    check_is_fitted(model)
    out = Path(directory)
    if (out / CARD_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out / CARD_FILE} exists; pass overwrite=True to replace the model")
    out.mkdir(parents=True, exist_ok=True)

    index: dict[str, dict[str, Any]] = {}
    for name, comp in model.components_.items():
        if isinstance(comp, LinearPMT):
            fname = f"component_{name}.json"
            _write(out / fname, json.dumps(comp.to_dict(), indent=1))
            index[name] = {"kind": "linear", "file": fname}
        else:
            fname = f"component_{name}.txt"
            _write(out / fname, comp.to_string())
            index[name] = {
                "kind": "lightgbm",
                "file": fname,
                "params": _jsonable(comp.params),
                "tuning": _jsonable(comp.tuning),
            }
    names_in = getattr(model, "feature_names_in_", None)
    state = {
        "format_version": FORMAT_VERSION,
        "estimator": "targeting.pmt.PMTRegressor",
        "params": _jsonable(model.get_params()),
        "schema": model.schema_.to_dict(),
        "feature_names_in": None if names_in is None else [str(n) for n in names_in],
        "weights": model.weights_,
        "intercept": model.intercept_,
        "components": index,
        "training_sha256": model.training_sha256_,
        "n_training_rows": model.n_training_rows_,
        "fitted_at": model.fitted_at_,
    }
    _write(out / MODEL_FILE, json.dumps(state, indent=1))

    files = [MODEL_FILE] + [entry["file"] for entry in index.values()]
    types = feature_types or {}
    if validation is not None and hasattr(validation, "records"):
        validation = validation.records()
    elif isinstance(validation, pd.DataFrame):
        validation = validation.astype(object).where(validation.notna(), None).to_dict("records")
    card = ModelCard(
        backend=model.backend,
        features=[
            FeatureCard(
                name=n,
                kind=k,
                # A column the spec did not type (e.g. the region design_frame adds) is categorical.
                type=types.get(n, "categorical" if k == "categorical" else None),
                categories=None if c is None else list(c),
            )
            for n, k, c in zip(
                model.schema_.names, model.schema_.kinds, model.schema_.categories, strict=True
            )
        ],
        dataset=DatasetCard(
            name=dataset_name,
            spec=dataset_spec,
            sha256=model.training_sha256_,
            n_households=model.n_training_rows_,
        ),
        training_date=model.fitted_at_,
        saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        package_version=targeting.__version__,
        git_commit=_git_commit(),
        params=_jsonable(model.get_params()),
        best_params=_jsonable(model.best_params_),
        ensemble_weights=dict(model.weights_),
        ensemble_intercept=float(model.intercept_),
        validation=_jsonable(list(validation or [])),
        files={f: _sha256(out / f) for f in files},
        extra=_jsonable(dict(card_extra or {})),
    )
    card_path = out / CARD_FILE
    _write(card_path, card.model_dump_json(indent=1))
    return card_path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable model file ({exc})") from exc


def load_model(directory: str | Path) -> tuple[PMTRegressor, ModelCard]:
    """Load a saved model after checking every file against the sha256 in its card."""
    src = Path(directory)
    card_path = src / CARD_FILE
    if not card_path.is_file():
        raise ModelIntegrityError(f"{card_path}: model card not found")
    try:
        card = ModelCard.model_validate(_read_json(card_path))
    except ValidationError as exc:
        raise ModelIntegrityError(f"{card_path}: invalid model card ({exc.errors()[0]})") from exc
    for fname, digest in card.files.items():
        path = src / fname
        if Path(fname).name != fname:
            raise ModelIntegrityError(f"{card_path}: file entry {fname!r} is not a plain file name")
        if not path.is_file():
            raise ModelIntegrityError(f"{path}: listed in the model card but missing")
        if _sha256(path) != digest:
            raise ModelIntegrityError(
                f"{path}: sha256 does not match the model card (file changed or tampered with)"
            )
    if MODEL_FILE not in card.files:
        raise ModelIntegrityError(f"{card_path}: the card does not list {MODEL_FILE}")

    state = _read_json(src / MODEL_FILE)
    try:
        params = dict(state["params"])
        for key in _TUPLE_PARAMS:
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        model = PMTRegressor(**params)
        schema = InputSchema.from_dict(state["schema"])
        components: dict[str, LinearPMT | BoosterPMT] = {}
        for name, entry in state["components"].items():
            if entry["file"] not in card.files:
                raise ModelIntegrityError(
                    f"{src / entry['file']}: component file not covered by the model card"
                )
            path = src / entry["file"]
            if entry["kind"] == "linear":
                components[name] = LinearPMT.from_dict(_read_json(path))
            else:
                components[name] = BoosterPMT.from_string(
                    path.read_text(encoding="utf-8"), entry["params"], entry.get("tuning")
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelIntegrityError(f"{src / MODEL_FILE}: malformed model state ({exc!r})") from exc

    card_schema = [(f.name, f.kind, f.categories) for f in card.features]
    model_schema = [
        (n, k, None if c is None else list(c))
        for n, k, c in zip(schema.names, schema.kinds, schema.categories, strict=True)
    ]
    if card_schema != model_schema:
        raise ModelIntegrityError(f"{card_path}: features do not match {src / MODEL_FILE}")
    if card.dataset.sha256 != state["training_sha256"]:
        raise ModelIntegrityError(f"{card_path}: training-data hash does not match {MODEL_FILE}")

    model.schema_ = schema
    model.n_features_in_ = schema.n_features
    if state.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
    model.components_ = components
    model.weights_ = {k: float(v) for k, v in state["weights"].items()}
    model.intercept_ = float(state["intercept"])
    model.training_sha256_ = state["training_sha256"]
    model.n_training_rows_ = int(state["n_training_rows"])
    model.fitted_at_ = state["fitted_at"]
    return model, card
