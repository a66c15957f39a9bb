"""Every CSV and Excel file the project writes goes through here, so no cell runs as a formula.

Field staff open exports in Excel or LibreOffice, and a household id or village name is whatever a
survey clerk (or an attacker) typed. A spreadsheet treats a cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a line break as a formula ("CSV injection", OWASP): ``=HYPERLINK(...)`` can
send data away, ``=cmd|...`` could run a program. The rules, one place for every writer:

* **CSV**: a text cell (or header) that would start a formula gets a leading apostrophe
  (``'=HYPERLINK(...)``), OWASP's advice; Excel shows the text and never evaluates it. A text that
  is a plain number (``-5``, ``+62``, ``1e3``) is left alone: a number is not a formula. Numeric
  columns are written as numbers.
* **xlsx**: text cells are written as explicit string cells, never guessed: a text starting with
  ``=`` or spelling an error code (``#N/A``) would otherwise become a live formula or error cell.
  Formula-like texts also get Excel's quote-prefix flag, so a later edit of the cell keeps it text.
  The cell keeps its value (no visible apostrophe), so a workbook read back gives what was written
  (except that XML reads a bare carriage return back as a line feed). Two things xlsx cannot hold
  are shown visibly instead of crashing the writer: control characters (U+0000-U+001F except tab
  and line breaks) become their Unicode "control picture" (U+2400 + code, e.g. ``␁``), and a text
  beyond Excel's 32,767 characters is cut with a note saying how long it was.
* A CSV line ends in CRLF (RFC 4180), so that a field holding a bare carriage return is quoted.

Parquet stores typed values and is never evaluated: it needs none of this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "XLSX_MAX_CELL_CHARS",
    "is_formula_like",
    "safe_frame",
    "safe_text",
    "write_csv",
    "write_xlsx",
]

#: A cell a spreadsheet reads as a formula starts with one of OWASP's characters (= + - @ tab CR),
#: or a line feed; leading spaces do not stop LibreOffice from reading `` =1+1`` as one.
_FORMULA_PATTERN = r"^ *[=+\-@\t\r\n]"
#: A plain number (decimal point or comma, optional exponent) is not a formula, even with a sign.
_NUMBER_PATTERN = r"^ *[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)? *$"
_FORMULA_RE = re.compile(_FORMULA_PATTERN)
_NUMBER_RE = re.compile(_NUMBER_PATTERN.replace("$", r"\Z"))  # "$" would also match before a final "\n"
#: Excel's limit on the characters of one cell.
XLSX_MAX_CELL_CHARS = 32_767
# openpyxl refuses these (they are illegal in XML 1.0); tab, LF and CR are allowed.
_ILLEGAL_XML_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ERROR_CODES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet would read ``text`` as a formula (a plain number is not one)."""
    return bool(_FORMULA_RE.match(text)) and not _NUMBER_RE.match(text)


def safe_text(value: str) -> str:
    """``value`` as a CSV cell that never starts a formula: ``'`` in front when it would."""
    return "'" + value if is_formula_like(value) else value


def _safe_series(s: pd.Series) -> pd.Series:
    """Neutralise the text cells of one column; numbers, booleans, dates and missing values stay."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype == object or isinstance(cats.dtype, pd.StringDtype):
            new = [safe_text(c) if isinstance(c, str) else c for c in cats]
            if new != list(cats):
                return s.cat.rename_categories(new)
        return s
    if isinstance(s.dtype, pd.StringDtype):
        # Vectorised (pyarrow's RE2 kernels): a 260,000-row export must not loop in Python.
        risky = s.str.contains(_FORMULA_PATTERN, regex=True) & ~s.str.contains(_NUMBER_PATTERN, regex=True)
        risky = risky.fillna(False).astype(bool)
        return s.mask(risky, "'" + s) if risky.any() else s
    if s.dtype == object:
        values = s.to_numpy()
        out = [safe_text(v) if isinstance(v, str) else v for v in values]
        return pd.Series(out, index=s.index, name=s.name, dtype=object)
    return s


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and headers are safe to write as CSV (see the module doc)."""
    out = pd.DataFrame({i: _safe_series(frame.iloc[:, i]) for i in range(frame.shape[1])},
                       index=frame.index)
    out.columns = [safe_text(str(c)) for c in frame.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8",
              append: bool = False) -> Path:
    """Write ``frame`` (no index) as CSV with every text cell neutralised; return the path.

    ``append`` adds the rows to an existing file, without the header (a file written in chunks).
    """
    path = Path(path)
    if append:
        safe_frame(frame).to_csv(path, mode="a", header=False, index=False, encoding=encoding,
                                 lineterminator="\r\n")
        return path
    # CRLF, as RFC 4180 and Excel write it: Python's csv module then also quotes a field holding a
    # bare CR, which with "\n" line ends it leaves unquoted, and a spreadsheet starts a new row there
    # (a cell after it would begin with whatever the attacker put after the CR).
    safe_frame(frame).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def _xlsx_text(ws: Any, text: str) -> Any:
    """One text cell for a write-only sheet: an explicit string, visible where xlsx cannot hold it."""
    from openpyxl.cell import WriteOnlyCell

    if _ILLEGAL_XML_RE.search(text):
        text = _ILLEGAL_XML_RE.sub(lambda m: chr(0x2400 + ord(m.group())), text)
    if len(text) > XLSX_MAX_CELL_CHARS:
        note = f" … [dipotong / cut: {len(text):,} karakter / characters]"
        text = text[: XLSX_MAX_CELL_CHARS - len(note)] + note
    formula_like = is_formula_like(text)
    if not formula_like and not text.startswith("=") and text not in _ERROR_CODES:
        return text  # openpyxl writes it as a string already
    cell = WriteOnlyCell(ws, value=None)
    cell.value = text
    cell.data_type = "s"  # never "f" (formula) or "e" (error), whatever the text says
    if formula_like:
        cell.quotePrefix = True
    return cell


def _xlsx_value(ws: Any, value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return _xlsx_text(ws, value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return _xlsx_text(ws, str(value))


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of : \ / ? * [ ], unique ignoring case.
    clean = re.sub(r"[:\\/?*\[\]]", "_", str(title)).strip("'")[:31] or "Sheet"
    name, n = clean, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write one workbook, a sheet per frame (in order, no index), text cells as explicit strings.

    openpyxl's streaming (write-only) mode: several times faster than pandas' Excel writer.
    """
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook(write_only=True)
    used: set[str] = set()
    for title, frame in sheets.items():
        ws = wb.create_sheet(title=_sheet_title(title, used))
        ws.append([_xlsx_text(ws, str(c)) for c in frame.columns])
        cells = frame.astype(object).where(frame.notna(), None)
        for row in cells.itertuples(index=False, name=None):  # openpyxl takes rows
            ws.append([_xlsx_value(ws, v) for v in row])
    if not sheets:
        wb.create_sheet("Sheet")
    wb.save(path)
    return path
