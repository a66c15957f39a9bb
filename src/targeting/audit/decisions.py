"""The decisions frame an audit reads, checked once and turned into typed arrays.

One row per household: the model's pick, the rule set's verdict, and (where welfare was measured)
the truth. Column names follow the pipeline's interface (see :data:`REQUIRED_COLUMNS`); every
check raises :class:`~targeting.errors.InputFileError` naming the column and the first bad row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.errors import InputFileError
from targeting.survey.booleans import FALSE_WORDS, TRUE_WORDS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "household_id",
    "weight",
    "household_size",
    "predicted_welfare",
    "desil",
    "selected",
    "rule_verdict",
)
VERDICTS: tuple[str, str, str] = ("eligible", "not_eligible", "unknown")
CRITERION_PREFIX = "crit_"
#: Personal identifiers (UU 27/2022): dropped from every output, NIK replaced by a keyed pseudonym.
PERSONAL_COLUMNS: tuple[str, ...] = ("head_nik", "family_card_no")
#: Group attributes the audit breaks errors down by, in report order.
GROUP_ATTRIBUTES: tuple[str, ...] = (
    "kecamatan",
    "urban",
    "female_head",
    "elderly_head",
    "disability",
    "size_band",
)
#: Household-size bands: (label, smallest size, largest size or None).
SIZE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1),
    ("2-3", 2, 3),
    ("4-5", 4, 5),
    ("6+", 6, None),
)
ELDERLY_AGE = 60
#: The three selections every metric is computed for.
SUBJECTS: tuple[str, str, str] = ("model", "rules", "model_within_rules")


def size_band(household_size: pd.Series) -> pd.Series:
    """Household-size band of each household (:data:`SIZE_BANDS`), as text."""
    size = pd.to_numeric(household_size, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    out = np.full(size.shape[0], None, dtype=object)
    for label, low, high in SIZE_BANDS:  # a loop over four bands, not households
        hit = (size >= low) & (size <= (np.inf if high is None else high))
        out[hit] = label
    return pd.Series(out, index=household_size.index, dtype="string")


def derive_group_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """Add missing group attributes that can be derived from survey-contract fields.

    ``female_head`` from ``head_sex == "P"``, ``elderly_head`` from ``head_age >= 60``,
    ``disability`` from ``n_disabled > 0``, ``size_band`` from ``household_size``. Attributes
    already present are kept as given.
    """
    out = frame.copy()
    if "female_head" not in out and "head_sex" in out:
        out["female_head"] = out["head_sex"].astype("string").eq("P").astype("boolean")
    if "elderly_head" not in out and "head_age" in out:
        out["elderly_head"] = pd.to_numeric(out["head_age"], errors="coerce").ge(ELDERLY_AGE)
    if "disability" not in out and "n_disabled" in out:
        out["disability"] = pd.to_numeric(out["n_disabled"], errors="coerce").gt(0)
    if "size_band" not in out and "household_size" in out:
        out["size_band"] = size_band(out["household_size"])
    return out


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
    frame : the decisions with a fresh RangeIndex and the derivable group attributes added.
    weight : survey weight (households represented; 1 in a registry).
    size : household size (persons).
    predicted : predicted per-capita welfare.
    desil : predicted welfare decile, 1 (poorest) to 10.
    selected : the model's pick.
    verdict : the rule set's verdict (eligible / not_eligible / unknown).
    poor, truth_known : the truth (False where unknown) and where it is known.
    welfare_true : measured per-capita welfare (NaN where not measured).
    criteria : criterion ids, from the ``crit_<id>`` columns, in column order.
    n_met : criteria met per household (unknown criteria count as not met).
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

    @property
    def n(self) -> int:
        return int(self.weight.shape[0])

    @property
    def eligible(self) -> BoolArray:
        """Rule set verdict ``eligible`` (``unknown`` is not eligible: the rules do not allow it)."""
        return np.asarray(self.verdict == "eligible", dtype=bool)

    @property
    def rules_unknown(self) -> BoolArray:
        return np.asarray(self.verdict == "unknown", dtype=bool)

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
        if subject == "rules":
            return self.eligible
        if subject == "model_within_rules":
            return self.selected & self.eligible
        raise ValueError(f"unknown subject {subject!r} (expected one of {SUBJECTS})")

    def group_columns(self, wanted: Sequence[str] = GROUP_ATTRIBUTES) -> list[str]:
        """The wanted group attributes present in the frame."""
        return [c for c in wanted if c in self.frame.columns]

    @classmethod
    def from_frame(cls, decisions: pd.DataFrame, *, poverty_line: float | None = None) -> AuditData:
        """Check a decisions frame and convert its columns once.

        ``poor_true`` may be absent (a registry): then, if ``welfare_true`` and ``poverty_line``
        are given, the truth is ``welfare_true < poverty_line``; otherwise the truth is unknown
        for every household.
        """
        missing = [c for c in REQUIRED_COLUMNS if c not in decisions.columns]
        if missing:
            raise InputFileError(f"decisions frame: missing column(s) {', '.join(missing)}")
        frame = derive_group_attributes(decisions.reset_index(drop=True))
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
        verdict = frame["rule_verdict"].astype("string").to_numpy(dtype=object, na_value="unknown")
        bad_v = ~np.isin(verdict, VERDICTS)
        if bad_v.any():
            raise _first_bad(frame, "rule_verdict", bad_v, f"one of {', '.join(VERDICTS)}")
        welfare = (
            _float_column(frame, "welfare_true") if "welfare_true" in frame else np.full(len(frame), np.nan)
        )
        if "poor_true" in frame:
            poor, known = _bool_column(frame, "poor_true", nullable=True)
        elif poverty_line is not None:
            known = np.isfinite(welfare)
            poor = known & (welfare < poverty_line)
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
        )


def as_audit_data(decisions: pd.DataFrame | AuditData, **kwargs: Any) -> AuditData:
    """Pass an :class:`AuditData` through; check and convert a DataFrame."""
    if isinstance(decisions, AuditData):
        return decisions
    return AuditData.from_frame(decisions, **kwargs)


def read_decisions(path: Path) -> pd.DataFrame:
    """Read a decisions file: Parquet (types kept) or CSV (identifiers read as text)."""
    if not path.is_file():
        raise InputFileError(f"{path}: decisions file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            text_cols = {c: "string" for c in ("household_id", *PERSONAL_COLUMNS)}
            return pd.read_csv(path, dtype=text_cols)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read decisions ({exc})") from exc
    raise InputFileError(f"{path}: decisions must be a .parquet or .csv file, not {suffix or 'no suffix'}")
