"""Strict, vectorised validation of household records against the contract or a dataset spec.

Every problem becomes one line in the rejects table (row, household id, column, value, reason in Bahasa
Indonesia and English); a row with any problem is rejected whole and nothing is coerced or guessed.

Why not pandera: its coercion step converts first and reports after, which is the "silent coercion" we must
avoid (a text "1,5" in an int column, "ya" in a bool column); rejects need bilingual reasons and source row
numbers. The checks here are a dozen vectorised masks: a hand-written layer is smaller than the glue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.errors import InputFileError
from targeting.privacy import redact
from targeting.survey.contract import Contract, FieldSpec
from targeting.survey.read import ROW

BOOL_TRUE = {"1", "1.0", "true", "ya", "yes", "y", "benar"}
BOOL_FALSE = {"0", "0.0", "false", "tidak", "no", "n", "t", "salah"}

REJECT_COLUMNS = ["row", "household_id", "column", "value", "reason", "reason_en"]


@dataclass
class Problems:
    """Accumulates per-cell problems as vectors (positions into the frame being validated)."""

    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, mask: np.ndarray, column: str, values: pd.Series, reason: str, reason_en: str,
            *, personal: bool = False) -> None:
        pos = np.flatnonzero(mask)
        if len(pos) == 0:
            return
        shown = values.iloc[pos].astype(object)
        shown_text = [redact(v) for v in shown] if personal else ["" if _isna(v) else str(v) for v in shown]
        self.parts.append(
            pd.DataFrame(
                {"pos": pos, "column": column, "value": shown_text, "reason": reason,
                 "reason_en": reason_en}
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["pos", "column", "value", "reason", "reason_en"])
        return pd.concat(self.parts, ignore_index=True)


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def blank_mask(s: pd.Series, blank_values: Iterable[str] = ("",)) -> np.ndarray:
    """True where a cell is empty: missing, or a text in ``blank_values`` after stripping."""
    text = s.astype("string").str.strip()
    return (s.isna() | text.isin(list(blank_values)).fillna(False)).to_numpy(dtype=bool)


def _as_text(s: pd.Series) -> pd.Series:
    """Cell values as stripped text; integral floats from typed files print without '.0'."""
    if pd.api.types.is_float_dtype(s.dtype):
        out = s.map(lambda v: "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(v)))
        return out.astype("string")
    return s.astype("string").str.strip()


def parse_number(s: pd.Series, blank: np.ndarray, decimal: str = ".") -> tuple[pd.Series, np.ndarray]:
    """Strict numeric parse: returns float values (NaN where blank) and the mask of unparseable cells."""
    if pd.api.types.is_bool_dtype(s.dtype):
        num = s.astype("float64")
    elif pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce").astype("float64")
    else:
        text = s.astype("string").str.strip()
        if decimal != ".":
            # Only text cells carry a locale decimal; numbers from Excel are already numbers.
            text = text.str.replace(decimal, ".", regex=False)
        num = pd.to_numeric(text.where(~pd.Series(blank, index=s.index)), errors="coerce").astype("float64")
    bad = ~blank & ~np.isfinite(num.to_numpy(dtype="float64", na_value=np.nan))
    return num.where(~pd.Series(blank | bad, index=s.index)), bad


def parse_bool(s: pd.Series, blank: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Strict boolean parse from a closed set of spellings (1/0, true/false, ya/tidak, yes/no)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), np.zeros(len(s), dtype=bool)
    text = _as_text(s).str.lower()
    is_true = text.isin(BOOL_TRUE).fillna(False).to_numpy(dtype=bool)
    is_false = text.isin(BOOL_FALSE).fillna(False).to_numpy(dtype=bool)
    bad = ~blank & ~is_true & ~is_false
    out = pd.array(np.where(is_true, True, False), dtype="boolean")
    out[blank | bad] = pd.NA
    return pd.Series(out, index=s.index), bad


def parse_codes(s: pd.Series, blank: np.ndarray, lookup: dict[str, str],
                categories: Sequence[str]) -> tuple[pd.Series, np.ndarray]:
    """Map cells onto a closed code list (codes, or their exact labels, case-insensitive)."""
    text = _as_text(s).str.lower()
    mapped = text.map(lookup)
    bad = ~blank & mapped.isna().to_numpy(dtype=bool)
    values = mapped.where(~pd.Series(blank | bad, index=s.index))
    return pd.Series(pd.Categorical(values, categories=list(categories)), index=s.index), bad


def _code_lookup(contract: Contract, name: str) -> dict[str, str]:
    spec = contract.fields[name]
    assert spec.codes is not None
    lookup: dict[str, str] = {}
    for code, label in contract.codes[spec.codes].items():
        for key in (code, label.id, label.en):
            lookup.setdefault(key.strip().lower(), code)
    return lookup


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_field(name: str, spec: FieldSpec, s: pd.Series, contract: Contract,
                problems: Problems) -> pd.Series:
    """Parse and check one contract column; record every bad cell in ``problems``."""
    blank = blank_mask(s)
    personal = spec.role == "personal"
    if spec.type == "category":
        codes = contract.code_list(name)
        out, bad = parse_codes(s, blank, _code_lookup(contract, name), codes)
        problems.add(bad, name, s, f"bukan kode yang sah (pilihan: {', '.join(codes)})",
                     f"not a valid code (allowed: {', '.join(codes)})")
    elif spec.type == "bool":
        out, bad = parse_bool(s, blank)
        problems.add(bad, name, s, "bukan nilai ya/tidak (1/0, ya/tidak, true/false)",
                     "not a yes/no value (1/0, ya/tidak, true/false)")
    elif spec.type in ("int", "float"):
        num, bad = parse_number(s, blank)
        problems.add(bad, name, s, "bukan angka", "not a number")
        if spec.type == "int":
            frac = np.isfinite(num.to_numpy(dtype="float64", na_value=np.nan))
            frac &= num.fillna(0).to_numpy() != np.round(num.fillna(0).to_numpy())
            problems.add(frac, name, s, "harus bilangan bulat", "must be a whole number")
            num = num.where(~pd.Series(frac, index=s.index))
        arr = num.to_numpy(dtype="float64", na_value=np.nan)
        if spec.min is not None or spec.max is not None:
            lo = -np.inf if spec.min is None else spec.min
            hi = np.inf if spec.max is None else spec.max
            out_of = np.isfinite(arr) & ((arr < lo) | (arr > hi))
            problems.add(out_of, name, s, f"di luar rentang [{_fmt(lo)}, {_fmt(hi)}]",
                         f"out of range [{_fmt(lo)}, {_fmt(hi)}]")
        if spec.allowed is not None:
            not_allowed = np.isfinite(arr) & ~np.isin(arr, spec.allowed)
            allowed = ", ".join(map(str, spec.allowed))
            problems.add(not_allowed, name, s, f"nilai tidak diizinkan (pilihan: {allowed})",
                         f"value not allowed (allowed: {allowed})")
        out = num.round().astype("Int64") if spec.type == "int" else num.astype("float64")
    else:
        out = _as_text(s).where(~pd.Series(blank, index=s.index)).astype("string")
        if spec.pattern is not None:
            ok = out.str.fullmatch(spec.pattern).fillna(True).to_numpy(dtype=bool)
            problems.add(~ok, name, s, "format tidak sesuai", f"wrong format (expected {spec.pattern})",
                         personal=personal)
    if not spec.nullable:
        problems.add(blank, name, s, "wajib diisi", "required value is empty", personal=personal)
    return out


def _row_checks(typed: pd.DataFrame, contract: Contract, problems: Problems) -> None:
    """Cross-column consistency checks, evaluated only where every input is present."""
    for check in contract.row_checks:
        if not set(check.columns) <= set(typed.columns):
            continue
        cols = {c: typed[c].astype("Float64") for c in check.columns}
        if check.id == "age_bands_sum_to_size":
            bands = cols["n_age_0_5"] + cols["n_age_6_17"] + cols["n_age_18_59"] + cols["n_age_60_plus"]
            bad = (bands != cols["household_size"]).fillna(False)
            shown = bands.astype("string") + " != " + cols["household_size"].astype("string")
        elif check.id == "disabled_within_size":
            bad = (cols["n_disabled"] > cols["household_size"]).fillna(False)
            shown = cols["n_disabled"].astype("string")
        elif check.id == "head_age_band_present":
            age = cols["head_age"]
            bad = (
                ((age >= 60) & (cols["n_age_60_plus"] < 1))
                | ((age >= 18) & (age < 60) & (cols["n_age_18_59"] < 1))
                | ((age < 18) & (cols["n_age_6_17"] < 1))
            ).fillna(False)
            shown = age.astype("string")
        else:  # pragma: no cover - contract validation lists the known checks
            raise ValueError(f"no implementation for row check {check.id!r}")
        problems.add(bad.to_numpy(dtype=bool), "+".join(check.columns), shown, check.id_text, check.en)


@dataclass(frozen=True)
class Validated:
    """Accepted rows (typed) and the rejects table (one line per problem)."""

    accepted: pd.DataFrame
    rejects: pd.DataFrame
    n_input: int
    ignored_columns: list[str]

    @property
    def n_rejected_rows(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


def check_unique_ids(ids: pd.Series, rows: pd.Series, where: str) -> None:
    """Duplicate household ids make a file unusable: one clear message naming them and their rows."""
    dup = ids.duplicated(keep=False) & ids.notna()
    if dup.any():
        shown = (
            pd.DataFrame({"id": ids[dup], "row": rows[dup]}).groupby("id", sort=True)["row"]
            .apply(lambda r: ",".join(map(str, r))).head(5)
        )
        listed = "; ".join(f"{i} (baris/rows {r})" for i, r in shown.items())
        n = int(ids[dup].nunique())
        raise InputFileError(
            f"{where}: {n} household_id ganda / duplicate household ids: {listed}"
            + (" ..." if n > 5 else "")
        )


def require_columns(frame: pd.DataFrame, required: Iterable[str], where: str) -> None:
    """A missing required column is a file-level error, named once."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"{where}: kolom wajib tidak ada / missing required columns: {', '.join(missing)}"
        )


