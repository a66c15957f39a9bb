"""Strict, vectorised validation of household records against the contract or a dataset spec.

Every problem becomes one line in the rejects table (row, household id, column, value, reason in Bahasa
Indonesia and English); a row with any problem is rejected whole and nothing is coerced or guessed.

Why not pandera: its coercion step converts first and reports after, which is the "silent coercion" we must
avoid (a text "1,5" in an int column, "ya" in a bool column); rejects need bilingual reasons and source row
numbers. The checks here are a dozen vectorised masks: a hand-written layer is smaller than the glue.

Speed: the scoring API validates every request, most often one household, so a column's fixed cost
matters as much as its cost per cell, and pandas spends 20-100 µs on any Series operation however short
the Series. Each column is therefore read once, as a pyarrow string array (the storage behind pandas'
``string`` dtype), and its text is stripped, lower-cased and looked up either with the pyarrow kernels
that pandas' ``.str`` methods and ``isin`` call (``utf8_trim_whitespace``, ``utf8_lower``, ``index_in``)
or, for frames of up to `SMALL_FRAME_ROWS` rows, cell by cell in Python with the same results (the two
readers, `_ArrowText` and `_ListText`, are the only code that exists twice). The checks are numpy masks;
typed columns are built directly (``Categorical.from_codes``, ``BooleanArray``, ``IntegerArray``); a
problem costs nothing until a cell has one. Number parsing, the ``Int64`` cast of out-of-range values
and regular expressions stay pandas calls, so their rules and errors are pandas' own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from targeting._frames import column_values, frame_of, masked_parts
from targeting.errors import InputFileError
from targeting.privacy import redact
from targeting.survey.booleans import FALSE_WORDS, TRUE_WORDS, WRITTEN
from targeting.survey.contract import Contract, FieldSpec
from targeting.survey.read import ROW, cell_text

REJECT_COLUMNS = ["row", "household_id", "column", "value", "reason", "reason_en"]
PROBLEM_COLUMNS = ["pos", "column", "value", "reason", "reason_en"]

#: pandas' ``string`` dtype (pyarrow storage when pyarrow is installed, as it must be for this package).
_STRING = pd.StringDtype()


@dataclass
class Problems:
    """Accumulates per-cell problems (positions into the frame being validated), in the order found.

    A clean mask costs one ``nonzero``: nothing is formatted or stored unless a cell has a problem.
    """

    parts: list[tuple[np.ndarray, str, list[str], str, str]] = field(default_factory=list)

    def add(self, mask: np.ndarray, column: str, values: pd.Series | Any, reason: str, reason_en: str,
            *, personal: bool = False) -> None:
        """Record the cells where ``mask`` is true, showing ``values`` (the cells as given) for them."""
        pos = mask.nonzero()[0]
        if len(pos) == 0:
            return
        if not isinstance(values, pd.Series):  # a text column's array (`validate_contract`)
            values = pd.Series(values, copy=False)
        shown = values.iloc[pos].astype(object)
        shown_text = [redact(v) if personal else "" if _isna(v) else cell_text(v) for v in shown]
        self.parts.append((pos, column, shown_text, reason, reason_en))

    def table(self) -> pd.DataFrame:
        """One line per problem: ``pos``, ``column``, ``value``, ``reason``, ``reason_en``."""
        if not self.parts:
            return empty_table(PROBLEM_COLUMNS)
        pos, column, value, reason, reason_en = zip(*self.parts, strict=True)
        sizes = [len(p) for p in pos]
        return pd.DataFrame({
            "pos": np.concatenate(pos),
            "column": np.repeat(column, sizes),
            "value": [v for part in value for v in part],
            "reason": np.repeat(reason, sizes),
            "reason_en": np.repeat(reason_en, sizes),
        })


def empty_table(columns: Sequence[str]) -> pd.DataFrame:
    """``pd.DataFrame(columns=columns)``: a copy (callers may add to it) of one built once.

    Building it costs ~0.1 ms, a few times per validated frame, which a one-household request felt.
    """
    return _empty_table(tuple(columns)).copy()


@cache
def _empty_table(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# --- Reading cells ---------------------------------------------------------------------------------

#: Up to this many rows a column's text is read cell by cell in Python, beyond it with pyarrow kernels:
#: a kernel call costs 2-10 µs however short the column, a Python loop well under 1 µs a cell (the two
#: break even near 150 valid households). Both readers give the same text, blanks and lookups
#: (tests/survey/test_validate_paths.py).
SMALL_FRAME_ROWS = 100


def _arrow(s: pd.Series | pd.Index | Any) -> pa.Array:
    """The values of a string Series, Index or array as one pyarrow array (no copy for pyarrow storage)."""
    arr = pa.array(s.array if isinstance(s, pd.Series | pd.Index) else s)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


def _is_arrow_text(dtype: object) -> bool:
    """The ``str`` or ``string`` dtype on pyarrow storage: what CSV and API input arrive as."""
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _string_cells(s: pd.Series) -> pa.Array:
    """``s.astype("string")`` as a pyarrow array, null where missing (no copy if it is text already)."""
    if _is_arrow_text(s.dtype):
        return _arrow(s)
    if isinstance(s.dtype, pd.CategoricalDtype) and _is_arrow_text(s.dtype.categories.dtype):
        # Each row's text is its category's: take it by code rather than converting every row.
        codes = s.array.codes
        return _arrow(s.dtype.categories).take(pa.array(codes, mask=codes < 0))
    return _arrow(s.astype("string"))


def _float_text(v: float) -> str:
    return "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(v))


def _text_cells(s: pd.Series) -> pa.Array:
    """Cell values as the text a CSV would hold, not yet stripped (`targeting.survey.read.cell_text`).

    One rule for every format: integral floats print without '.0', booleans as ``true``/``false``.
    """
    if _is_arrow_text(s.dtype):
        return _arrow(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        # On the nullable array itself (Series methods cost ~15 µs a call for one household).
        b = s.array if isinstance(s.dtype, pd.BooleanDtype) else s.astype("boolean").array
        words = np.where(b.to_numpy(dtype=bool, na_value=False), WRITTEN[True], WRITTEN[False])
        return pa.array(words.tolist(), mask=np.asarray(b.isna(), dtype=bool), type=pa.large_string())
    if pd.api.types.is_float_dtype(s.dtype):
        return _arrow(s.map(_float_text).astype("string"))
    if s.dtype == object:
        cells = s.tolist()
        return pa.array([None if _isna(v) else cell_text(v) for v in cells], type=pa.large_string())
    return _string_cells(s)


def _string_array(text: pa.Array) -> Any:
    """A pyarrow string array as pandas' ``string`` array."""
    return _STRING.__from_arrow__(text)


