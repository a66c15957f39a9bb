"""The decisions table, defined once: its columns, verdict names, prefixes and the metadata it carries.

One row per household, written by `targeting score` / `run` (Parquet, with the metadata below in the
file's schema), read by the audit, the report, the exports and the API (which shows the same values
as JSON). Every other module names these columns through the constants here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from targeting.eligibility import CRITERION_PREFIX, VERDICTS, criterion_column

__all__ = [
    "CRITERION_PREFIX",
    "DecisionsMeta",
    "PERSONAL_COLUMNS",
    "PROGRAM_PREFIX",
    "REQUIRED_COLUMNS",
    "VERDICTS",
    "criterion_column",
    "program_column",
    "reason_columns",
]

SCHEMA_VERSION = 1
#: Key of the JSON metadata in a decisions Parquet file's schema.
META_KEY = b"targeting.decisions"

HOUSEHOLD_ID = "household_id"
WEIGHT = "weight"
HOUSEHOLD_SIZE = "household_size"
PREDICTED_LOG = "predicted_log_welfare"
PREDICTED = "predicted_welfare"
PERCENTILE = "percentile"
DESIL = "desil"
PERCENTILE_REGION = "percentile_region"
DESIL_REGION = "desil_region"
SELECTED = "selected"
RULE_VERDICT = "rule_verdict"
RULE_STAGE = "rule_stage"
RULE_N_MET = "rule_n_met"
RULE_N_UNKNOWN = "rule_n_unknown"
REASON_DIRECTION = "reason_direction"
N_REASONS = "n_reasons"
WELFARE_TRUE = "welfare_true"
#: The calibrated interval of per-capita welfare (Rp) at the run's level, the probability that the
#: household is on the other side of its selection's cut-off, and clearly_in / borderline / clearly_out.
#: With a PMT + community blend: the consensus within-community rank (0 = poorest) and who decided.
COMMUNITY_PERCENTILE = "community_percentile"
METHOD = "method"
WELFARE_LOW = "welfare_low"
WELFARE_HIGH = "welfare_high"
P_OTHER_SIDE = "p_other_side"
STATUS = "status"
POOR_TRUE = "poor_true"
POVERTY_LINE = "poverty_line"
PROGRAM_PREFIX = "program_"
#: Every indicator's exact contribution, when a run keeps them (``score --contributions``).
CONTRIB_PREFIX = "contrib_"
REASON_PREFIX = "reason_"
#: Personal identifiers (UU 27/2022): never written; NIK becomes ``head_nik_pseudonym``.
PERSONAL_COLUMNS: tuple[str, ...] = ("head_nik", "family_card_no")
NIK_PSEUDONYM = "head_nik_pseudonym"

#: Columns every decisions table has (the rules' columns only when a rule set was applied).
REQUIRED_COLUMNS: tuple[str, ...] = (HOUSEHOLD_ID, WEIGHT, HOUSEHOLD_SIZE, PREDICTED, DESIL, SELECTED)
RULE_COLUMNS: tuple[str, ...] = (RULE_VERDICT, RULE_STAGE, RULE_N_MET, RULE_N_UNKNOWN)
#: The measured truth, where the data have it: always the table's last columns.
TRUTH_COLUMNS: tuple[str, ...] = (WELFARE_TRUE, POVERTY_LINE, POOR_TRUE)
#: Parts of each reason slot ``reason_<i>_<part>``.
REASON_PARTS: tuple[str, ...] = ("code", "value", "contribution", "text_id", "text_en")


def program_column(program_id: str) -> str:
    """``program_<id>``: whether the household's desil lies in that programme's range."""
    return f"{PROGRAM_PREFIX}{program_id}"


def reason_columns(slot: int) -> dict[str, str]:
    """Column names of reason slot ``slot`` (1-based), by part."""
    return {part: f"{REASON_PREFIX}{slot}_{part}" for part in REASON_PARTS}


def reason_text_column(slot: int, lang: str) -> str:
    return f"{REASON_PREFIX}{slot}_text_{lang}"


def reason_text_columns(frame: Any) -> list[str]:
    """The ``reason_<i>_text_<lang>`` columns of a frame, in slot order."""
    return [c for c in frame.columns if str(c).startswith(REASON_PREFIX) and "_text_" in str(c)]


def join_reason_texts(frame: Any, columns: list[str], sep: str = "; ") -> Any:
    """One text per row joining the given reason-text columns (empty slots skipped).

    Meant for the rows that are written out (a flagged list, one household): a whole registry keeps
    its reasons as dictionary-encoded slots.
    """
    import pandas as pd

    parts = [frame[c].astype("string") for c in columns]
    out = pd.Series([""] * len(frame), index=frame.index, dtype="string")
    for part in parts:
        has = part.notna() & (part != "")
        glue = (out != "").map({True: sep, False: ""}).astype("string")
        out = out.where(~has, out + glue + part.fillna(""))
    return out


class Truth(BaseModel):
    """What "truly poor" means in this table, where welfare was measured."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="flag | line | bottom_share")
    welfare: str | None = Field(default=None, description="What the measured welfare is (spec's column).")
    line: float | None = None
    bottom_share: float | None = None
    source: str = ""


class DecisionsMeta(BaseModel):
    """What a decisions table is: written into its Parquet schema, read back by the audit."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    created: str = ""
    package_version: str = ""
    spec: str = ""
    dataset_title: str = ""
    source_files: list[str] = Field(default_factory=list)
    model: dict[str, Any] = Field(default_factory=dict)
    ruleset: dict[str, Any] | None = None
    ranking: str = "within"
    selection: dict[str, Any] = Field(default_factory=dict)
    programs: dict[str, Any] = Field(default_factory=dict)
    region: str | None = None
    cluster: str | None = None
    groups: dict[str, str] = Field(default_factory=dict, description="Audit group column -> label.")
    truth: Truth | None = None
    top_k: int = 4
    intervals: dict[str, Any] | None = None
    n_input: int = 0
    n_rejected: int = 0
    n_excluded: int = 0
    n_households: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_schema_metadata(cls, metadata: Mapping[bytes, bytes] | None) -> DecisionsMeta | None:
        """The metadata of a decisions Parquet file, or None if it has none (an older or foreign file)."""
        if not metadata or META_KEY not in metadata:
            return None
        return cls.model_validate(json.loads(metadata[META_KEY].decode("utf-8")))
