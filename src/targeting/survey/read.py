"""Read survey files exactly as written: every cell as the text a CSV would hold, nothing guessed.

One typing rule for every format: a cell is judged by the contract from its text. CSV cells are
text already; an Excel cell becomes the text its value prints as (`cell_text`: ``true``/``false``,
``4`` for a whole number, ``0.5``, ISO dates), as the API's JSON values do, so the same value is
accepted or refused with the same reason whichever format carried it. Parquet columns keep their
storage types (the registry is large and typed), and the validator applies the same rule to them
(a boolean column in a number field is refused, not read as 1; see `targeting.survey.validate`).

What makes a file unusable is one `InputFileError`, never a traceback or a silent loss:

* CSV: an encoding it cannot be read in (UTF-16 with or without a byte-order mark is named), NUL
  bytes, rows whose number of fields differs from the header (a separator inside an unquoted value
  shifts every later column; extra fields that are all empty, as from a separator at the end of each
  line, are not data and are allowed). The first column is never taken as an index.
* Excel: not a workbook, several sheets with data and none named, formula cells without a saved
  value (the file was written by a program that does not compute formulas).
* Parquet: not a Parquet file, or nested columns (lists, structs), which hold no single value.

Row numbers are what a clerk sees in a spreadsheet: the header is row 1, and a blank line is a row
(kept, and refused by the validator as an empty row); blank rows after the last data row are not.

:func:`read_raw` reads a file whole; :func:`iter_raw` yields the same rows in chunks (CSV through
pyarrow's streaming reader, Parquet by record batches), so a registry of millions is never held at once.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.errors import InputFileError
from targeting.survey.booleans import WRITTEN
from targeting.survey.spec import FileSpec

SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
#: Formats read a chunk at a time (an Excel workbook is read whole, then sliced).
STREAMABLE_FORMATS = ("csv", "parquet")

#: Column holding the 1-based row number in the source sheet (header = row 1): what a clerk sees in Excel.
ROW = "_row"
#: How many offending rows or cells a file-level error names before "...".
SHOWN = 5
_SNIFF_BYTES = 1 << 16


def detect_format(path: Path, declared: str = "auto") -> str:
    """The file format from the spec, or from the suffix."""
    if declared != "auto":
        return declared
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: jenis berkas tidak didukung / unsupported file type {path.suffix!r} "
            "(use .csv, .parquet or .xlsx)"
        )
    return fmt


def cell_text(value: Any) -> str:
    """A typed cell as the text a CSV cell would hold (missing -> empty): one rule for every format."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return WRITTEN[bool(value)]
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def _shown_rows(rows: Sequence[object]) -> str:
    listed = ", ".join(map(str, rows[:SHOWN]))
    return listed + (" ..." if len(rows) > SHOWN else "")


def read_raw(path: Path, file: FileSpec | None = None) -> pd.DataFrame:
    """Read one file as it is written; add the source row number ``_row``.

    CSV and Excel cells arrive as text (so that "007", "1,5" or "ya" are judged by the contract, not
    by a reader); Parquet keeps its typed columns.
    """
    file = file or FileSpec(name=path.stem, path=str(path))
    if not path.exists():
        raise InputFileError(f"berkas tidak ditemukan / file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a file")
    fmt = detect_format(path, file.format)
    rows: np.ndarray | None = None
    if fmt == "csv":
        frame, rows = _read_csv(path, file)
    elif fmt == "parquet":
        frame = _read_parquet(path)
    else:
        frame, rows = _read_xlsx(path, file)
    return _finish(path, frame, rows if rows is not None else np.arange(2, len(frame) + 2))


