"""Programme cut-offs by welfare decile, kept as data in ``programs.yaml`` (typed on load)."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from targeting.errors import SpecError
from targeting.yaml_models import load_yaml_model

__all__ = ["Program", "ProgramConfig", "load_programs", "program_eligibility", "program_flags"]

Evidence = Literal["official", "weak"]


class Program(BaseModel):
    """One programme: its names and the deciles (inclusive) it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="Name in Bahasa Indonesia.")
    en: str = Field(description="Name in English.")
    desil_min: int = Field(default=1, ge=1, le=10)
    desil_max: int = Field(ge=1, le=10)
    evidence: Evidence = "weak"
    reference: str | None = None
    effective_from: date | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Program:
        if self.desil_min > self.desil_max:
            raise ValueError(f"desil_min {self.desil_min} is above desil_max {self.desil_max}")
        return self


class ProgramConfig(BaseModel):
    """All programmes of one configuration file, with the file's default reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reference: str
    evidence: Evidence
    note: str | None = None
    programs: dict[str, Program]

    def reference_for(self, key: str) -> str:
        return self.programs[key].reference or self.reference


def load_programs(path: Path | None = None) -> ProgramConfig:
    """Read a programme file (default: the packaged ``programs.yaml``)."""
    if path is None:
        text = resources.files("targeting.pmt").joinpath("programs.yaml").read_text("utf-8")
        where = "targeting/pmt/programs.yaml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read programme file ({exc.strerror})") from exc
        where = str(path)
    return load_yaml_model(text, ProgramConfig, where)


def program_eligibility(deciles: npt.ArrayLike, config: ProgramConfig | None = None) -> pd.DataFrame:
    """One boolean column per programme: the household's decile lies in its range."""
    return pd.DataFrame(program_flags(deciles, config))


def program_flags(deciles: npt.ArrayLike,
                  config: ProgramConfig | None = None) -> dict[str, npt.NDArray[np.bool_]]:
    """`program_eligibility`'s columns as boolean arrays, programme id -> flags (no frame built)."""
    config = config or load_programs()
    d = np.asarray(deciles)
    if d.size and (d.min() < 1 or d.max() > 10):
        raise ValueError("deciles must lie in 1..10")
    return {key: (d >= p.desil_min) & (d <= p.desil_max) for key, p in config.programs.items()}
