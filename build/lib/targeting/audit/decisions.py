"""The decisions frame an audit reads, checked once and turned into typed arrays.

One row per household: the model's pick, the rule set's verdict (when one was applied), and (where
welfare was measured) the truth. Column names are those of the decisions table
(:mod:`targeting.decide.schema`); every check raises :class:`~targeting.errors.InputFileError`
naming the column and the first bad row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.decide.schema import (
    CRITERION_PREFIX,
    PERSONAL_COLUMNS,
    REQUIRED_COLUMNS,
    RULE_VERDICT,
    VERDICTS,
    DecisionsMeta,
)
from targeting.errors import InputFileError
from targeting.pmt.design import Unit, check_unit
from targeting.survey.booleans import FALSE_WORDS, TRUE_WORDS

__all__ = [
    "CRITERION_PREFIX",
    "GROUP_ATTRIBUTES",
    "PERSONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SUBJECTS",
    "VERDICTS",
    "AuditData",
    "as_audit_data",
    "read_decisions",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: Group attributes the audit breaks errors down by when a table does not name its own, in report order.
GROUP_ATTRIBUTES: tuple[str, ...] = (
    "kecamatan",
    "urban",
    "female_head",
    "elderly_head",
    "disability",
    "size_band",
)
#: The three selections every metric is computed for (only the model's without a rule set).
SUBJECTS: tuple[str, str, str] = ("model", "rules", "model_within_rules")


def _first_bad(frame: pd.DataFrame, column: str, bad: BoolArray, what: str) -> InputFileError:
    pos = int(np.flatnonzero(bad)[0])
    hid = frame["household_id"].iloc[pos] if "household_id" in frame else pos
    value = frame[column].iloc[pos]
    value = value.item() if isinstance(value, np.generic) else value
    return InputFileError(
        f"decisions frame, column {column!r}, row {pos} (household_id {hid}): {value!r} is not "
        f"{what} ({int(bad.sum())} such rows)"
    )


def _bool_column(frame: pd.DataFrame, column: str, *, nullable: bool) -> tuple[BoolArray, BoolArray]:
    """(values, known) of a yes/no column; missing values allowed only if ``nullable``."""
    col = frame[column]
    known = col.notna().to_numpy(dtype=bool)
    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        x = col.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        bad = known & ~np.isin(x, (0.0, 1.0))
        if bad.any():
            raise _first_bad(frame, column, bad, "true/false")
        values = x == 1.0
    else:
        words = col.astype("string").str.strip().str.lower()
        values = words.isin(TRUE_WORDS).to_numpy(dtype=bool, na_value=False)
        false = words.isin(FALSE_WORDS).to_numpy(dtype=bool, na_value=False)
        bad = known & ~(values | false)
        if bad.any():
            raise _first_bad(frame, column, bad, "true/false")
    if not nullable and not known.all():
        raise _first_bad(frame, column, ~known, "a value (missing)")
    return values & known, known


def _float_column(frame: pd.DataFrame, column: str) -> FloatArray:
    col = frame[column]
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = col.notna().to_numpy(dtype=bool) & np.isnan(x)
    if bad.any():
        raise _first_bad(frame, column, bad, "a number")
    return x


@dataclass(frozen=True)
class AuditData:
    """A checked decisions frame as typed arrays (row order of ``frame``).

    Attributes
    ----------
    frame : the decisions with a fresh RangeIndex.
    weight : survey weight (households represented; 1 in a registry).
    size : household size (persons).
    predicted : predicted per-capita welfare.
    desil : predicted welfare decile, 1 (poorest) to 10.
    selected : the model's pick.
    verdict : the rule set's verdict (eligible / not_eligible / unknown); all ``unknown`` and
        ``has_rules`` False when no rule set was applied.
    poor, truth_known : the truth (False where unknown) and where it is known.
    welfare_true : measured per-capita welfare (NaN where not measured).
    criteria : criterion ids, from the ``crit_<id>`` columns, in column order.
    n_met : criteria met per household (unknown criteria count as not met).
    unit : what every rate counts: ``person`` (weight x size) or ``household`` (weight).
    meta : the table's own description (:class:`~targeting.decide.schema.DecisionsMeta`), if any.
    """

    frame: pd.DataFrame
    weight: FloatArray
    size: FloatArray
    predicted: FloatArray
    desil: IntArray
    selected: BoolArray
    verdict: npt.NDArray[np.object_]
    poor: BoolArray
    truth_known: BoolArray
    welfare_true: FloatArray
    criteria: tuple[str, ...]
    n_met: IntArray
    has_rules: bool = True
    unit: Unit = "person"
    meta: DecisionsMeta | None = None

    @property
    def n(self) -> int:
        return int(self.weight.shape[0])

    @property
    def rate_weight(self) -> FloatArray:
        """What each household counts for in every share and rate: persons or households."""
        return self.weight * self.size if self.unit == "person" else self.weight

    @property
    def subjects(self) -> tuple[str, ...]:
        """The selections audited: model, rules and model within rules (model only without rules)."""
        return SUBJECTS if self.has_rules else SUBJECTS[:1]

    @property
    def eligible(self) -> BoolArray:
        """Rule set verdict ``eligible`` (``unknown`` is not eligible: the rules do not allow it)."""
        return np.asarray(self.verdict == "eligible", dtype=bool)

    @property
    def rules_unknown(self) -> BoolArray:
        """Verdict left open by missing answers (never, when no rule set was applied)."""
        return np.asarray(self.verdict == "unknown", dtype=bool) & self.has_rules

    @property
    def has_truth(self) -> bool:
        """Whether any household has a measured truth (else the audit is model vs rules only)."""
        return bool(self.truth_known.any())

    @property
    def has_welfare(self) -> bool:
        return bool(np.isfinite(self.welfare_true).any())

    def selection(self, subject: str) -> BoolArray:
        """Who a subject selects: ``model``, ``rules`` or ``model_within_rules``."""
        if subject == "model":
            return self.selected
        if subject not in self.subjects:
            raise ValueError(f"unknown subject {subject!r} (expected one of {self.subjects})")
        if subject == "rules":
            return self.eligible
        return self.selected & self.eligible

    def group_columns(self, wanted: Sequence[str] | None = None) -> list[str]:
        """Group attributes present in the frame: ``wanted``, else the table's own, else the usual ones."""
        if wanted is None:
            own = self.meta is not None and bool(self.meta.groups)
            wanted = list(self.meta.groups) if own and self.meta is not None else GROUP_ATTRIBUTES
            if self.meta is not None and self.meta.region and self.meta.region not in wanted:
                wanted = [self.meta.region, *wanted]
        return [c for c in wanted if c in self.frame.columns]

    @classmethod
    def from_frame(cls, decisions: pd.DataFrame, *, unit: Unit = "person",
                   meta: DecisionsMeta | None = None) -> AuditData:
        """Check a decisions frame and convert its columns once.

        The truth is ``poor_true`` where present (missing = not measured); a table without it has
        no truth, and its audit is model vs rules.
        """
        unit = check_unit(unit)
        missing = [c for c in REQUIRED_COLUMNS if c not in decisions.columns]
        if missing:
            raise InputFileError(f"decisions frame: missing column(s) {', '.join(missing)}")
        frame = decisions.reset_index(drop=True)
        ids = frame["household_id"]
        if ids.isna().any() or ids.duplicated().any():
            bad = (ids.isna() | ids.duplicated(keep="first")).to_numpy(dtype=bool)
            raise _first_bad(frame, "household_id", bad, "a unique, non-missing id")
        weight = _float_column(frame, "weight")
        bad_w = ~np.isfinite(weight) | (weight < 0)
        if bad_w.any():
            raise _first_bad(frame, "weight", bad_w, "a finite, non-negative weight")
        size = _float_column(frame, "household_size")
        bad_s = ~np.isfinite(size) | (size < 1)
        if bad_s.any():
            raise _first_bad(frame, "household_size", bad_s, "a household size of at least 1")
        predicted = _float_column(frame, "predicted_welfare")
        if np.isnan(predicted).any():
            raise _first_bad(frame, "predicted_welfare", np.isnan(predicted), "a number (missing)")
        desil_f = _float_column(frame, "desil")
        bad_d = ~np.isin(desil_f, np.arange(1, 11))
        if bad_d.any():
            raise _first_bad(frame, "desil", bad_d, "a decile from 1 to 10")
        selected, _ = _bool_column(frame, "selected", nullable=False)
        has_rules = RULE_VERDICT in frame.columns
        if has_rules:
            verdict = frame[RULE_VERDICT].astype("string").to_numpy(dtype=object, na_value="unknown")
            bad_v = ~np.isin(verdict, VERDICTS)
            if bad_v.any():
                raise _first_bad(frame, RULE_VERDICT, bad_v, f"one of {', '.join(VERDICTS)}")
        else:
            verdict = np.full(len(frame), "unknown", dtype=object)
        welfare = (
            _float_column(frame, "welfare_true") if "welfare_true" in frame else np.full(len(frame), np.nan)
        )
        if "poor_true" in frame:
            poor, known = _bool_column(frame, "poor_true", nullable=True)
        else:
            poor = known = np.zeros(len(frame), dtype=bool)
        criteria_cols = [c for c in frame.columns if str(c).startswith(CRITERION_PREFIX)]
        n_met = np.zeros(len(frame), dtype=np.int64)
        for col in criteria_cols:  # one pass per criterion (about ten), not per household
            met, _ = _bool_column(frame, col, nullable=True)
            n_met += met
        return cls(
            frame=frame,
            weight=weight,
            size=size,
            predicted=predicted,
            desil=desil_f.astype(np.int64),
            selected=selected,
            verdict=verdict,
            poor=poor,
            truth_known=known,
            welfare_true=welfare,
            criteria=tuple(c[len(CRITERION_PREFIX) :] for c in criteria_cols),
            n_met=n_met,
            has_rules=has_rules,
            unit=unit,
            meta=meta,
        )


