"""The one neutraliser every CSV and xlsx writer uses (`targeting.spreadsheet`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.spreadsheet import (
    XLSX_MAX_CELL_CHARS,
    csv_text,
    is_formula_like,
    safe_text,
    write_csv,
    write_xlsx,
)
from tests.security.exports import PAYLOADS, csv_formula_fields, xlsx_formula_cells


@pytest.mark.parametrize(("text", "expected"), [
    ("=1+1", "'=1+1"),
    ("+cmd", "'+cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("\n=1", "'\n=1"),
    ("  =1", "'  =1"),
    # Plain numbers, even signed, are not formulas: left as they are.
    ("-5", "-5"),
    ("+62", "+62"),
    ("-1.5e3", "-1.5e3"),
    ("-0,5", "-0,5"),
    # Ordinary text.
    ("Desa Tenggarong 01", "Desa Tenggarong 01"),
    ("a=b", "a=b"),
    ("", ""),
    ("-", "'-"),
    ("-5\n", "'-5\n"),
])
def test_safe_text_hand_cases(text: str, expected: str) -> None:
    assert safe_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_safe_text_never_leaves_a_formula(text: str) -> None:
    out = safe_text(text)
    assert not is_formula_like(out)
    # Only ever one apostrophe added, in front; nothing else changes.
    assert out in (text, "'" + text)


def _read_back(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_every_text_dtype_and_headers() -> None:
    frame = pd.DataFrame({
        "=id": pd.Series(["=1+1", "ok", None], dtype="string"),
        "obj": pd.Series(["+x", 3, None], dtype=object),
        "cat": pd.Categorical(["@a", "b", "@a"]),
        "num": [-1.5, 2.0, np.nan],
    })
    rows = _read_back(csv_text(frame))
    assert rows == [["'=id", "obj", "cat", "num"], ["'=1+1", "'+x", "'@a", "-1.5"], ["ok", "3", "b", "2"],
                    ["", "", "'@a", ""]]
    # The input is untouched.
    assert frame["=id"].iloc[0] == "=1+1"


def test_csv_vectorised_path_agrees_with_safe_text() -> None:
    values = [*PAYLOADS, "-5", "x", "", "+62", "  -3 "] * 30
    rows = _read_back(csv_text(pd.DataFrame({"v": pd.Series(values, dtype="string")})))
    assert [r[0] if r else "" for r in rows[1:]] == [safe_text(v) for v in values]


def test_write_csv_and_xlsx_hold_no_formula(tmp_path: Path) -> None:
    frame = pd.DataFrame({"household_id": PAYLOADS, "n": range(len(PAYLOADS)), "kec": PAYLOADS[::-1]})
    csv_path = write_csv(frame, tmp_path / "x.csv")
    xlsx_path = write_xlsx(tmp_path / "x.xlsx", {"data": frame, "=evil": frame.head(1)})
    assert csv_formula_fields(csv_path) == []
    assert xlsx_formula_cells(xlsx_path) == []
    wb = openpyxl.load_workbook(xlsx_path)
    # The workbook keeps every value (no visible apostrophe; XML reads a bare CR as a line feed), and
    # numbers as numbers.
    data = [[c.value for c in row] for row in wb["data"].iter_rows(min_row=2)]
    assert [r[0] for r in data] == [p.replace("\r", "\n") for p in PAYLOADS]
    assert [r[1] for r in data] == list(range(len(PAYLOADS)))
    # Formula-like texts carry Excel's quote prefix, so editing the cell keeps it text.
    assert wb["data"]["A2"].quotePrefix is True and wb["data"]["B2"].quotePrefix is False
    assert wb.sheetnames == ["data", "=evil"]
    assert pd.read_csv(csv_path, dtype=str)["household_id"].tolist()[:3] == [
        "'" + PAYLOADS[0], "'" + PAYLOADS[1], "'" + PAYLOADS[2]]


def test_xlsx_shows_what_it_cannot_hold(tmp_path: Path) -> None:
    long = "x" * (XLSX_MAX_CELL_CHARS + 10)
    frame = pd.DataFrame({"v": ["a\x01b\x1f", long]})
    wb = openpyxl.load_workbook(write_xlsx(tmp_path / "x.xlsx", {"s": frame}))
    cells = [c.value for c in wb["s"]["A"]]
    assert cells[1] == "a\u2401b\u241f"
    assert len(cells[2]) == XLSX_MAX_CELL_CHARS and cells[2].endswith(f"{len(long):,} karakter / characters]")


def test_write_csv_exact_bytes_every_dtype(tmp_path: Path) -> None:
    """Hand-written expectation of the Arrow-written CSV: texts quoted and neutralised, numbers bare,
    booleans in the project's words, missing values and NaN/inf empty, appended rows without a header."""
    frame = pd.DataFrame({
        "=h": ["=1+1", "x\ry", None],
        "f": [1.5, np.nan, np.inf],
        "i": pd.array([1, None, 3], dtype="Int64"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "c": pd.Categorical(["@a", None, "b"]),
        "o": pd.Series(["+x", 3, None], dtype=object),
        "n": ["-5", "+62", "Desa Tenggarong 01"],
    })
    path = write_csv(frame, tmp_path / "x.csv")
    expected = ('"\'=h","f","i","b","c","o","n"\n'
                '"\'=1+1",1.5,1,true,"\'@a","\'+x","-5"\n'
                '"x\ry",,,,,"3","+62"\n'
                ',,3,false,"b",,"Desa Tenggarong 01"\n')
    assert path.read_bytes().decode("utf-8") == expected
    write_csv(frame.head(1), path, append=True)
    assert path.read_bytes().decode("utf-8") == expected + '"\'=1+1",1.5,1,true,"\'@a","\'+x","-5"\n'
    # The bare carriage return stays inside its quoted cell: the four rows written read back as four.
    assert len(pd.read_csv(path)) == 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=6))
def test_write_csv_arrow_path_agrees_with_safe_text(tmp_path_factory: pytest.TempPathFactory,
                                                    texts: list[str]) -> None:
    import csv

    path = write_csv(pd.DataFrame({"v": pd.Series(texts, dtype="string")}),
                     tmp_path_factory.mktemp("csv") / "v.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    # Arrow writes an empty string as an empty cell (as pandas did): it reads back as "".
    assert [r[0] if r else "" for r in rows[1:]] == [safe_text(t) for t in texts]
