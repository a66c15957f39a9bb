"""Every CSV and Excel file the project writes goes through here, so no cell runs as a formula.

Field staff open exports in Excel or LibreOffice, and a household id or village name is whatever a
survey clerk (or an attacker) typed. A spreadsheet treats a cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a line break as a formula ("CSV injection", OWASP): ``=HYPERLINK(...)`` can
send data away, ``=cmd|...`` could run a program. The rules, one place for every writer:

* **CSV**: a text cell (or header) that would start a formula gets a leading apostrophe
  (``'=HYPERLINK(...)``), OWASP's advice; Excel shows the text and never evaluates it. A text that
  is a plain number (``-5``, ``+62``, ``1e3``) is left alone: a number is not a formula. Numeric
  columns are written as numbers.
* **xlsx**: the workbook's XML is written here (not by a library), and every text cell is an explicit
  shared-string cell: a text starting with ``=`` or spelling an error code (``#N/A``) stays text,
  never a live formula or error cell. Formula-like texts also get Excel's quote-prefix flag, so a
  later edit of the cell keeps it text. The cell keeps its value (no visible apostrophe), so a
  workbook read back gives what was written (except that XML reads a bare carriage return back as a
  line feed). Two things xlsx cannot hold are shown visibly instead of failing: control characters
  (U+0000-U+001F except tab and line breaks) become their Unicode "control picture" (U+2400 + code,
  e.g. ``␁``), and a text beyond Excel's 32,767 characters is cut with a note saying how long it was.
  Layout (frozen header, filters, number formats, drop-down lists) is :class:`SheetLayout`.
* Every text cell and header of a CSV is quoted, so a line break or bare carriage return inside a
  cell never starts a new row in a spreadsheet.

Parquet stores typed values and is never evaluated: it needs none of this.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "XLSX_MAX_CELL_CHARS",
    "SheetLayout",
    "is_formula_like",
    "csv_text",
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
_NONCHAR_RE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet would read ``text`` as a formula (a plain number is not one)."""
    return bool(_FORMULA_RE.match(text)) and not _NUMBER_RE.match(text)


def safe_text(value: str) -> str:
    """``value`` as a CSV cell that never starts a formula: ``'`` in front when it would."""
    return "'" + value if is_formula_like(value) else value


def _csv_column(s: pd.Series) -> pa.Array:
    """One column as Arrow values for the CSV writer: texts neutralised, numbers and booleans typed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_bool_dtype(s.dtype):
        return pa.Array.from_pandas(s.astype("boolean"))
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        if pd.api.types.is_integer_dtype(s.dtype):
            return pa.Array.from_pandas(s)
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return pa.array(x, mask=~np.isfinite(x))  # NaN and inf are empty cells, as pandas wrote them
    if isinstance(s.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(s.cat.categories):
        cats = [safe_text(str(c)) for c in s.cat.categories]
        codes = s.cat.codes.to_numpy()
        return pa.array(cats, type=pa.large_string()).take(pa.array(codes, mask=codes < 0))
    text = pa.Array.from_pandas(s.astype("string")).cast(pa.large_string())  # Arrow-backed: no copy
    # One regex pass per column in Arrow's RE2 kernels (the same patterns as `is_formula_like`).
    risky = pc.and_(pc.match_substring_regex(text, _FORMULA_PATTERN),
                    pc.invert(pc.match_substring_regex(text, _NUMBER_PATTERN)))
    if pc.any(risky).as_py():
        quote, empty = pa.scalar("'", pa.large_string()), pa.scalar("", pa.large_string())
        text = pc.if_else(risky, pc.binary_join_element_wise(quote, text, empty), text)
    return text


def write_csv(frame: pd.DataFrame, path: str | Path, *, append: bool = False) -> Path:
    """Write ``frame`` (no index) as UTF-8 CSV with every text cell neutralised; return the path.

    Written by Arrow's CSV writer (pandas' ``to_csv`` took 2 s for the 31,000 flagged households of a
    registry's audit, Arrow 0.05 s). Every text cell and header is quoted, so a line break or carriage
    return inside a cell never starts a row in a spreadsheet; booleans are ``true``/``false``
    (`targeting.survey.booleans.WRITTEN`), missing values and NaN empty cells. ``append`` adds the rows
    to an existing file, without the header (a file written in chunks).
    """
    path = Path(path)
    with path.open("ab" if append else "wb") as out:
        _write_csv_to(frame, out, header=not append)
    return path


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as the text :func:`write_csv` writes (for a table logged to MLflow, say)."""
    buf = io.BytesIO()
    _write_csv_to(frame, buf, header=True)
    return buf.getvalue().decode("utf-8")