def validate_contract(raw: pd.DataFrame, contract: Contract, *, where: str,
                      extra_required: Sequence[str] = ()) -> Validated:
    """Validate raw records against the Indonesian contract."""
    required = [n for n, f in contract.fields.items() if f.required]
    required += [c for c in extra_required if c not in required]
    require_columns(raw, required, where)
    ids = _as_text(raw["household_id"])
    rows = raw[ROW] if ROW in raw.columns else pd.Series(np.arange(2, len(raw) + 2))
    check_unique_ids(ids, rows, where)
    problems = Problems()
    typed = {}
    for name, spec in contract.fields.items():
        if name in raw.columns:
            typed[name] = parse_field(name, spec, raw[name].reset_index(drop=True), contract, problems)
    typed_frame = pd.DataFrame(typed)
    _row_checks(typed_frame, contract, problems)
    ignored = [c for c in raw.columns if c not in contract.fields and c != ROW]
    return _split(typed_frame, problems, rows.reset_index(drop=True), ids.reset_index(drop=True),
                  n_input=len(raw), ignored=ignored)


def _split(typed: pd.DataFrame, problems: Problems, rows: pd.Series, ids: pd.Series, *,
           n_input: int, ignored: list[str]) -> Validated:
    table = problems.table()
    bad_pos = np.unique(table["pos"].to_numpy(dtype=np.int64)) if len(table) else np.array([], int)
    keep = np.ones(len(typed), dtype=bool)
    keep[bad_pos] = False
    rejects = pd.DataFrame(
        {
            "row": rows.iloc[table["pos"]].to_numpy() if len(table) else [],
            "household_id": ids.iloc[table["pos"]].to_numpy() if len(table) else [],
            "column": table["column"].to_numpy(),
            "value": table["value"].to_numpy(),
            "reason": table["reason"].to_numpy(),
            "reason_en": table["reason_en"].to_numpy(),
        },
        columns=REJECT_COLUMNS,
    ).sort_values(["row", "column"], kind="stable").reset_index(drop=True)
    accepted = typed.loc[keep].reset_index(drop=True)
    accepted.attrs["source_rows"] = rows[keep].to_numpy()
    return Validated(accepted=accepted, rejects=rejects, n_input=n_input, ignored_columns=ignored)


def rejects_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f"{stem}.rejects.csv"


def accepted_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f"{stem}.accepted.parquet"
