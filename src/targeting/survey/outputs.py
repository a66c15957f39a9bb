"""Write the accepted rows and the rejects table of a validation, with personal ids pseudonymised."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from targeting.privacy import pseudonymize
from targeting.spreadsheet import write_csv, write_xlsx
from targeting.survey.contract import load_contract
from targeting.survey.load import LoadedSurvey


def export_frame(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A frame safe to write out: NIK/KK columns replaced by keyed pseudonyms (``<col>_pseudonym``)."""
    personal = [c for c in load_contract().by_role("personal") if c in frame.columns]
    out = frame.copy()
    # Row numbers travel in attrs for the validator; pandas would write them into Parquet metadata as
    # JSON, which cannot hold a numpy array (the crash of every .parquet validation).
    out.attrs = {}
    for col in personal:
        out.insert(out.columns.get_loc(col), f"{col}_pseudonym", pseudonymize(out[col], key))
        out = out.drop(columns=col)
    return out


def write_validation(loaded: LoadedSurvey, source: Path, out_dir: Path, key: bytes) -> dict[str, Path]:
    """Write ``<stem>.accepted.<ext>`` and ``<stem>.rejects.csv`` (plus .xlsx for Excel input).

    CSV and xlsx go through `targeting.spreadsheet`, so no cell is ever a live formula.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem, suffix = source.stem, source.suffix.lower()
    accepted = export_frame(loaded.data.frame, key)
    paths = {}
    acc_path = out_dir / f"{stem}.accepted{suffix if suffix in {'.csv', '.xlsx', '.parquet'} else '.csv'}"
    if acc_path.suffix == ".xlsx":
        write_xlsx(acc_path, {"diterima - accepted": accepted})
    elif acc_path.suffix == ".parquet":
        accepted.to_parquet(acc_path, index=False)
    else:
        write_csv(accepted, acc_path)
    paths["accepted"] = acc_path
    paths["rejects"] = write_csv(loaded.rejects, out_dir / f"{stem}.rejects.csv")
    if len(loaded.excluded):
        paths["excluded"] = write_csv(loaded.excluded, out_dir / f"{stem}.excluded.csv")
    if suffix == ".xlsx":
        xl = out_dir / f"{stem}.rejects.xlsx"
        paths["rejects_xlsx"] = write_xlsx(xl, {"ditolak - rejects": loaded.rejects})
    return paths


def write_rejects_chunk(rejects: pd.DataFrame, path: Path, *, header: bool) -> None:
    """Append one chunk's rejects to a CSV (the header only with the first chunk)."""
    write_csv(rejects, path, append=not header)
