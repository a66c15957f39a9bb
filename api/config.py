"""Settings of the scoring service: a pydantic-settings class built by a function, never at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from targeting.settings import Settings, get_settings


class ApiSettings(BaseSettings):
    """Limits and choices of the service; ``TARGETING_API_<NAME>`` environment variables override.

    The state folder, decision-store URL, MLflow URI and default model folder come from the project's
    `targeting.settings.Settings` (``project``), so the CLI and the service share one state folder.
    """

    model_config = SettingsConfigDict(env_prefix="TARGETING_API_", extra="ignore")

    max_batch: int = Field(default=1000, ge=1, description="Most households in one scoring request.")
    max_body_bytes: int = Field(default=8_000_000, ge=1024, description="Largest request body accepted.")
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest time to receive a request body (a stalled client gets 408)."
    )
    auth_max_failures: int = Field(
        default=10, ge=1, description="Failed authentications per client per window before 429."
    )
    auth_window_s: float = Field(default=60.0, gt=0, description="Window of the failed-authentication limit.")
    max_concurrent_hashes: int = Field(
        default=2, ge=1, description="scrypt key checks running at once (each takes 16 MB and a core)."
    )
    ruleset: str = Field(default="kepmensos_262_2022", description="Rule set applied to every household.")
    top_k_default: int = Field(default=4, ge=0, le=10, description="Reasons per decision unless asked.")
    timezone: str = Field(
        default="Asia/Makassar",
        description="Zone whose calendar date picks the rule-set thresholds in effect (WITA for Kukar).",
    )
    model_dir: Path | None = Field(
        default=None, description="Serve this saved model folder instead of the registry champion."
    )
    use_registry: bool = Field(default=True, description="Look for the MLflow champion before the default.")
    allow_unsigned: bool = Field(
        default=False, description="Serve a model whose card is unsigned or not signed by a trusted key."
    )
    office_plan: str = Field(
        default="kukar_demo", description="The district's plan the office pages run (shipped name or path)."
    )
    office_max_upload_bytes: int = Field(
        default=64_000_000, ge=1024, description="Largest registry file the office page accepts."
    )
    office_upload_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest time to receive an office upload (slow district links)."
    )
    project: Settings = Field(default_factory=get_settings)


def get_api_settings(**overrides: object) -> ApiSettings:
    """Build the service settings from the environment, with explicit overrides (tests pass limits)."""
    return ApiSettings(**overrides)  # type: ignore[arg-type]