@cache
def _value_set(values: tuple[str, ...], type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_)


@dataclass(frozen=True)
class _Lookup:
    """A closed list of spellings (stripped, lower case) and the value (>= 0) each stands for."""

    keys: tuple[str, ...]
    #: The value of each key, then -1 for "no key matched" (the vectorised reader indexes it).
    targets: np.ndarray
    #: Key -> value (the small-frame reader's lookup).
    index: dict[str, int]


def _lookup(values: dict[str, int]) -> _Lookup:
    return _Lookup(tuple(values), np.array([*values.values(), -1], dtype=np.int64), values)


def _lower(text: str) -> str:
    """The ``utf8_lower`` of one text: ``str.lower`` agrees with that kernel on ASCII, not on all Unicode."""
    return text.lower() if text.isascii() else pc.utf8_lower(pa.scalar(text, pa.large_string())).as_py()


class _CodedText:
    """A column of few distinct texts (codes, yes/no words) read through its dictionary, for large frames.

    Each distinct cell is stripped and looked up once, by the cell-by-cell reader, and every row takes
    its cell's result: the same blanks, lookups and text as `_ArrowText`, which strips, lower-cases and
    looks up every row with three string kernels where this makes one hash pass over the rows (a code
    column of 32,768 rows: ~1.2 -> ~0.5 ms).
    """

    def __init__(self, cells: pa.Array) -> None:
        encoded = pc.dictionary_encode(cells)  # a missing cell stays a missing index
        self.words = _ListText(encoded.dictionary)
        indices = pc.fill_null(encoded.indices, -1)
        self.rows = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)
        self.present = self.rows >= 0

    def _per_row(self, per_word: np.ndarray, missing: Any) -> np.ndarray:
        if not len(per_word):
            return np.full(len(self.rows), missing, dtype=per_word.dtype)
        return np.where(self.present, per_word[np.maximum(self.rows, 0)], missing)

    def blank(self, blank_values: tuple[str, ...] = ("",)) -> np.ndarray:
        """True where the text is missing or one of ``blank_values``."""
        return self._per_row(self.words.blank(blank_values), True)

    def find(self, lookup: _Lookup) -> np.ndarray:
        """The value each lower-cased text stands for in ``lookup`` (exact match on a key), else -1."""
        return self._per_row(self.words.find(lookup), -1)

    def arrow(self, missing: np.ndarray) -> pa.Array:
        """The text as a pyarrow array, null where ``missing``."""
        words = pa.array(self.words.cells, type=pa.large_string())
        return words.take(pa.array(np.where(missing, -1, self.rows), mask=missing | ~self.present))

    def objects(self, missing: np.ndarray) -> np.ndarray:
        """The text as an object array of ``str``, None where ``missing``."""
        return np.asarray(self.arrow(missing).to_numpy(zero_copy_only=False), dtype=object)


