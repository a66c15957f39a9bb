"""What the rule engine needs from the survey contract: field types and closed code lists."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

FieldKind = str  # contract ``type``: string | category | bool | int | float

_CONTRACT_PATH = Path(__file__).resolve().parents[1] / "survey" / "contract.yaml"


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
def contract_fields(path: Path = _CONTRACT_PATH) -> dict[str, ContractField]:
    """Fields of the survey contract, read once per process (on first use, not at import)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    code_lists = raw.get("codes", {})
    out: dict[str, ContractField] = {}
    for name, spec in raw["fields"].items():
        codes = spec.get("codes")
        allowed = spec.get("allowed")
        out[name] = ContractField(
            name=name,
            kind=spec["type"],
            codes=frozenset(str(c) for c in code_lists[codes]) if codes else None,
            allowed=frozenset(float(v) for v in allowed) if allowed else None,
            label_id=str(spec.get("id", "")),
            label_en=str(spec.get("en", "")),
        )
    return out