def _finish(path: Path, frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Clean header names, refuse duplicates and the reserved name, number rows as the sheet shows them."""
    names = _column_names(frame.columns)
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise InputFileError(f"{path}: nama kolom ganda / duplicate column names {dupes}")
    frame.columns = names
    if ROW in names:
        raise InputFileError(f"{path}: column name {ROW!r} is reserved")
    frame = frame.reset_index(drop=True)
    frame[ROW] = rows
    return frame


def _column_names(columns: Iterable[Any]) -> list[str]:
    out = []
    for i, c in enumerate(columns, start=1):
        name = cell_text(c).strip().lstrip("\ufeff").strip()
        out.append(name or f"Unnamed: {i}")
    return out


# ---- CSV ---------------------------------------------------------------------------------------


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise InputFileError(f"unknown encoding {encoding!r} in the dataset spec") from exc


def _sniff_encoding(path: Path, codec: str) -> None:
    """Name a UTF-16 file, or a binary one, instead of failing later on a column that seems missing."""
    if codec.startswith(("utf-16", "utf-32")):
        return
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if head.startswith(bom):
            raise InputFileError(
                f"{path}: berkas ber-encoding {name} / the file is {name} (byte-order mark), not {codec}: "
                f"save it as CSV UTF-8, or set `encoding: {name.lower()}` in the dataset spec"
            )
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            guess = "utf-16-le"
        elif even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            guess = "utf-16-be"
        else:
            raise InputFileError(f"{path}: holds NUL bytes: a binary file, not CSV text")
        raise InputFileError(
            f"{path}: tampaknya UTF-16 tanpa BOM / looks like {guess.upper()} without a byte-order mark "
            f"(every other byte is 0), not {codec}: save it as CSV UTF-8, or set `encoding: {guess}`"
        )


def _decode_error(path: Path, codec: str, exc: UnicodeDecodeError | None = None) -> InputFileError:
    if exc is None:
        try:
            path.read_bytes().decode(codec)
        except UnicodeDecodeError as found:
            exc = found
    where = f" (byte {exc.start}: {exc.reason})" if exc is not None else ""
    return InputFileError(
        f"{path}: tidak dapat dibaca sebagai {codec} / cannot be read as {codec}{where}; "
        "save it as UTF-8 or set `encoding` in the dataset spec"
    )


def _text_codec(codec: str) -> str:
    # The header is read with Python's csv module: a UTF-8 byte-order mark is not part of a name.
    return "utf-8-sig" if codec == "utf-8" else codec


def _read_header(path: Path, codec: str, sep: str) -> list[str]:
    try:
        with path.open(encoding=_text_codec(codec), newline="") as f:
            header = next(csv.reader(f, delimiter=sep), None)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, exc) from exc
    except csv.Error as exc:
        raise InputFileError(f"{path}: cannot be read as CSV: {exc}") from exc
    if not header:
        raise InputFileError(f"{path}: berkas kosong / empty file (no header row)")
    return header


def _arrow_csv_options(header: list[str], codec: str, sep: str, on_invalid: Any,
                       use_threads: bool = True) -> dict[str, Any]:
    """The CSV options of pyarrow's fast readers: the given header, every cell as text, nothing null."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return {
        "read_options": pacsv.ReadOptions(
            column_names=header, skip_rows=1, use_threads=use_threads,
            encoding="utf8" if codec in ("utf-8", "utf-8-sig") else codec,
        ),
        "parse_options": pacsv.ParseOptions(
            delimiter=sep, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid,
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    }


def _read_csv(path: Path, file: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """All cells as text; the fast reader is pyarrow's, the exact one (on a problem) Python's csv."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(file.sep) != 1:
        raise InputFileError(f"the dataset spec's separator {file.sep!r} must be one character")
    codec = _codec(file.encoding)
    _sniff_encoding(path, codec)
    header = _read_header(path, codec, file.sep)
    if len(set(header)) != len(header) or any("\n" in h or "\r" in h for h in header):
        return _read_csv_exact(path, file, codec, header)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(path, **_arrow_csv_options(header, codec, file.sep, on_invalid))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise _decode_error(path, codec) from exc
        # pyarrow's messages quote the offending line, which may hold a NIK: never show them.
        return _read_csv_exact(path, file, codec, header)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, exc) from exc
    if invalid:
        return _read_csv_exact(path, file, codec, header)
    n = _without_trailing_blank(table.num_rows, lambda i: table.slice(i, 1).to_pylist()[0].values())
    # Column by column, freeing Arrow memory as it goes: a wide file is not held twice.
    frame = table.slice(0, n).to_pandas(split_blocks=True, self_destruct=True)
    return frame, np.arange(2, n + 2)


def _read_csv_exact(path: Path, file: FileSpec, codec: str, header: list[str]
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """Python's csv reader, record by record: names every row whose fields do not fit the header."""
    n = len(header)
    records: list[list[str]] = []
    short: list[tuple[int, int]] = []
    long: list[tuple[int, int]] = []
    try:
        with path.open(encoding=_text_codec(codec), newline="") as f:
            reader = csv.reader(f, delimiter=file.sep)
            next(reader)
            for i, rec in enumerate(reader, start=2):
                k = len(rec)
                if k == n:
                    records.append(rec)
                elif k == 0 or (k == 1 and rec[0].strip() == ""):
                    records.append([""] * n)  # a blank line: a row, refused by the validator
                elif k < n:
                    short.append((i, k))
                elif any(v.strip() for v in rec[n:]):
                    long.append((i, k))
                else:
                    records.append(rec[:n])  # separators at the end of the line: no data there
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, exc) from exc
    except csv.Error as exc:
        raise InputFileError(f"{path}: cannot be read as CSV: {exc}") from exc
    if short or long:
        bad = sorted(short + long)
        detail = _shown_rows([f"row {r}: {k} fields" for r, k in bad]).replace(", ", "; ")
        raise InputFileError(
            f"{path}: {len(bad):,} baris dengan jumlah kolom salah / rows with the wrong number of fields "
            f"(the header has {n}): {detail}. A separator inside an unquoted value shifts every later "
            "column: quote such values, or fix the rows; nothing was read"
        )
    records = records[: _without_trailing_blank(len(records), lambda i: records[i])]
    columns = {i: pd.array([r[i] for r in records], dtype="str") for i in range(n)}
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))
    frame.columns = header
    return frame, np.arange(2, len(frame) + 2)


