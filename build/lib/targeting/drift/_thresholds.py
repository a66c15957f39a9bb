"""Drift thresholds as dated data (``thresholds.yaml``), typed on load and resolved for one day."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from targeting.errors import SpecError
from targeting.yaml_models import load_yaml_model

StrictDate = Annotated[date, Strict()]
Evidence = Literal["official", "convention", "project"]
T = TypeVar("T")


class Dated(BaseModel, Generic[T]):
    """One parameter: what it is, its unit and source, and values keyed by the date they take effect."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str
    unit: str
    reference: str
    evidence: Evidence
    note: str | None = None
    values: Annotated[dict[StrictDate, T], Field(min_length=1)]

    def value_on(self, day: date) -> T | None:
        """The value in force on ``day`` (the latest start on or before it), else None."""
        starts = [d for d in self.values if d <= day]
        return self.values[max(starts)] if starts else None


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    psi_moderate: Dated[Annotated[float, Field(gt=0)]]
    psi_major: Dated[Annotated[float, Field(gt=0)]]
    psi_epsilon: Dated[Annotated[float, Field(gt=0, lt=0.01)]]
    numeric_bins: Dated[Annotated[int, Field(ge=2, le=100)]]
    alpha: Dated[Annotated[float, Field(gt=0, lt=1)]]
    correction: Dated[Literal["bh", "by"]]
    require_significance: Dated[bool]


class ThresholdFile(BaseModel):
    """A validated thresholds file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    thresholds: _Parameters


class DriftThresholds(BaseModel):
    """The thresholds in force on one day (what the drift functions use)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    psi_moderate: float = Field(default=0.10, gt=0)
    psi_major: float = Field(default=0.25, gt=0)
    psi_epsilon: float = Field(default=1e-4, gt=0, lt=0.01)
    numeric_bins: int = Field(default=10, ge=2, le=100)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["bh", "by"] = "bh"
    require_significance: bool = True
    as_of: date | None = None
    source: str = "<defaults>"

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        if self.psi_moderate >= self.psi_major:
            raise ValueError(f"psi_moderate {self.psi_moderate} must be below psi_major {self.psi_major}")
        return self


def load_thresholds(path: Path | None = None, *, as_of: date | None = None) -> DriftThresholds:
    """The thresholds in force on ``as_of`` (default today) from ``path`` (default the packaged file)."""
    if path is None:
        text = resources.files("targeting.drift").joinpath("thresholds.yaml").read_text("utf-8")
        where = "targeting/drift/thresholds.yaml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read thresholds file ({exc.strerror})") from exc
        where = str(path)
    parsed = load_yaml_model(text, ThresholdFile, where)
    day = as_of or date.today()
    values = {}
    for name in _Parameters.model_fields:
        value = getattr(parsed.thresholds, name).value_on(day)
        if value is None:
            raise SpecError(f"{where}: thresholds.{name}: no value in force on {day.isoformat()}")
        values[name] = value
    try:
        return DriftThresholds(**values, as_of=day, source=where)
    except ValidationError as exc:
        raise SpecError(f"{where}: on {day.isoformat()}: {exc.errors()[0]['msg']}") from exc