def _write_csv_to(frame: pd.DataFrame, out: BinaryIO, *, header: bool) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [safe_text(str(c)) for c in frame.columns]
    if not names:
        if header:
            out.write(b"\n")
        return
    table = pa.table([_csv_column(frame.iloc[:, j]) for j in range(frame.shape[1])], names=names)
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=header))


def _xlsx_clean(text: str) -> str:
    """A text as one xlsx cell can hold it: control characters shown visibly, cut beyond Excel's limit."""
    if _ILLEGAL_XML_RE.search(text):
        text = _ILLEGAL_XML_RE.sub(lambda m: chr(0x2400 + ord(m.group())), text)
    if _NONCHAR_RE.search(text):  # lone surrogates and U+FFFE/U+FFFF are not XML characters either
        text = _NONCHAR_RE.sub("\ufffd", text)
    if len(text) > XLSX_MAX_CELL_CHARS:
        note = f" … [dipotong / cut: {len(text):,} karakter / characters]"
        text = text[: XLSX_MAX_CELL_CHARS - len(note)] + note
    return text


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of : \ / ? * [ ], unique ignoring case.
    clean = re.sub(r"[:\\/?*\[\]]", "_", str(title)).strip("'")[:31] or "Sheet"
    name, n = clean, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


@dataclass(frozen=True)
class SheetLayout:
    """How one sheet is laid out for people who work in it (all optional).

    Attributes
    ----------
    freeze_header : keep the first row in view when scrolling (and repeat it on printed pages).
    autofilter : filter buttons on the header row.
    widths : column header -> width in characters (others: from the header's length, capped).
    formats : column header -> ``integer`` (1.074.261), ``decimal`` (1.074.260,8), ``percent`` or
        ``text``; numbers are stored as numbers, the format only changes how they are shown.
    choices : column header -> allowed entries (a drop-down list in each empty cell below the header,
        for a field team's answers; any other text is refused by the spreadsheet).
    wrap : column headers whose cells wrap long text.
    landscape : print the sheet landscape, fitted to the page width.
    """

    freeze_header: bool = True
    autofilter: bool = True
    widths: Mapping[str, float] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, Sequence[str]] = field(default_factory=dict)
    wrap: Sequence[str] = ()
    landscape: bool = True


#: Cell styles of the workbook (index = position in ``cellXfs``).
_STYLE = {"default": 0, "header": 1, "quoted": 2, "integer": 3, "decimal": 4, "percent": 5, "date": 6,
          "wrap": 7, "quoted_wrap": 8}
_STYLES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="#,##0"/>'
    '<numFmt numFmtId="165" formatCode="#,##0.0"/>'
    '</numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFE8EEF4"/><bgColor indexed="64"/>'
    '</patternFill></fill>'
    '</fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="9">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" '
    'applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)
_EPOCH = pd.Timestamp("1899-12-30")


def _col_letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(text: str) -> str:
    return _xml_text(text).replace('"', "&quot;")


