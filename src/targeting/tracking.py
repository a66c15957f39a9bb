"""MLflow: training runs, the model registry and its aliases (``challenger``, ``champion``).

Models are logged as plain artifacts (LightGBM text / OLS JSON + the JSON model card) and registered from
the run's artifact folder, so nothing is pickled; loading goes back through `targeting.pmt.persistence`,
which verifies every file's sha256 against the card.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from targeting.errors import TargetingError
from targeting.settings import Settings
from targeting.spreadsheet import csv_text

EXPERIMENT = "pmt"
CHALLENGER = "challenger"
CHAMPION = "champion"


@dataclass(frozen=True)
class RegisteredModel:
    """One registered model version as the CLI and API show it."""

    name: str
    version: str
    aliases: list[str]
    run_id: str
    source: str
    created: str
    description: str


def configure(settings: Settings, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the project's store and return the experiment id (created on first use).

    Artifacts go to ``<home>/mlartifacts`` explicitly: with a SQLite URI MLflow would otherwise write
    ``./mlruns`` wherever the user stands.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings.home.mkdir(parents=True, exist_ok=True)
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which would make every later
    # Settings in this process (another state folder, a test) silently reuse this store: undo it.
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(settings.tracking_uri())
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    location = (settings.artifacts_dir / experiment).resolve()
    location.mkdir(parents=True, exist_ok=True)
    return str(mlflow.create_experiment(experiment, artifact_location=location.as_uri()))


def log_training_run(
    settings: Settings,
    *,
    run_name: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    model_dir: Path,
    tables: dict[str, pd.DataFrame] | None = None,
    figures: dict[str, Path] | None = None,
    tags: dict[str, str] | None = None,
    experiment: str = EXPERIMENT,
) -> str:
    """Record one training run (params, metrics, tables, figures, the model folder); return its run id."""
    import mlflow

    exp_id = configure(settings, experiment)
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name) as run:
        mlflow.log_params({k: _param(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})
        for name, table in (tables or {}).items():
            mlflow.log_text(csv_text(table), f"tables/{name}.csv")
        for name, path in (figures or {}).items():
            mlflow.log_artifact(str(path), artifact_path=f"figures/{name}" if name else "figures")
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        mlflow.set_tags(tags or {})
        return str(run.info.run_id)


def _param(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
    return text[:6000]  # MLflow's limit for a param value is 6000 characters


def register(settings: Settings, run_id: str, *, name: str | None = None, alias: str = CHALLENGER,
             description: str = "") -> str:
    """Register the run's ``model`` folder as a new version of ``name`` and point ``alias`` at it."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    client = MlflowClient()
    name = name or settings.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Proxy-means test / uji proksi kemampuan")
    run = mlflow.get_run(run_id)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run_id,
                                     description=description)
    client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version)


def list_models(settings: Settings, name: str | None = None) -> list[RegisteredModel]:
    """Every registered version of ``name`` (default: the project's model), newest first."""
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    name = name or settings.model_name
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        return []
    # search results do not carry aliases; the registered model holds alias -> version.
    by_version: dict[str, list[str]] = {}
    for alias, ver in client.get_registered_model(name).aliases.items():
        by_version.setdefault(str(ver), []).append(alias)
    out = [
        RegisteredModel(
            name=v.name, version=str(v.version), aliases=sorted(by_version.get(str(v.version), [])),
            run_id=v.run_id or "",
            source=v.source or "", description=v.description or "",
            created=pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC").isoformat(timespec="seconds"),
        )
        for v in versions
    ]
    return sorted(out, key=lambda m: int(m.version), reverse=True)


def promote(settings: Settings, version: str, *, name: str | None = None, alias: str = CHAMPION) -> None:
    """Point ``alias`` (default ``champion``) at a registered version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    name = name or settings.model_name
    client = MlflowClient()
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise TargetingError(f"model {name!r} has no version {version!r}") from exc
    client.set_registered_model_alias(name, alias, version)


def download_alias(settings: Settings, *, alias: str = CHAMPION, name: str | None = None,
                   dst: Path | None = None) -> tuple[Path, str] | None:
    """Download the model folder behind ``name@alias``; ``None`` if the alias is not set."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    name = name or settings.model_name
    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    dst = dst or (settings.home / "models" / f"{name}-v{mv.version}")
    dst.mkdir(parents=True, exist_ok=True)
    path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dst))
    return Path(path), str(mv.version)
