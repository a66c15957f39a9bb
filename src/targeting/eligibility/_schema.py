"""The typed form of a rule-set file: conditions from a closed set of operators, dated thresholds.

A rule file never holds code: every condition is one of the operator models below, chosen by its
``op`` key, and every number a comparison uses is a named, dated, referenced threshold.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, Strict, model_validator

StrictDate = Annotated[date, Strict()]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]

#: Units a threshold may carry; rupiah units are the ones ``deflate_to_year`` rescales.
Unit = Literal[
    "share",
    "m2",
    "m2_per_person",
    "VA",
    "IDR",
    "IDR_per_month",
    "days_per_week",
    "meals_per_day",
    "persons",
    "count",
]
RUPIAH_UNITS: frozenset[str] = frozenset({"IDR", "IDR_per_month"})

#: Quantities derived from a field; ``per_capita`` divides by ``household_size``.
Derive = Literal["per_capita"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- conditions -------------------------------------------------------------------------------


class Compare(_Strict):
    """``field`` (or a quantity derived from it) compared with a named threshold."""

    op: Literal["lt", "le", "gt", "ge"]
    field: str
    derive: Derive | None = None
    threshold: str


class Equals(_Strict):
    """``field`` equal (``eq``) or not equal (``ne``) to a code, a literal or a named threshold."""

    op: Literal["eq", "ne"]
    field: str
    derive: Derive | None = None
    value: str | bool | int | float | None = None
    threshold: str | None = None

    @model_validator(mode="after")
    def _one_operand(self) -> Equals:
        if (self.value is None) == (self.threshold is None):
            raise ValueError("give exactly one of 'value' (a code or literal) or 'threshold'")
        return self


class Membership(_Strict):
    """``field`` is (``in``) or is not (``not_in``) one of the listed codes."""

    op: Literal["in", "not_in"]
    field: str
    values: Annotated[list[str | int], Field(min_length=1)]


class Between(_Strict):
    """``low <= field <= high`` with named thresholds; ``closed`` says which ends are included."""

    op: Literal["between"]
    field: str
    derive: Derive | None = None
    low: str
    high: str
    closed: Literal["both", "left", "right", "neither"] = "both"


class Truth(_Strict):
    """A yes/no field is true (``is_true``) or false (``is_false``)."""

    op: Literal["is_true", "is_false"]
    field: str


class AllAny(_Strict):
    """All (``all``) or at least one (``any``) of the nested conditions hold (Kleene logic)."""

    op: Literal["all", "any"]
    conditions: Annotated[list[Condition], Field(min_length=1)]


class Not(_Strict):
    """The nested condition does not hold (unknown stays unknown)."""

    op: Literal["not"]
    condition: Condition


class CountAtLeast(_Strict):
    """At least ``k`` of the nested conditions hold."""

    op: Literal["count_at_least"]
    k: Annotated[int, Field(ge=1)]
    conditions: Annotated[list[Condition], Field(min_length=1)]

    @model_validator(mode="after")
    def _k_reachable(self) -> CountAtLeast:
        if self.k > len(self.conditions):
            raise ValueError(f"k={self.k} is more than the {len(self.conditions)} conditions listed")
        return self


Condition = Annotated[
    Compare | Equals | Membership | Between | Truth | AllAny | Not | CountAtLeast,
    Field(discriminator="op"),
]
OPERATORS: tuple[str, ...] = (
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between", "is_true", "is_false",
    "all", "any", "not", "count_at_least",
)  # fmt: skip

AllAny.model_rebuild()
Not.model_rebuild()
CountAtLeast.model_rebuild()


# ---- thresholds, criteria, decision -------------------------------------------------------------


class Threshold(_Strict):
    """A named parameter with a unit and values keyed by the date they take effect."""

    description: str
    unit: Unit
    reference: str | None = None
    price_year: int | None = None  # the prices a rupiah amount is expressed in
    note: str | None = None
    values: Annotated[dict[StrictDate, float], Field(min_length=1)]

    @model_validator(mode="after")
    def _price_year_only_for_rupiah(self) -> Threshold:
        if self.price_year is not None and self.unit not in RUPIAH_UNITS:
            raise ValueError(f"price_year is only meaningful for rupiah units, not {self.unit!r}")
        return self

    def value_on(self, day: date) -> float | None:
        """The value in effect on ``day`` (latest start date on or before it), else None."""
        starts = [d for d in self.values if d <= day]
        return self.values[max(starts)] if starts else None


class Criterion(_Strict):
    """One criterion: the decree's wording, an English gloss, and the condition that tests it."""

    id: Identifier
    text_id: str
    text_en: str
    condition: Condition
    proxy: str | None = None  # how the wording was mapped onto survey fields, and why
    proxy_id: str | None = None  # the same in Bahasa Indonesia (shown first in reports)
    reference: str | None = None


class Stage(_Strict):
    """Criteria tested together: the stage is met when ``min_criteria_met`` of them are met."""

    id: Identifier
    text_id: str
    text_en: str
    criteria: Annotated[list[str], Field(min_length=1)]
    min_criteria_met: Annotated[int, Field(ge=1)]
    required: list[str] = Field(default_factory=list)
    basis: Literal["legal_text", "local_policy_choice", "statistical_convention"]
    reason: str
    reason_id: str | None = None  # the reason in Bahasa Indonesia (shown first in reports)


class Decision(_Strict):
    """Stages tried in order; the first one met makes the household eligible."""

    stages: Annotated[list[Stage], Field(min_length=1)]
    counted_stage: str | None = None  # the k-of-n stage (default: the last stage)

    @property
    def counting_stage(self) -> Stage:
        """The stage whose ``min_criteria_met`` can be overridden and whose criteria n_met counts."""
        if self.counted_stage is None:
            return self.stages[-1]
        return next(s for s in self.stages if s.id == self.counted_stage)


class LegalReference(_Strict):
    """Where the rule set comes from."""

    instrument: str
    number: str | None = None
    title_id: str
    title_en: str
    date: StrictDate | None = None
    source: str
    quality: Literal["official_text", "secondary_sources"]
    note: str | None = None
    note_id: str | None = None  # the note in Bahasa Indonesia (shown first in reports)


class PriceIndex(_Strict):
    """Yearly consumer price index used to restate rupiah thresholds in another year's prices."""

    name: str
    source: str
    quality: Literal["official", "approximate"]
    note: str | None = None
    values: Annotated[dict[int, float], Field(min_length=2)]


class RuleSet(_Strict):
    """A validated rule set (see ``load_ruleset``)."""

    schema_version: Literal[1]
    id: Identifier
    title_id: str
    title_en: str
    legal_reference: LegalReference
    in_force_from: StrictDate
    revoked_on: StrictDate | None = None
    revoked_by: str | None = None
    notes: str | None = None
    notes_id: str | None = None  # the notes in Bahasa Indonesia (shown first in reports)
    thresholds: dict[Identifier, Threshold] = Field(default_factory=dict)
    criteria: Annotated[list[Criterion], Field(min_length=1)]
    decision: Decision
    price_index: PriceIndex | None = None
    _path: str | None = PrivateAttr(default=None)

    @property
    def path(self) -> str | None:
        """The file the rule set was loaded from."""
        return self._path

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id (KeyError if absent)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def in_force_on(self, day: date) -> bool:
        """Whether the rule set was in force on ``day`` (from in_force_from, until revoked_on)."""
        return self.in_force_from <= day and (self.revoked_on is None or day < self.revoked_on)