class _ArrowText:
    """A column's stripped text as one pyarrow array, checked with vectorised kernels."""

    def __init__(self, cells: pa.Array) -> None:
        self.text = pc.utf8_trim_whitespace(cells)

    def blank(self, blank_values: tuple[str, ...] = ("",)) -> np.ndarray:
        """True where the text is missing or one of ``blank_values``."""
        if blank_values == ("",):
            # No hash table needed: blank means no bytes (a null has a null length: NaN here).
            return ~(pc.binary_length(self.text).to_numpy(zero_copy_only=False) > 0)
        listed = pc.is_in(self.text, value_set=_value_set(blank_values, self.text.type))
        return np.asarray(listed, dtype=bool) | np.asarray(pc.is_null(self.text), dtype=bool)

    def find(self, lookup: _Lookup) -> np.ndarray:
        """The value each lower-cased text stands for in ``lookup`` (exact match on a key), else -1."""
        pos = pc.index_in(pc.utf8_lower(self.text), value_set=_value_set(lookup.keys, self.text.type))
        return lookup.targets[pc.fill_null(pos, -1).to_numpy()]

    def arrow(self, missing: np.ndarray) -> pa.Array:
        """The text as a pyarrow array, null where ``missing``."""
        if not missing.any():
            return self.text
        return pc.if_else(pa.array(missing), pa.scalar(None, type=self.text.type), self.text)

    def objects(self, missing: np.ndarray) -> np.ndarray:
        """The text as an object array of ``str``, None where ``missing``."""
        return np.asarray(self.arrow(missing).to_numpy(zero_copy_only=False), dtype=object)


class _ListText:
    """The same reader, cell by cell in Python (for small frames).

    ``str.strip()`` removes exactly the characters ``utf8_trim_whitespace`` does (checked for every code
    point in the tests), and `_lower` is ``utf8_lower``.
    """

    def __init__(self, cells: pa.Array) -> None:
        self.cells: list[str | None] = [None if v is None else v.strip() for v in cells.to_pylist()]

    def blank(self, blank_values: tuple[str, ...] = ("",)) -> np.ndarray:
        """True where the text is missing or one of ``blank_values``."""
        return np.array([v is None or v in blank_values for v in self.cells], dtype=bool)

    def find(self, lookup: _Lookup) -> np.ndarray:
        """The value each lower-cased text stands for in ``lookup`` (exact match on a key), else -1."""
        index = lookup.index
        return np.array([-1 if v is None else index.get(_lower(v), -1) for v in self.cells], dtype=np.int64)

    def arrow(self, missing: np.ndarray) -> pa.Array:
        """The text as a pyarrow array, null where ``missing``."""
        return pa.array(self._kept(missing), type=pa.large_string())

    def objects(self, missing: np.ndarray) -> np.ndarray:
        """The text as an object array of ``str``, None where ``missing``."""
        out = np.empty(len(self.cells), dtype=object)
        out[:] = self._kept(missing)
        return out

    def _kept(self, missing: np.ndarray) -> list[str | None]:
        return [None if m else v for v, m in zip(self.cells, missing.tolist(), strict=True)]


_Text = _ArrowText | _ListText | _CodedText


def _reader(cells: pa.Array) -> _Text:
    """Strip the cells with the reader that is fastest for their number."""
    return _ListText(cells) if len(cells) <= SMALL_FRAME_ROWS else _ArrowText(cells)


def _text(s: pd.Series) -> pa.Array:
    """Cell values as stripped text (pyarrow, null where missing); integral floats print without '.0'."""
    return _ArrowText(_text_cells(s)).text


def _as_text(s: pd.Series) -> pd.Series:
    """Cell values as stripped text (``string`` dtype); integral floats print without '.0'."""
    return pd.Series(_string_array(_text(s)), index=s.index, name=s.name)


def blank_mask(s: pd.Series, blank_values: Iterable[str] = ("",)) -> np.ndarray:
    """True where a cell is empty: missing, or a text in ``blank_values`` after stripping."""
    blank_values = tuple(blank_values)
    if blank_values == ("",) and pd.api.types.is_numeric_dtype(s.dtype):
        return s.isna().to_numpy(dtype=bool)  # a number or a bool never prints as empty text
    return _reader(_string_cells(s)).blank(blank_values)


_BOOL_LOOKUP = _lookup({**dict.fromkeys(sorted(TRUE_WORDS), 1), **dict.fromkeys(sorted(FALSE_WORDS), 0)})


@dataclass(frozen=True)
class _CodeList:
    """A categorical field's code list: the spellings it accepts and the dtype of the parsed column."""

    lookup: _Lookup
    dtype: pd.CategoricalDtype


_NOT_ALTERNATIVES = frozenset({"ya", "tidak", "yes", "no", "true", "false", "1", "0"})