class _SharedStrings:
    """The workbook's shared-string table: each distinct text stored once, cells point at it."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0
        self._bodies: dict[tuple[str, bool, bool], str] = {}

    def cell(self, text: str, wrap: bool, header: bool = False) -> str:
        """The cell body (after ``<c r=".."``) for a text: an explicit string, never a formula.

        A formula-like text also gets Excel's quote prefix, so editing the cell keeps it text (a
        header too: it then loses the header's bold, not its safety).
        """
        self.count += 1
        memo = (text, wrap, header)
        body = self._bodies.get(memo)
        if body is None:
            body = self._bodies[memo] = self._body(text, wrap, header)
        return body

    def _body(self, text: str, wrap: bool, header: bool) -> str:
        clean = _xlsx_clean(text)
        idx = self.index.setdefault(clean, len(self.index))
        if is_formula_like(clean):
            style = _STYLE["quoted_wrap" if wrap else "quoted"]
        elif header:
            style = _STYLE["header"]
        else:
            style = _STYLE["wrap"] if wrap else 0
        return f' t="s"{f" s={chr(34)}{style}{chr(34)}" if style else ""}><v>{idx}</v></c>'

    def xml(self) -> str:
        items = []
        for text in self.index:  # insertion order = index order
            space = ' xml:space="preserve"' if text != text.strip() or "\n" in text or "\t" in text else ""
            items.append(f"<si><t{space}>{_xml_text(text)}</t></si>")
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'count="{self.count}" uniqueCount="{len(self.index)}">{"".join(items)}</sst>')


def _column_cells(
    values: pd.Series, kind: str | None, wrap: bool, strings: _SharedStrings
) -> list[str | None]:
    """Each cell's body (after ``<c r=".."``) of one column; None for an empty cell."""
    s = values
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_bool_dtype(s.dtype):
        return [None if v is None or v is pd.NA else f' t="b"><v>{int(bool(v))}</v></c>'
                for v in s.astype(object).tolist()]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        days = (s - _EPOCH) / pd.Timedelta(days=1)
        return [None if not np.isfinite(d) else f' s="{_STYLE["date"]}"><v>{d!r}</v></c>'
                for d in days.astype(float).tolist()]
    if pd.api.types.is_numeric_dtype(s.dtype):
        style = _STYLE.get(kind or "", 0) if kind in ("integer", "decimal", "percent") else 0
        attr = f' s="{style}"' if style else ""
        if pd.api.types.is_integer_dtype(s.dtype):
            ints = s.to_numpy(dtype=object, na_value=None)
            return [None if v is None else f"{attr}><v>{int(v)}</v></c>" for v in ints]
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(x)
        return [f"{attr}><v>{v!r}</v></c>" if good else None
                for v, good in zip(x.tolist(), ok.tolist(), strict=True)]
    # Anything else is text; a number held as text stays text (ids keep their leading zeros).
    string = isinstance(s.dtype, pd.StringDtype)
    values = s.to_numpy(dtype=object, na_value=None) if string else s.astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    bodies = [_cell_body(v, wrap, strings) for v in uniques.tolist()]
    return [None if c < 0 else bodies[c] for c in codes.tolist()]


def _cell_body(value: Any, wrap: bool, strings: _SharedStrings) -> str | None:
    if isinstance(value, bool | np.bool_):
        return f' t="b"><v>{int(bool(value))}</v></c>'
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"><v>{int(value)}</v></c>"
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else f"><v>{float(value)!r}</v></c>"
    if isinstance(value, pd.Timestamp):
        return f' s="{_STYLE["date"]}"><v>{(value - _EPOCH) / pd.Timedelta(days=1)!r}</v></c>'
    return strings.cell(str(value), wrap)


