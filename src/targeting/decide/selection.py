"""Who the model selects: a programme, a desil cut-off, or a quota of households per region.

The selection is what the reasons follow (a selected household is told what lowered its predicted
welfare, the others what raised it) and what the audit calls "the model's pick". Programme ranges
come from `targeting.pmt.programs` (dated data); quotas are a district's own numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from targeting.errors import SpecError
from targeting.pmt.programs import ProgramConfig

BoolArray = npt.NDArray[np.bool_]


class Selection(BaseModel):
    """Who is selected: a ``program``, ``desil_max``, a ``quota`` per region, or (none) any programme.

    A programme selects its desil range, ``desil_max`` desil 1..k, a quota the poorest households of
    each region up to its number (it needs the whole registry).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    program: str | None = Field(default=None, description="A programme id of programs.yaml, e.g. pkh.")
    desil_max: int | None = Field(default=None, ge=1, le=10)
    quota: dict[str, float] | None = Field(
        default=None, description="Region (kecamatan code) -> households to select, poorest first."
    )

    @model_validator(mode="after")
    def _one(self) -> Selection:
        if sum(x is not None for x in (self.program, self.desil_max, self.quota)) > 1:
            raise ValueError("a selection takes at most one of program, desil_max, quota")
        if self.quota is not None and any(v < 0 for v in self.quota.values()):
            raise ValueError("quotas must be non-negative")
        return self

    @property
    def needs_population(self) -> bool:
        """A quota depends on every household of a region: it cannot be decided one household at a time."""
        return self.quota is not None

    def check(self, programs: ProgramConfig) -> None:
        """Refuse a programme that the programme file does not define."""
        if self.program is not None and self.program not in programs.programs:
            raise SpecError(
                f"selection: unknown programme {self.program!r} (programs.yaml has "
                f"{', '.join(programs.programs)})"
            )

    def describe(self, programs: ProgramConfig, lang: str = "id") -> str:
        """A sentence for reports and the API: what "selected" means here."""
        if self.program is not None:
            p = programs.programs[self.program]
            name = p.id if lang == "id" else p.en
            return f"{name}: desil {p.desil_min}–{p.desil_max}"
        if self.desil_max is not None:
            return f"desil 1–{self.desil_max}" if self.desil_max > 1 else "desil 1"
        if self.quota is not None:
            total = sum(self.quota.values())
            word = ("rumah tangga termiskin per kecamatan" if lang == "id"
                    else "poorest households per kecamatan")
            return f"kuota / quota: {total:,.0f} {word}"
        ranges = ", ".join(f"{p.id if lang == 'id' else p.en} (desil {p.desil_min}–{p.desil_max})"
                           for p in programs.programs.values())
        return ("program mana pun / any programme: " if lang == "id" else "any programme: ") + ranges

    @classmethod
    def from_quota_file(cls, path: Any) -> Selection:
        """A quota per kecamatan from a CSV with columns ``kecamatan,households`` (each kecamatan once)."""
        import pandas as pd

        try:
            table = pd.read_csv(path, dtype={"kecamatan": "string"})
        except (OSError, ValueError) as exc:
            raise SpecError(f"quota file {path}: cannot read it as CSV ({exc})") from exc
        if list(table.columns[:2]) != ["kecamatan", "households"]:
            raise SpecError(f"quota file {path}: expected columns kecamatan,households "
                            f"(got {list(table.columns)})")
        values = pd.to_numeric(table["households"], errors="coerce")
        bad = values.isna() | (values < 0) | table["kecamatan"].duplicated() | table["kecamatan"].isna()
        if bad.any():
            row = int(table.index[bad][0]) + 2
            raise SpecError(f"quota file {path}: row {row} is not a kecamatan with a non-negative number of "
                            "households (each kecamatan once)")
        return cls(quota=dict(zip(table["kecamatan"].astype(str), values.astype(float), strict=True)))

    def select(self, desil: npt.ArrayLike, programs_table: Any) -> BoolArray:
        """The pick from each household's desil and programme flags (not for quotas)."""
        d = np.asarray(desil)
        if self.quota is not None:
            raise ValueError("a quota selection needs the whole registry (decide.ranking.within)")
        if self.program is not None:
            return np.array(programs_table[self.program], dtype=bool)  # a copy: not the flags' column
        if self.desil_max is not None:
            return np.asarray(d <= self.desil_max, dtype=bool)
        if not len(d):
            return np.zeros(0, dtype=bool)
        if isinstance(programs_table, Mapping):  # programme id -> flags (`pmt.programs.program_flags`)
            return np.logical_or.reduce([np.asarray(v, dtype=bool) for v in programs_table.values()])
        return np.asarray(np.asarray(programs_table, dtype=bool).any(axis=1), dtype=bool)
