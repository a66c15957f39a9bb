"""Read survey files exactly as written: every cell as text (or the file's own typed values), no guessing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from targeting.errors import InputFileError
from targeting.survey.spec import FileSpec

SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}

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
    file = file or FileSpec(name=path.stem, path=str(path))
    if not path.exists():
        raise InputFileError(f"file not found: {path}")
    fmt = detect_format(path, file.format)
    try:
        if fmt == "csv":
            frame = pd.read_csv(
                path,
                sep=file.sep,
                dtype=str,
                keep_default_na=False,
                encoding=file.encoding,
                skipinitialspace=False,
            )
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_excel(path, sheet_name=file.sheet, dtype=object, engine="openpyxl")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: cannot be read as {file.encoding} (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8 or set `encoding` in the dataset spec"
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise InputFileError(f"{path}: cannot be read as {fmt}: {exc}") from exc
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise InputFileError(f"{path}: duplicate column names {dupes}")
    frame = frame.reset_index(drop=True)
    frame[ROW] = pd.RangeIndex(2, len(frame) + 2)
    return frame