def label_alternatives(items: tuple[tuple[str, str, str], ...]) -> dict[str, int]:
    """Parts of slash-separated Indonesian labels that name one code only, with that code's index.

    ``keramik`` from "Ubin/tegel/keramik"; a part that two codes share (``sederajat``) names neither.
    """
    owners: dict[str, set[int]] = {}
    for i, (_, label_id, _) in enumerate(items):
        parts = [p.strip().lower() for p in label_id.split("/")]
        if len(parts) > 1:
            for part in parts:
                # Not a boolean word ("Tidak/belum sekolah") nor half of a bracket ("(genset/surya)").
                if part and part not in _NOT_ALTERNATIVES and not set(part) & set("()"):
                    owners.setdefault(part, set()).add(i)
    return {part: next(iter(who)) for part, who in owners.items() if len(who) == 1}


@cache
def _code_list(items: tuple[tuple[str, str, str], ...]) -> _CodeList:
    """Codes, their exact labels, or a label part naming one code; case-insensitive.

    Built once per code list (``(code, id, en)``).
    """
    codes = [code for code, _, _ in items]
    lookup: dict[str, int] = {}
    for i, (code, label_id, label_en) in enumerate(items):
        for key in (code, label_id, label_en):
            lookup.setdefault(key.strip().lower(), i)
    for part, i in label_alternatives(items).items():
        lookup.setdefault(part, i)  # never displaces a code or a whole label
    return _CodeList(_lookup(lookup), pd.CategoricalDtype(categories=codes))


def _contract_code_list(contract: Contract, name: str) -> _CodeList:
    spec = contract.fields[name]
    assert spec.codes is not None
    return _code_list(tuple((code, label.id, label.en) for code, label in contract.codes[spec.codes].items()))


# --- Parsers: (typed values, mask of bad cells) ------------------------------------------------------


