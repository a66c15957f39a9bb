"""The explanation of one household's decision, as serialisable data (pictures belong to the report)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

RawValue = str | int | float | bool | None
Direction = Literal["down", "up"]


class IndicatorContribution(BaseModel):
    """How much one indicator moved the household's predicted log welfare from the base value."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    indicator: str
    label_id: str
    label_en: str
    value: RawValue
    value_text_id: str
    value_text_en: str
    contribution: float
    """In log points: the prediction is ``base_value`` plus the sum of these."""
    effect_pct: float
    """The same as a percentage effect on predicted welfare: ``100 (exp(contribution) − 1)``."""


class ReasonCode(BaseModel):
    """One reason of a decision: an indicator that pushed predicted welfare the decision's way."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int
    code: str
    """The indicator id (a contract field name), stable across languages and versions."""
    value: RawValue
    direction: Direction
    contribution: float
    effect_pct: float
    text_id: str
    text_en: str

    def text(self, lang: str = "id") -> str:
        """The reason in ``lang`` (``id`` default, or ``en``)."""
        if lang not in ("id", "en"):
            raise ValueError(f"lang must be 'id' or 'en', got {lang!r}")
        return self.text_id if lang == "id" else self.text_en


class HouseholdExplanation(BaseModel):
    """A household's score and its exact explanation.

    ``base_value + Σ contributions == prediction`` (log per-capita welfare) to rounding; reasons are
    the top indicators pushing down (selected) or up (not selected), strongest first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    household_id: str
    base_value: float
    prediction: float
    prediction_rp: float
    selected: bool
    contributions: list[IndicatorContribution]
    reasons: list[ReasonCode]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return self.model_dump(mode="json")

    def reason_texts(self, lang: str = "id") -> list[str]:
        """The reasons as sentences in ``lang``."""
        return [r.text(lang) for r in self.reasons]