def _without_trailing_blank(n: int, row: Callable[[int], Iterable[Any]]) -> int:
    """How many rows to keep: blank rows after the last row with data are the sheet's end, not households."""
    while n > 0 and all(cell_text(v).strip() == "" for v in row(n - 1)):
        n -= 1
    return n


# ---- Parquet -----------------------------------------------------------------------------------


def _read_parquet(path: Path) -> pd.DataFrame:
    """Typed columns as stored; an index saved in the file comes back as a column, never dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _bad_parquet(path, exc) from exc
    _refuse_nested(path, table.schema)
    return _parquet_frame(table)


def _bad_parquet(path: Path, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"{path}: bukan berkas Parquet yang sah / not a valid Parquet file ({type(exc).__name__})"
    )


def _refuse_nested(path: Path, schema: Any) -> None:
    import pyarrow as pa

    nested = [f.name for f in schema
              if pa.types.is_nested(f.type) or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if nested:
        raise InputFileError(
            f"{path}: columns {nested} hold lists, structs or bytes, not single values"
        )


def _parquet_frame(table: Any) -> pd.DataFrame:
    # No pandas metadata: an index written into the file stays a visible column (e.g.
    # "__index_level_0__", reported as unknown) instead of being restored and then dropped.
    frame = table.to_pandas(ignore_metadata=True)
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype) \
                or (col.dtype == object and not _all_text(col)):
            # Dates, decimals: the text a CSV would hold, so the contract judges every format alike.
            frame[name] = pd.array([cell_text(v) for v in col.astype(object)], dtype="str")
    return frame


def _all_text(col: pd.Series) -> bool:
    return all(v is None or isinstance(v, str) for v in col.tolist())


# ---- Excel -------------------------------------------------------------------------------------

_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


#: Largest uncompressed workbook read (a registry of 260,000 households is ~100 MB): a zip bomb
#: must not take the machine's memory.
MAX_XLSX_UNCOMPRESSED = 2 << 30


def _broken_workbook(path: Path, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"{path}: bukan buku kerja Excel .xlsx yang sah / not a valid .xlsx workbook "
        f"({type(exc).__name__}); an old .xls or a renamed file must be saved as .xlsx first"
    )


def _broken_errors() -> tuple[type[BaseException], ...]:
    """What openpyxl and zipfile raise on a damaged archive (damage can surface at any read)."""
    import zlib
    from xml.etree.ElementTree import ParseError

    from openpyxl.utils.exceptions import InvalidFileException

    return (zipfile.BadZipFile, zlib.error, InvalidFileException, ParseError, KeyError, OSError, ValueError,
            TypeError, IndexError, AttributeError, EOFError, NotImplementedError)


def _check_archive(path: Path, fh: Any) -> None:
    """Every member's CRC before openpyxl reads it, and a bound on the uncompressed size."""
    with zipfile.ZipFile(fh) as z:
        total = sum(info.file_size for info in z.infolist())
        if total > MAX_XLSX_UNCOMPRESSED:
            raise InputFileError(
                f"{path}: buku kerja terlalu besar / workbook too large when uncompressed "
                f"({total:,} bytes; at most {MAX_XLSX_UNCOMPRESSED:,}): split it or save it as CSV"
            )
        bad = z.testzip()
        if bad is not None:
            raise InputFileError(f"{path}: not a valid .xlsx workbook (damaged part {bad!r})")
    fh.seek(0)


