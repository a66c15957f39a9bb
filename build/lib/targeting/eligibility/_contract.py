"""What the rule engine needs from the survey contract: field types and closed code lists."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

FieldKind = str  # contract ``type``: string | category | bool | int | float

@dataclass(frozen=True)
class ContractField:
    """One survey field as rule sets see it."""

    name: str
    kind: FieldKind
    codes: frozenset[str] | None = None  # closed code list of a category field
    allowed: frozenset[float] | None = None  # allowed values of a numeric field (e.g. VA tiers)
    label_id: str = ""
    label_en: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("int", "float")


@cache
def contract_fields() -> dict[str, ContractField]:
    """Fields of the survey contract as rule sets see them (built once, from the typed contract)."""
    from targeting.survey.contract import load_contract

    contract = load_contract()
    return {
        name: ContractField(
            name=name,
            kind=spec.type,
            codes=frozenset(contract.code_list(name)) if spec.codes else None,
            allowed=frozenset(float(v) for v in spec.allowed) if spec.allowed else None,
            label_id=spec.label_id,
            label_en=spec.label_en,
        )
        for name, spec in contract.fields.items()
    }