def parse_number(s: pd.Series, blank: np.ndarray, decimal: str = ".",
                 text: _Text | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Strict numeric parse: float values (NaN where blank or bad) and the mask of unparseable cells.

    ``text`` is the column's text reader when the caller has read it as text (so it is not typed).
    """
    if text is None and pd.api.types.is_bool_dtype(s.dtype):
        num = s.astype("float64").to_numpy()
    elif text is None and pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
    else:
        text = _reader(_string_cells(s)) if text is None else text
        if decimal != ".":
            # Only text cells carry a locale decimal; numbers from Excel are already numbers.
            local = pd.Series(_string_array(text.arrow(blank))).str.replace(decimal, ".", regex=False)
            cells = local.to_numpy(dtype=object, na_value=None)
        else:
            cells = text.objects(blank)
        num = parse_numbers(cells)
    bad = ~blank & ~np.isfinite(num)
    return np.where(blank | bad, np.nan, num), bad


def parse_numbers(cells: np.ndarray) -> np.ndarray:
    """Text objects (None = blank) as float64, NaN where blank or not a number.

    pandas' parser, whose rules are the contract's: ``to_numeric(cells, errors="coerce",
    dtype_backend="numpy_nullable")`` read back as float64. That call checks its arguments and
    wraps the answer in a masked array (~90 calls a column); its kernel, ``maybe_convert_numeric``
    with nullable output, is called here directly, and `to_numeric` itself where pandas lacks it.
    ``tests/survey/test_validate_kernels.py`` checks the two agree.
    """
    try:
        from pandas._libs.lib import maybe_convert_numeric

        values, missing = maybe_convert_numeric(cells, set(), coerce_numeric=True,
                                                convert_to_masked_nullable=True)
    except (ImportError, TypeError):  # pragma: no cover - a pandas without that kernel
        return np.asarray(pd.to_numeric(cells, errors="coerce", dtype_backend="numpy_nullable"),
                          dtype=np.float64)
    num = np.asarray(values, dtype=np.float64)  # the kernel's own new array: written in place
    if missing is not None:
        num[missing] = np.nan
    return num


def parse_bool(s: pd.Series, text: _Text | None, blank: np.ndarray) -> tuple[Any, np.ndarray]:
    """Strict boolean parse from a closed set of spellings (1/0, true/false, ya/tidak, yes/no).

    ``text`` is None for a bool-typed column, which is taken as it is.
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        # A copy: the accepted frame is built without copying (see `validate_contract`).
        return s.astype("boolean").array.copy(), np.zeros(len(s), dtype=bool)
    assert text is not None
    value = text.find(_BOOL_LOOKUP)
    bad = ~blank & (value < 0)
    return pd.arrays.BooleanArray(value == 1, blank | bad), bad


def parse_codes(text: _Text, blank: np.ndarray, code_list: _CodeList) -> tuple[pd.Categorical, np.ndarray]:
    """Map cells onto a closed code list (codes, or their exact labels, case-insensitive)."""
    codes = text.find(code_list.lookup)
    bad = ~blank & (codes < 0)
    codes[blank] = -1
    # The lookup gives only -1 or a position in the code list: nothing for pandas to check.
    return pd.Categorical.from_codes(codes, dtype=code_list.dtype, validate=False), bad


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _int64(num: np.ndarray) -> Any:
    """Whole-number floats (NaN = missing) as an ``Int64`` array, as ``pd.array(num, dtype="Int64")``.

    Built directly (with pandas' filler 1 under the mask) when every value fits in int64; otherwise
    pandas' own cast runs, and raises its usual error (callers reject such values first).
    """
    missing = np.isnan(num)
    present = num[~missing]
    if not ((present >= -(2.0**63)) & (present < 2.0**63)).all():
        return pd.array(num, dtype="Int64")
    return pd.arrays.IntegerArray(np.where(missing, 1, num).astype(np.int64), missing)


def _read(s: pd.Series, kind: str) -> tuple[_Text | None, np.ndarray]:
    """A column's text reader and its blank cells; no text for numbers or bools already typed.

    A boolean column in a number field is read as its text (``true``), and so refused, as the same
    cell in a CSV or Excel file is: a yes/no answer is not a count.
    """
    if not _is_arrow_text(s.dtype) and (
        (kind in ("int", "float") and pd.api.types.is_numeric_dtype(s.dtype)
         and not pd.api.types.is_bool_dtype(s.dtype))
        or (kind == "bool" and pd.api.types.is_bool_dtype(s.dtype))
    ):
        return None, s.isna().to_numpy(dtype=bool)
    cells = _text_cells(s)
    coded = kind in ("category", "bool") and len(cells) > SMALL_FRAME_ROWS
    text = _CodedText(cells) if coded else _reader(cells)
    return text, text.blank()


def parse_field(name: str, spec: FieldSpec, s: pd.Series | Any, contract: Contract,
                problems: Problems, blanks: list[np.ndarray] | None = None) -> Any:
    """Parse and check one contract column; record every bad cell in ``problems``.

    ``s`` is the column as a Series, or as its array when that is text on pyarrow storage (what a
    CSV file and a request give; `validate_contract` reads those without building a Series).
    Returns the typed values: ``Categorical``, ``boolean``, ``Int64``, float64 or ``string`` array.
    ``blanks``, when given, receives the column's mask of empty cells.
    """
    text, blank = _read(s, spec.type)
    if blanks is not None:
        blanks.append(blank)
    personal = spec.role == "personal"
    out: Any
    if spec.type == "category":
        assert text is not None
        codes = contract.code_list(name)
        out, bad = parse_codes(text, blank, _contract_code_list(contract, name))
        problems.add(bad, name, s, f"bukan kode yang sah (pilihan: {', '.join(codes)})",
                     f"not a valid code (allowed: {', '.join(codes)})")
    elif spec.type == "bool":
        out, bad = parse_bool(s, text, blank)
        problems.add(bad, name, s, "bukan nilai ya/tidak (1/0, ya/tidak, true/false)",
                     "not a yes/no value (1/0, ya/tidak, true/false)")
    elif spec.type in ("int", "float"):
        num, bad = parse_number(s, blank, text=text)
        problems.add(bad, name, s, "bukan angka", "not a number")
        if spec.type == "int":
            frac = np.isfinite(num) & (num != np.round(num))
            problems.add(frac, name, s, "harus bilangan bulat", "must be a whole number")
            num[frac] = np.nan
            # A whole number beyond int64 ("1e20") cannot be stored: a reject, not a crash.
            huge = np.isfinite(num) & ~((num >= -(2.0**63)) & (num < 2.0**63))
            problems.add(huge, name, s, "angka terlalu besar", "number too large")
            num[huge] = np.nan
        if spec.min is not None or spec.max is not None:
            lo = -np.inf if spec.min is None else spec.min
            hi = np.inf if spec.max is None else spec.max
            out_of = np.isfinite(num) & ((num < lo) | (num > hi))
            problems.add(out_of, name, s, f"di luar rentang [{_fmt(lo)}, {_fmt(hi)}]",
                         f"out of range [{_fmt(lo)}, {_fmt(hi)}]")
        if spec.allowed is not None:
            not_allowed = np.isfinite(num) & ~np.isin(num, spec.allowed)
            allowed = ", ".join(map(str, spec.allowed))
            problems.add(not_allowed, name, s, f"nilai tidak diizinkan (pilihan: {allowed})",
                         f"value not allowed (allowed: {allowed})")
        out = _int64(num) if spec.type == "int" else num
    else:
        assert text is not None
        values = text.arrow(blank)
        out = _string_array(values)
        # The checks call pyarrow's kernels (RE2 regexes, code-point lengths) on the text itself, as
        # pandas' ``.str`` methods do, without their ~20-60 µs of wrapping per call.
        if spec.pattern is not None:
            ok = _regex_mask(values, _whole(spec.pattern), missing=True)
            problems.add(~ok, name, s, "format tidak sesuai", f"wrong format (expected {spec.pattern})",
                         personal=personal)
        _check_characters(name, spec, values, s, problems, personal)
        if spec.max_length is not None:
            long = _lengths(values) > spec.max_length
            problems.add(long, name, s if personal else _clipped(s, long),
                         f"terlalu panjang (paling banyak {spec.max_length} karakter)",
                         f"too long (at most {spec.max_length} characters)", personal=personal)
    if not spec.nullable:
        problems.add(blank, name, s, "wajib diisi", "required value is empty", personal=personal)
    return out


#: Characters no text field may hold: controls, invisible format characters (zero-width space,
#: byte-order mark, bidirectional overrides) and line/paragraph separators. An id may hold no
#: whitespace but the plain space either: "H001" followed by a zero-width space, or with a no-break
#: space inside, would otherwise be another household to every lookup while looking the same.
_INVISIBLE_ID = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\x{00A0}\x{1680}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}]"
#: Free text (a village name) may break lines or hold tabs, as an Excel cell can.
_INVISIBLE_TEXT = r"[\x{0000}-\x{0008}\x{000B}\x{000C}\x{000E}-\x{001F}\x{007F}-\x{009F}\p{Cf}\p{Zl}\p{Zp}]"
_INVISIBLE_PY = {
    "id": re.compile("[\x00-\x1f\x7f-\x9f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2028\u2029]"),
    "text": re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]"),
}
#: Longest value shown in a rejects line: the reason says how long it was.
SHOWN_CHARS = 200