def _open_workbook(fh: Any, data_only: bool) -> Any:
    import openpyxl

    fh.seek(0)
    return openpyxl.load_workbook(fh, read_only=True, data_only=data_only)


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    # The sheet's stored dimension can be wrong (smaller than the data): ignore it and read every row.
    ws.reset_dimensions()
    return [tuple(r) for r in ws.iter_rows(min_row=1, values_only=True)]


def _has_data(rows: list[tuple[Any, ...]]) -> bool:
    return any(v is not None and cell_text(v).strip() != "" for r in rows for v in r)


def _read_xlsx(path: Path, file: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """A workbook's one sheet with data, every cell as text; any damage is one `InputFileError`."""
    try:
        with path.open("rb") as fh:
            _check_archive(path, fh)
            return _read_sheet(path, fh, file)
    except InputFileError:
        raise
    except _broken_errors() as exc:
        raise _broken_workbook(path, exc) from exc


def _read_sheet(path: Path, fh: Any, file: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    wb = _open_workbook(fh, data_only=True)
    try:
        sheets = {ws.title: ws for ws in wb.worksheets}
        if "sheet" in file.model_fields_set:
            ws = _named_sheet(path, file.sheet, sheets)
            rows = _rows(ws)
        else:
            with_data = {title: r for title, r in ((t, _rows(s)) for t, s in sheets.items()) if _has_data(r)}
            if len(with_data) > 1:
                raise InputFileError(
                    f"{path}: buku kerja berisi {len(with_data)} lembar data / the workbook has "
                    f"{len(with_data)} sheets with data ({', '.join(map(repr, with_data))}): name the one "
                    "to read with --sheet (or `sheet:` in the dataset spec); nothing was read"
                )
            if not with_data:
                raise InputFileError(f"{path}: buku kerja kosong / the workbook has no data")
            title = next(iter(with_data))
            ws, rows = sheets[title], with_data[title]
        worksheet_path = getattr(ws, "_worksheet_path", None)
    finally:
        wb.close()
    _refuse_uncomputed_formulas(path, fh, ws.title, worksheet_path, rows)
    if not rows or not _has_data(rows[:1]):
        raise InputFileError(f"{path}: sheet {ws.title!r}: the first row must hold the column names")
    width = max(len(r) for r in rows)
    header = list(rows[0]) + [None] * (width - len(rows[0]))
    # Columns past the last named one that hold nothing are the sheet's extent, not data.
    while header and header[-1] is None and all(len(r) < len(header) or r[len(header) - 1] is None
                                                for r in rows[1:]):
        header.pop()
    n = len(header)
    body = rows[1:]
    body = body[: _without_trailing_blank(len(body), lambda i: body[i])]
    columns = {
        i: pd.array([cell_text(r[i]) if i < len(r) else "" for r in body], dtype="str") for i in range(n)
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(body)))
    frame.columns = [cell_text(h) for h in header]
    return frame, np.arange(2, len(body) + 2)


def _named_sheet(path: Path, sheet: str | int, sheets: dict[str, Any]) -> Any:
    titles = list(sheets)
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(titles):
            return sheets[titles[sheet]]
    elif sheet in sheets:
        return sheets[sheet]
    raise InputFileError(
        f"{path}: tidak ada lembar / no sheet {sheet!r}; the sheets are {', '.join(map(repr, titles))}"
    )


def _refuse_uncomputed_formulas(path: Path, fh: Any, title: str, worksheet_path: str | None,
                                values: list[tuple[Any, ...]]) -> None:
    """A formula cell without a saved value would read as empty: refuse the file, naming cells."""
    if worksheet_path is None:
        return
    fh.seek(0)
    with zipfile.ZipFile(fh) as z:
        try:
            xml = z.read(worksheet_path)
        except KeyError:
            return
    if not _FORMULA_TAG.search(xml):
        return
    from openpyxl.utils import get_column_letter

    wb = _open_workbook(fh, data_only=False)
    try:
        ws = wb[title]
        ws.reset_dimensions()
        missing = []
        for r, row in enumerate(ws.iter_rows(min_row=1, values_only=True)):
            for c, v in enumerate(row):
                if isinstance(v, str) and v.startswith("=") and (
                    r >= len(values) or c >= len(values[r]) or values[r][c] is None
                ):
                    missing.append(f"{get_column_letter(c + 1)}{r + 1}")
    finally:
        wb.close()
    if missing:
        raise InputFileError(
            f"{path}: sheet {title!r}: {len(missing):,} sel rumus tanpa nilai tersimpan / formula cells "
            f"without a saved value ({_shown_rows(missing)}): the file was written by a program that "
            "does not compute formulas; open and save it in Excel or LibreOffice, or paste values"
        )


# ---- chunks ------------------------------------------------------------------------------------


def count_rows(path: Path, file: FileSpec | None = None) -> int | None:
    """Data rows of a file when the format says so cheaply (Parquet metadata), else None."""
    file = file or FileSpec(name=path.stem, path=str(path))
    if path.is_file() and detect_format(path, file.format) == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # noqa: BLE001 - a damaged file is reported by the reader itself
            return None
    return None


def iter_raw(path: Path, file: FileSpec | None = None, *, chunk_rows: int | None = 100_000
             ) -> Iterator[pd.DataFrame]:
    """The rows :func:`read_raw` reads, in chunks of at most ``chunk_rows`` (None: one chunk).

    Every chunk has the same columns and a fresh RangeIndex; ``_row`` continues across chunks. A
    file with no data rows yields one empty frame with its header's columns. The same refusals as
    :func:`read_raw`, with the same messages; a CSV that pyarrow's streaming parser cannot take
    row by row (fields that do not fit the header, a blank line) is read by the exact reader instead.
    """
    file = file or FileSpec(name=path.stem, path=str(path))
    if chunk_rows is None:
        yield read_raw(path, file)
        return
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    if not path.exists():
        raise InputFileError(f"berkas tidak ditemukan / file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a file")
    fmt = detect_format(path, file.format)
    if fmt == "csv":
        frames = _csv_batches(path, file)
    elif fmt == "parquet":
        frames = _parquet_batches(path)
    else:
        frames = iter([read_raw(path, file).drop(columns=[ROW])])
    yield from _rechunk(path, frames, chunk_rows)


def _rechunk(path: Path, frames: Iterator[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of any size as chunks of ``chunk_rows`` rows, numbered from row 2."""
    first_row = 2
    pending: list[pd.DataFrame] = []
    held = 0
    empty: pd.DataFrame | None = None
    for frame in frames:
        if empty is None:
            empty = frame.iloc[:0]
        if len(frame) == 0:
            continue
        pending.append(frame)
        held += len(frame)
        while held >= chunk_rows:
            whole = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            out, rest = whole.iloc[:chunk_rows], whole.iloc[chunk_rows:]
            yield _finish(path, out.copy(), np.arange(first_row, first_row + len(out)))
            first_row += len(out)
            pending, held = ([rest] if len(rest) else []), len(rest)
    if pending:
        whole = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        yield _finish(path, whole, np.arange(first_row, first_row + len(whole)))
    elif first_row == 2:
        yield _finish(path, (empty if empty is not None else pd.DataFrame()).copy(), np.arange(2, 2))


def _csv_batches(path: Path, file: FileSpec) -> Iterator[pd.DataFrame]:
    """Text frames from pyarrow's streaming CSV reader; blank rows at the end of the file dropped."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(file.sep) != 1:
        raise InputFileError(f"the dataset spec's separator {file.sep!r} must be one character")
    codec = _codec(file.encoding)
    _sniff_encoding(path, codec)
    header = _read_header(path, codec, file.sep)

    def exact(skip: int) -> Iterator[pd.DataFrame]:
        frame, _ = _read_csv_exact(path, file, codec, header)
        yield frame.iloc[skip:].reset_index(drop=True)

    if len(set(header)) != len(header) or any("\n" in h or "\r" in h for h in header):
        yield from exact(0)
        return
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    try:
        reader = pacsv.open_csv(path, **_arrow_csv_options(header, codec, file.sep, on_invalid,
                                                           use_threads=False))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise _decode_error(path, codec) from exc
        yield from exact(0)
        return
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, exc) from exc
    done = 0  # data rows already handed on: all from batches read before any invalid row
    blank: list[pd.DataFrame] = []  # trailing blank rows held back until a row with data follows
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            if invalid:  # the last rows read were all refused by pyarrow's parser
                yield from exact(done)
                return
            break
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "UTF-8" in str(exc):
                raise _decode_error(path, codec) from exc
            # pyarrow's messages quote the offending line, which may hold a NIK: never show them.
            yield from exact(done)
            return
        if invalid:
            # Fields that do not fit the header or a blank line: the exact reader names them or
            # keeps them as Python's csv module reads them, from the first row not yet handed on.
            yield from exact(done)
            return
        frame = pa.Table.from_batches([batch]).to_pandas(split_blocks=True, self_destruct=True)
        keep = _without_trailing_blank(len(frame), _frame_row(frame))
        if keep == 0:
            blank.append(frame)
            continue
        if blank:
            frame = pd.concat([*blank, frame], ignore_index=True)
            keep += sum(len(b) for b in blank)
            blank = []
        head, tail = frame.iloc[:keep], frame.iloc[keep:]
        done += len(head)
        yield head
        if len(tail):
            blank.append(tail.reset_index(drop=True))
    yield pd.DataFrame({name: pd.array([], dtype="str") for name in header})


def _frame_row(frame: pd.DataFrame) -> Callable[[int], list[Any]]:
    return lambda i: frame.iloc[i].tolist()


def _parquet_batches(path: Path) -> Iterator[pd.DataFrame]:
    """Record batches as :func:`_read_parquet` converts the whole table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        _refuse_nested(path, parquet.schema_arrow)
        yield _parquet_frame(parquet.schema_arrow.empty_table())
        for batch in parquet.iter_batches():
            yield _parquet_frame(pa.Table.from_batches([batch], schema=parquet.schema_arrow))
    except InputFileError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _bad_parquet(path, exc) from exc
