"""The household survey contract (contract.yaml) as typed, validated data."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from targeting.errors import SpecError

FieldType = Literal["string", "category", "int", "float", "bool"]
Role = Literal["id", "personal", "location", "feature", "rule", "audit", "welfare", "weight", "community"]


class Label(BaseModel):
    """A code's Bahasa Indonesia and English labels."""

    model_config = ConfigDict(extra="forbid")
    id: str
    en: str


class FieldSpec(BaseModel):
    """One column of the contract."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: FieldType
    role: Role
    required: bool
    nullable: bool
    label_id: str = Field(alias="id")
    label_en: str = Field(alias="en")
    codes: str | None = None
    pattern: str | None = None
    max_length: int | None = Field(default=None, ge=1, description="Most characters of a text field.")
    min: float | None = None
    max: float | None = None
    allowed: list[int] | None = None


class RowCheck(BaseModel):
    """A consistency check across columns of one row."""

    model_config = ConfigDict(extra="forbid")
    id: str
    id_text: str
    en: str
    columns: list[str]


class Contract(BaseModel):
    """The whole contract: fields, row checks and code lists."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    description: str
    fields: dict[str, FieldSpec]
    row_checks: list[RowCheck]
    codes: dict[str, dict[str, Label]]

    @model_validator(mode="after")
    def _codes_exist(self) -> Contract:
        for name, f in self.fields.items():
            if f.type == "category" and (f.codes is None or f.codes not in self.codes):
                raise ValueError(f"field {name!r}: code list {f.codes!r} is not defined")
        for check in self.row_checks:
            unknown = set(check.columns) - set(self.fields)
            if unknown:
                raise ValueError(f"row check {check.id!r} names unknown fields {sorted(unknown)}")
        return self

    def code_list(self, field: str) -> list[str]:
        """The closed list of codes of a categorical field, in contract order."""
        spec = self.fields[field]
        if spec.codes is None:
            raise KeyError(f"{field!r} is not categorical")
        return list(self.codes[spec.codes])

    def label(self, field: str, code: str, lang: str = "id") -> str:
        """Human label of a code (``lang`` is ``id`` or ``en``)."""
        spec = self.fields[field]
        assert spec.codes is not None
        return getattr(self.codes[spec.codes][code], lang)

    def field_label(self, field: str, lang: str = "id") -> str:
        """Human name of a field."""
        f = self.fields[field]
        return f.label_id if lang == "id" else f.label_en

    def by_role(self, *roles: str) -> list[str]:
        """Field names with one of the given roles, in contract order."""
        return [n for n, f in self.fields.items() if f.role in roles]


@cache
def load_contract(name: str = "indonesia_household") -> Contract:
    """Load and validate a packaged contract (cached: contracts are immutable package data)."""
    if name != "indonesia_household":
        raise SpecError(f"unknown contract {name!r} (known: indonesia_household)")
    text = resources.files("targeting.survey").joinpath("contract.yaml").read_text(encoding="utf-8")
    try:
        return Contract.model_validate(yaml.safe_load(text))
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise SpecError(f"contract.yaml is invalid: {exc}") from exc