def _sheet_xml(frame: pd.DataFrame, layout: SheetLayout | None, strings: _SharedStrings) -> str:
    n_rows, n_cols = frame.shape
    letters = [_col_letter(j) for j in range(n_cols)]
    headers = [str(c) for c in frame.columns]
    lay = layout or SheetLayout(freeze_header=False, autofilter=False, landscape=False)
    wraps = set(lay.wrap)
    columns = [_column_cells(frame.iloc[:, j], lay.formats.get(headers[j]), headers[j] in wraps, strings)
               for j in range(n_cols)]
    last = f"{letters[-1]}{n_rows + 1}" if n_cols else "A1"
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">']
    if lay.landscape:
        parts.append('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>')
    parts.append(f'<dimension ref="A1:{last}"/>')
    if lay.freeze_header and n_cols:
        parts.append('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                     'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" '
                     'sqref="A2"/></sheetView></sheetViews>')
    else:
        parts.append('<sheetViews><sheetView workbookViewId="0"/></sheetViews>')
    parts.append('<sheetFormatPr defaultRowHeight="15"/>')
    if n_cols:
        cols = []
        for j, h in enumerate(headers):
            width = lay.widths.get(h, min(max(len(h) * 0.9 + 2, 8), 40))
            cols.append(f'<col min="{j + 1}" max="{j + 1}" width="{width:.1f}" customWidth="1"/>')
        parts.append(f"<cols>{''.join(cols)}</cols>")
    header = "".join(f'<c r="{letters[j]}1"{strings.cell(h, False, header=True)}'
                     for j, h in enumerate(headers))
    rows = [f'<row r="1">{header}</row>']
    for i in range(n_rows):  # rows of pre-built cell bodies: the only loop over cells
        r = i + 2
        cells = "".join(f'<c r="{letters[j]}{r}"{body}' for j, col in enumerate(columns)
                        if (body := col[i]) is not None)
        rows.append(f'<row r="{r}">{cells}</row>')
    parts.append(f"<sheetData>{''.join(rows)}</sheetData>")
    if lay.autofilter and n_cols:
        parts.append(f'<autoFilter ref="A1:{last}"/>')
    if lay.choices and n_rows:
        vals = []
        for h, options in lay.choices.items():
            if h not in headers:
                continue
            col = letters[headers.index(h)]
            listed = ",".join(str(o).replace(",", " ").replace('"', "'") for o in options)
            vals.append(f'<dataValidation type="list" allowBlank="1" showErrorMessage="1" '
                        f'sqref="{col}2:{col}{n_rows + 1}"><formula1>"{_xml_text(listed)}"</formula1>'
                        '</dataValidation>')
        if vals:
            parts.append(f'<dataValidations count="{len(vals)}">{"".join(vals)}</dataValidations>')
    parts.append('<pageMargins left="0.4" right="0.4" top="0.5" bottom="0.5" header="0.3" footer="0.3"/>')
    if lay.landscape:
        parts.append('<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>')
    parts.append("</worksheet>")
    return "".join(parts)


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame],
               layouts: Mapping[str, SheetLayout] | None = None) -> Path:
    """Write one workbook, a sheet per frame (in order, no index), text cells as explicit strings.

    The workbook's XML is written directly (shared strings, one pass over the cells), several times
    faster to write than openpyxl's streaming mode and smaller to open. ``layouts`` gives a sheet (by
    the title passed here) frozen headers, filters, number formats, widths and drop-down lists.
    """
    import zipfile

    path = Path(path)
    strings = _SharedStrings()
    used: set[str] = set()
    if not sheets:
        sheets = {"Sheet": pd.DataFrame()}
    titles, bodies, defined = [], [], []
    for k, (title, frame) in enumerate(sheets.items()):
        name = _sheet_title(title, used)
        layout = (layouts or {}).get(title)
        titles.append(name)
        bodies.append(_sheet_xml(frame, layout, strings))
        quoted = "'" + name.replace("'", "''") + "'"
        if layout is not None and layout.autofilter and frame.shape[1]:
            last = f"${_col_letter(frame.shape[1] - 1)}${frame.shape[0] + 1}"
            defined.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{k}" hidden="1">'
                           f"{_xml_text(quoted)}!$A$1:{last}</definedName>")
        if layout is not None and layout.freeze_header and frame.shape[1]:
            defined.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{k}">'
                           f"{_xml_text(quoted)}!$1:$1</definedName>")
    sheet_list = "".join(f'<sheet name="{_xml_attr(t)}" sheetId="{k + 1}" r:id="rId{k + 1}"/>'
                         for k, t in enumerate(titles))
    workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<bookViews><workbookView/></bookViews><sheets>{sheet_list}</sheets>'
                f'{f"<definedNames>{chr(10).join(defined)}</definedNames>" if defined else ""}</workbook>')
    n = len(titles)
    rels = "".join(f'<Relationship Id="rId{k + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   f'relationships/worksheet" Target="worksheets/sheet{k + 1}.xml"/>' for k in range(n))
    rels += (f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/styles" Target="styles.xml"/>'
             f'<Relationship Id="rId{n + 2}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/sharedStrings" Target="sharedStrings.xml"/>')
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{k + 1}.xml" ContentType="application/'
                        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for k in range(n))
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        f'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>{overrides}</Types>'
    )
    root_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                 'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
               '</Relationships>')
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        z.writestr("xl/styles.xml", _STYLES_XML)
        for k, body in enumerate(bodies):
            z.writestr(f"xl/worksheets/sheet{k + 1}.xml", body)
        z.writestr("xl/sharedStrings.xml", strings.xml())
    return path
