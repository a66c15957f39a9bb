"""Read survey files exactly as written: every cell as text (or the file's own typed values), no guessing.

:func:`iter_raw` is the one reader: it yields a file in chunks of rows (CSV through pandas' chunked
parser, Parquet by record batches, Excel whole), each with the source row number ``_row``;
:func:`read_raw` is the whole file as one frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from targeting.errors import InputFileError
from targeting.survey.spec import FileSpec

SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
#: Formats that can be read a chunk at a time (an Excel workbook is read whole).
STREAMABLE_FORMATS = ("csv", "parquet")

#: Column holding the 1-based row number in the source sheet (header = row 1): what a clerk sees in Excel.
ROW = "_row"


def detect_format(path: Path, declared: str = "auto") -> str:
    """The file format from the spec, or from the suffix."""
    if declared != "auto":
        return declared
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: unsupported file type {path.suffix!r} (use .csv, .parquet or .xlsx)"
        )
    return fmt


def read_raw(path: Path, file: FileSpec | None = None) -> pd.DataFrame:
    """Read one file with no type inference for text formats; adds the source row number ``_row``.

    CSV cells stay strings (so that "007", "1,5" or "ya" are judged by the contract, not by pandas);
    Parquet and Excel keep the types stored in the file.
    """
    chunks = list(iter_raw(path, file, chunk_rows=None))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def count_rows(path: Path, file: FileSpec | None = None) -> int | None:
    """Data rows of a file when the format says so cheaply (Parquet metadata), else None."""
    file = file or FileSpec(name=path.stem, path=str(path))
    if path.exists() and detect_format(path, file.format) == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (OSError, ValueError):
            return None
    return None


def iter_raw(path: Path, file: FileSpec | None = None, *, chunk_rows: int | None = 100_000
             ) -> Iterator[pd.DataFrame]:
    """The file in chunks of at most ``chunk_rows`` rows (None: one chunk), as :func:`read_raw` reads it.

    Every chunk has the same columns and a fresh RangeIndex; ``_row`` continues across chunks. A
    file with no data rows yields one empty frame with its header's columns.
    """
    file = file or FileSpec(name=path.stem, path=str(path))
    if not path.exists():
        raise InputFileError(f"file not found: {path}")
    fmt = detect_format(path, file.format)
    first_row = 2
    columns: list[str] | None = None
    try:
        for frame in _chunks(path, file, fmt, chunk_rows):
            frame = _finish(frame, path, first_row)
            names = [c for c in frame.columns if c != ROW]
            if columns is None:
                columns = names
            elif names != columns:  # pragma: no cover - a parser gives every chunk the header's columns
                raise InputFileError(f"{path}: columns changed between chunks")
            first_row += len(frame)
            yield frame
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: cannot be read as {file.encoding} (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8 or set `encoding` in the dataset spec"
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise InputFileError(f"{path}: cannot be read as {fmt}: {exc}") from exc


def _chunks(path: Path, file: FileSpec, fmt: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if fmt == "csv":
        options = dict(sep=file.sep, dtype=str, keep_default_na=False, encoding=file.encoding,
                       skipinitialspace=False)
        if chunk_rows is None:
            yield pd.read_csv(path, **options)
            return
        with pd.read_csv(path, chunksize=chunk_rows, **options) as reader:
            empty = True
            for chunk in reader:
                empty = False
                yield chunk
            if empty:  # a header and no rows: the chunked reader yields nothing
                yield pd.read_csv(path, nrows=0, **options)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        if chunk_rows is None:
            yield pd.read_parquet(path)
            return
        parquet = pq.ParquetFile(path)
        empty = True
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            empty = False
            yield batch.to_pandas()
        if empty:
            yield parquet.schema_arrow.empty_table().to_pandas()
    else:
        frame = pd.read_excel(path, sheet_name=file.sheet, dtype=object, engine="openpyxl")
        if chunk_rows is None or len(frame) <= chunk_rows:
            yield frame
            return
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start:start + chunk_rows]


def _finish(frame: pd.DataFrame, path: Path, first_row: int) -> pd.DataFrame:
    """Clean header names, refuse duplicates, number the rows as the source shows them."""
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise InputFileError(f"{path}: duplicate column names {dupes}")
    frame = frame.reset_index(drop=True)
    frame[ROW] = pd.RangeIndex(first_row, first_row + len(frame))
    return frame