def _first_invisible(text: str, kind: str) -> str:
    """The first character of ``text`` that `_check_characters` refuses, as U+XXXX."""
    for ch in text:
        if unicodedata.category(ch) == "Cf" or _INVISIBLE_PY[kind].match(ch):
            return f"U+{ord(ch):04X}"
    return "?"  # pragma: no cover - only called on cells RE2 found one in


def _whole(pattern: str) -> str:
    """A contract pattern anchored to the whole text (what ``str.fullmatch`` asks of RE2)."""
    return f"^(?:{pattern})$"


def _regex_mask(text: pa.Array, pattern: str, *, missing: bool) -> np.ndarray:
    """True where RE2 finds ``pattern`` in the text; ``missing`` where the text is missing."""
    found = pc.match_substring_regex(text, pattern)
    if found.null_count:
        found = pc.fill_null(found, missing)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _printable_ascii(text: pa.Array) -> bool:
    """True when every byte behind the texts is printable ASCII (0x20-0x7E), so none holds an invisible.

    Every character the invisible patterns name is a control byte or outside ASCII; one pass over
    the data buffer (which may hold more than the array's slice: it can only say "look closer")
    spares RE2 a scan of each cell (~1.2 ms a column of 32,768 rows).
    """
    data = text.buffers()[2] if pa.types.is_string(text.type) or pa.types.is_large_string(text.type) else None
    if data is None:
        return len(text) == text.null_count
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool(raw.size == 0 or (raw.min() >= 0x20 and raw.max() <= 0x7E))


