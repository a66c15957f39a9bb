"""Typed configuration, built by a function (never at import time); environment variables override."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the project keeps its state, and the defaults of the main job.

    Every path defaults to a folder under ``home`` (``./.targeting``), so a run never scatters files
    where the user happens to stand. Override with ``TARGETING_<NAME>`` environment variables.
    """

    model_config = SettingsConfigDict(env_prefix="TARGETING_", extra="ignore")

    home: Path = Field(default=Path(".targeting"), description="State folder (data, stores, reports).")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="Default sqlite:///<home>/mlflow.db; MLFLOW_TRACKING_URI also works."
    )
    database_url: str | None = Field(default=None, description="Decision store; default SQLite in home.")
    model_name: str = "kukar-pmt"
    default_model_dir: Path | None = Field(
        default=None, description="Served when the registry has no @champion (default: the shipped one)."
    )
    poverty_line: float = 833_955.0
    seed: int = 2024

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    def tracking_uri(self) -> str:
        import os

        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def default_model(self) -> Path:
        """The default model folder: ``default_model_dir`` if set, else the one the package ships."""
        from targeting.shipped import default_model_dir

        return self.default_model_dir or default_model_dir()

    def decision_db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'decisions.db').resolve()}"


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides (tests pass ``home=tmp_path``)."""
    return Settings(**overrides)  # type: ignore[arg-type]
