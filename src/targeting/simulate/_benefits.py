"""Benefit amounts as dated data (``benefits.yaml``), typed on load, and what each household receives."""

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

Evidence = Literal["official", "weak"]
FloatArray = npt.NDArray[np.float64]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatedAmount(_Strict):
    """Rupiah amounts keyed by the date each takes effect, with their source and evidence."""

    values: dict[date, float] = Field(min_length=1)
    evidence: Evidence
    source: str

    def on(self, day: date) -> float:
        """The amount in effect on ``day``; an error naming the first date if none was yet."""
        starts = [d for d in self.values if d <= day]
        if not starts:
            raise SpecError(
                f"no benefit amount in effect on {day} (the first takes effect {min(self.values)})"
            )
        return float(self.values[max(starts)])


class Component(_Strict):
    """One PKH-style component: an amount per member counted in ``column``."""

    id: str
    en: str
    column: str
    per_year: DatedAmount


class Benefit(_Strict):
    """One programme's benefit: flat per month, or components per member (capped), per household or person."""

    id: str
    en: str
    unit: Literal["household", "person"]
    counts_as_income: bool
    per_month: DatedAmount | None = None
    components: dict[str, Component] = Field(default_factory=dict)
    max_components: int | None = Field(default=None, ge=1)
    flat_per_year: DatedAmount | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> Benefit:
        if self.per_month is None and not self.components:
            raise ValueError("give per_month, or components (with flat_per_year for tables without them)")
        return self

    @property
    def weak(self) -> bool:
        """Whether any amount used rests on weak evidence."""
        amounts = [self.per_month, self.flat_per_year, *(c.per_year for c in self.components.values())]
        return any(a is not None and a.evidence == "weak" for a in amounts)

    def annual_amounts(self, frame: pd.DataFrame, day: date) -> tuple[FloatArray, str]:
        """Rp per year each household would receive, and how it was computed (``flat``/``components``)."""
        n = len(frame)
        size = frame["household_size"].to_numpy(dtype=float)
        if self.per_month is not None:
            amount = np.full(n, 12.0 * self.per_month.on(day))
            return (amount * size if self.unit == "person" else amount), "flat"
        cols = [c.column for c in self.components.values()]
        if all(c in frame.columns for c in cols):
            counts = np.column_stack([frame[c].fillna(0).to_numpy(dtype=float) for c in cols])
            rates = np.array([c.per_year.on(day) for c in self.components.values()])
            if self.max_components is not None:
                # The cap counts members: keep the largest amounts first (as the programme pays them).
                order = np.argsort(-rates)
                counts, rates = counts[:, order], rates[order]
                left = np.full(n, float(self.max_components))
                paid = np.zeros_like(counts)
                for j in range(counts.shape[1]):  # a handful of components
                    paid[:, j] = np.minimum(counts[:, j], left)
                    left -= paid[:, j]
                counts = paid
            return counts @ rates, "components"
        if self.flat_per_year is None:
            missing = [c for c in cols if c not in frame.columns]
            raise SpecError(
                f"benefit {self.id}: the decisions lack column(s) {', '.join(missing)} and the "
                "programme has no flat_per_year amount"
            )
        return np.full(n, self.flat_per_year.on(day)), "flat_average"


class ReferencePoverty(_Strict):
    rate: float = Field(ge=0, le=1)
    unit: Literal["persons", "households"]
    period: str
    source: str
    evidence: Evidence


class BenefitConfig(_Strict):
    programs: dict[str, Benefit]
    reference_poverty: dict[str, ReferencePoverty] = Field(default_factory=dict)

    def program(self, key: str) -> Benefit:
        try:
            return self.programs[key]
        except KeyError:
            raise SpecError(f"unknown programme {key!r} (known: {', '.join(self.programs)})") from None


def load_benefits(path: Path | None = None) -> BenefitConfig:
    """Read a benefits file (default: the packaged ``benefits.yaml``)."""
    if path is None:
        text = resources.files("targeting.simulate").joinpath("benefits.yaml").read_text("utf-8")
        where = "targeting/simulate/benefits.yaml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read benefits file ({exc.strerror})") from exc
        where = str(path)
    return load_yaml_model(text, BenefitConfig, where)