def _lengths(text: pa.Array) -> np.ndarray:
    """Each text's length in code points (``str.len``), 0 where missing."""
    return np.asarray(pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _check_characters(name: str, spec: FieldSpec, values: pa.Array, s: pd.Series, problems: Problems,
                      personal: bool) -> None:
    """Refuse invisible and control characters, naming the code point (one problem group per one)."""
    kind = "id" if spec.role in ("id", "personal") else "text"
    if _printable_ascii(values):
        return
    bad = _regex_mask(values, _INVISIBLE_ID if kind == "id" else _INVISIBLE_TEXT, missing=False)
    if not bad.any():
        return
    pos = bad.nonzero()[0]
    found = [_first_invisible(str(values[int(i)].as_py()), kind) for i in pos]
    for code in dict.fromkeys(found):
        mask = np.zeros(len(values), dtype=bool)
        mask[[p for p, c in zip(pos, found, strict=True) if c == code]] = True
        problems.add(mask, name, s, f"berisi karakter tak terlihat atau kendali ({code})",
                     f"holds an invisible or control character ({code})", personal=personal)


def _clipped(s: pd.Series | Any, mask: np.ndarray) -> pd.Series | Any:
    """The cells as given, cut to `SHOWN_CHARS` where ``mask`` (a rejects line stays readable)."""
    if not mask.any():
        return s
    out = pd.Series(s, copy=False).astype(object).copy()
    for i in mask.nonzero()[0]:
        v = cell_text(out.iloc[i])
        out.iloc[i] = f"{v[:SHOWN_CHARS]}… ({len(v):,} karakter / characters)"
    return out


def float_values(values: pd.Series | Any) -> np.ndarray:
    """A Series or typed array as a new float64 array, NaN where missing (``astype("Float64")`` read back).

    ``Int64``, ``boolean``, ``Float64`` values and numpy numbers (float, int, bool) convert directly,
    to the same numbers.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    parts = masked_parts(values)
    if parts is not None:
        out = parts[0].astype(np.float64)
        out[parts[1]] = np.nan
        return out
    if values.dtype.name in ("Int64", "boolean", "Float64", "float64"):
        return values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    return pd.Series(values).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def _float_strings(x: np.ndarray) -> pd.Series:
    """Floats shown as the nullable ``Float64`` columns print them (``4.0``)."""
    return pd.Series(pd.array(x, dtype="Float64")).astype("string")


def _row_checks(typed: Mapping[str, Any], contract: Contract, problems: Problems) -> None:
    """Cross-column consistency checks, evaluated only where every input is present.

    Missing inputs are NaN here, and a comparison with NaN is false: for ``>`` and for the age-band
    condition (comparisons joined by & and |) that is what nullable logic followed by "missing is not
    a failure" gives; ``!=`` needs the explicit presence test.
    """
    for check in contract.row_checks:
        if not set(check.columns) <= set(typed):
            continue
        x = {c: float_values(typed[c]) for c in check.columns}
        shown: tuple[np.ndarray, ...]
        if check.id == "age_bands_sum_to_size":
            bands = x["n_age_0_5"] + x["n_age_6_17"] + x["n_age_18_59"] + x["n_age_60_plus"]
            size = x["household_size"]
            bad = ~np.isnan(bands) & ~np.isnan(size) & (bands != size)
            shown = (bands, size)
        elif check.id == "disabled_within_size":
            bad = x["n_disabled"] > x["household_size"]
            shown = (x["n_disabled"],)
        elif check.id == "head_age_band_present":
            age = x["head_age"]
            bad = (
                ((age >= 60) & (x["n_age_60_plus"] < 1))
                | ((age >= 18) & (age < 60) & (x["n_age_18_59"] < 1))
                | ((age < 18) & (x["n_age_6_17"] < 1))
            )
            shown = (age,)
        else:  # pragma: no cover - contract validation lists the known checks
            raise ValueError(f"no implementation for row check {check.id!r}")
        if bad.any():
            text = [_float_strings(v) for v in shown]
            values = text[0] if len(text) == 1 else text[0] + " != " + text[1]
            problems.add(bad, "+".join(check.columns), values, check.id_text, check.en)


@dataclass(frozen=True)
class Validated:
    """Accepted rows (typed) and the rejects table (one line per problem).

    ``arrays`` are the accepted frame's columns as the typed arrays it was built from, kept while every
    input row is accepted: reading a column back out of a frame costs a Series (~8 µs) each time, which
    adds up in a one-household request. None once rows were dropped.
    """

    accepted: pd.DataFrame
    rejects: pd.DataFrame
    n_input: int
    ignored_columns: list[str]
    arrays: Mapping[str, Any] | None = None

    @property
    def n_rejected_rows(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


def _repeats(text: pa.Array) -> bool:
    """Whether a text other than a blank occurs twice: what `check_unique_ids` refuses."""
    given = text.filter(pc.fill_null(pc.greater(pc.binary_length(text), 0), False))
    return len(pc.unique(given)) != len(given)


def _text_array(values: Any) -> pa.Array:
    """A typed text column (a parsed ``string`` field) as pyarrow text: ``Series(values, dtype="string")``."""
    if _is_arrow_text(values.dtype):
        return _arrow(values)  # the parsers' text fields: already that array
    return _arrow(pd.Series(values, dtype="string"))


def check_unique_ids(ids: pd.Series, rows: pd.Series, where: str) -> None:
    """Duplicate household ids make a file unusable: one clear message naming them and their rows."""
    if ids.nunique(dropna=True) == ids.count():
        return  # the usual case, decided without building the duplicate mask
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
    if not _has_default_index(raw):
        raw = raw.reset_index(drop=True)
    columns = raw.columns.tolist()  # a plain list: pandas' Index is slow to iterate and probe
    present = set(columns)
    ids = _as_text(raw["household_id"])
    rows = raw[ROW] if ROW in present else pd.Series(np.arange(2, len(raw) + 2))
    # A blank id is that row's problem ("required value is empty"), not a duplicate of other blanks.
    if _repeats(_arrow(ids)):  # decided on the text itself; the message needs the frame
        check_unique_ids(ids.mask(ids == ""), rows, where)
    problems = Problems()
    blanks: list[np.ndarray] = []
    # Text columns as their arrays (`targeting._frames.column_values`): a Series each costs ~8 µs, which
    # a one-household request paid ~50 times. Columns of other dtypes (Excel, Parquet) as Series.
    arrays = dict(zip(columns, column_values(raw), strict=True))
    typed = {
        name: parse_field(name, spec, arrays[name] if _is_arrow_text(arrays[name].dtype) else raw[name],
                          contract, problems, blanks)
        for name, spec in contract.fields.items() if name in present
    }
    _row_checks(typed, contract, problems)
    ids = _personal_ids(ids, typed, contract, problems)
    limit = contract.fields["household_id"].max_length
    if limit is not None:
        ids = _clipped(ids, _lengths(_string_cells(ids)) > limit)
    _empty_rows(np.logical_and.reduce(blanks), problems)
    ignored = [c for c in columns if c not in contract.fields and c != ROW]
    # The parsers return new arrays, never views of ``raw``: the frame can take them without a copy.
    frame = frame_of(typed, pd.RangeIndex(len(raw)))
    return _split(frame, problems, rows, ids, n_input=len(raw), ignored=ignored, arrays=typed)


def _personal_ids(ids: pd.Series, typed: Mapping[str, Any], contract: Contract,
                  problems: Problems) -> pd.Series:
    """Refuse an id that is the row's own NIK or family card number, and never show it in clear.

    Such a row comes from a file whose columns moved (a separator too many), or from an office using
    personal numbers as ids: either way the id would carry a personal number into every output.
    """
    same = np.zeros(len(ids), dtype=bool)
    given = _string_cells(ids)
    for name in contract.by_role("personal"):
        if name in typed:
            equal = pc.equal(_text_array(typed[name]), given.cast(pa.large_string()))
            same |= np.asarray(pc.fill_null(equal, False), dtype=bool)
    if not same.any():
        return ids
    problems.add(same, "household_id", ids, "sama dengan NIK/Nomor KK (data pribadi)",
                 "is a NIK or family card number (personal data may not be an id)", personal=True)
    shown = ids.astype(object).copy()
    shown[same] = [redact(v) for v in ids[same]]
    return shown


def _empty_rows(empty: np.ndarray, problems: Problems) -> None:
    """One problem per row with no value at all (a blank line), instead of one per empty column."""
    if not empty.any():
        return
    problems.parts[:] = [
        (pos[keep], column, [v for v, k in zip(shown, keep.tolist(), strict=True) if k], reason, reason_en)
        for pos, column, shown, reason, reason_en in problems.parts
        for keep in [~empty[pos]] if keep.any()
    ]
    problems.add(empty, "*", pd.Series([""] * len(empty)), "baris kosong", "empty row (no value at all)")


def _has_default_index(frame: pd.DataFrame) -> bool:
    """The index is 0..n-1, so that ``reset_index(drop=True)`` would change nothing."""
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


@cache
def _no_rejects() -> pd.DataFrame:
    # What an empty problem table has always given, so the same dtypes: empty lists, empty text arrays.
    none = np.array([], dtype=object)
    return pd.DataFrame({"row": [], "household_id": [], **dict.fromkeys(REJECT_COLUMNS[2:], none)},
                        columns=REJECT_COLUMNS)


def _split(typed: pd.DataFrame, problems: Problems, rows: pd.Series, ids: pd.Series, *,
           n_input: int, ignored: list[str], arrays: Mapping[str, Any] | None = None) -> Validated:
    """Accepted rows (``typed`` itself when every row passes) and the rejects sorted by row and column.

    ``arrays`` are ``typed``'s columns as arrays, passed on when every row passes.
    """
    if problems.parts:
        table = problems.table()
        pos = table["pos"].to_numpy(dtype=np.int64)
        rejects = pd.DataFrame(
            {
                "row": rows.iloc[pos].to_numpy(),
                "household_id": ids.iloc[pos].to_numpy(),
                **{c: table[c].to_numpy() for c in REJECT_COLUMNS[2:]},
            },
            columns=REJECT_COLUMNS,
        ).sort_values(["row", "column"], kind="stable").reset_index(drop=True)
    else:
        pos = np.array([], dtype=np.int64)
        rejects = _no_rejects().copy()
    keep = np.ones(len(typed), dtype=bool)
    keep[pos] = False
    every_row = bool(keep.all())
    accepted = typed if every_row else typed.loc[keep].reset_index(drop=True)
    accepted.attrs["source_rows"] = rows.to_numpy()[keep]
    return Validated(accepted=accepted, rejects=rejects, n_input=n_input, ignored_columns=ignored,
                     arrays=arrays if every_row else None)


def rejects_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f"{stem}.rejects.csv"


def accepted_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f"{stem}.accepted.parquet"