def as_audit_data(decisions: pd.DataFrame | AuditData, **kwargs: Any) -> AuditData:
    """Pass an :class:`AuditData` through; check and convert a DataFrame."""
    if isinstance(decisions, AuditData):
        return decisions
    return AuditData.from_frame(decisions, **kwargs)


def read_decisions(path: Path) -> tuple[pd.DataFrame, DecisionsMeta | None]:
    """Read a decisions file and its description: Parquet (types and metadata kept) or CSV (ids as text).

    A CSV carries no metadata of its own; a ``<stem>.meta.json`` beside it (written by
    ``targeting score``) is read when present.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: decisions file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            # Nullable booleans (a criterion unknown for some households) stay booleans, not objects.
            frame = pq.read_table(path).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
            return frame, DecisionsMeta.from_schema_metadata(pq.ParquetFile(path).metadata.metadata)
        if suffix == ".csv":
            text_cols = {c: "string" for c in ("household_id", *PERSONAL_COLUMNS)}
            sidecar = path.with_name(f"{path.stem}.meta.json")
            meta = None
            if sidecar.is_file():
                meta = DecisionsMeta.model_validate_json(sidecar.read_text("utf-8"))
            return pd.read_csv(path, dtype=text_cols), meta
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read decisions ({exc})") from exc
    raise InputFileError(f"{path}: decisions must be a .parquet or .csv file, not {suffix or 'no suffix'}")
