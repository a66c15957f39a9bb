"""Files a careless or hostile user gives us: each is read faithfully or refused in one line.

Each test names what the unfixed reader did.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from targeting.errors import InputFileError
from targeting.spreadsheet import write_xlsx
from targeting.survey.load import load_dataset
from targeting.survey.read import read_raw
from targeting.survey.spec import load_spec
from tests.conftest import valid_household
from tests.security.cli import run_main

SPEC = load_spec("indonesia_household")
NIK = "6402000000000001"


def households(n: int = 3, **overrides: object) -> pd.DataFrame:
    return pd.DataFrame([valid_household(i, **overrides) for i in range(1, n + 1)])


def load(path: Path, **file_options: object):
    spec = SPEC
    if file_options:
        first = SPEC.files[0].model_copy(update=file_options)
        spec = SPEC.model_copy(update={"files": [first]})
    return load_dataset(spec, files={"households": path})


# ---- crashes that printed a traceback (exit 1) -----------------------------------------------------


def test_parquet_validates_and_round_trips(tmp_path, monkeypatch, capsys):
    # Before: TypeError (ndarray not JSON serializable) from writing attrs into the Parquet metadata.
    src = tmp_path / "in.parquet"
    households(3).to_parquet(src, index=False)
    run = run_main(["validate", str(src), "--out-dir", str(tmp_path / "out")], tmp_path / "h",
                   monkeypatch, capsys)
    assert run.code == 0, run.err
    accepted = pd.read_parquet(tmp_path / "out" / "in.accepted.parquet")
    assert accepted["household_id"].tolist() == ["H0001", "H0002", "H0003"]


@pytest.mark.parametrize("command", [["validate"], ["rules", "check"]])
@pytest.mark.parametrize("content", [b"this is not a workbook", b"PK\x03\x04garbage", b""])
def test_garbage_xlsx_is_one_line_exit_2(tmp_path, monkeypatch, capsys, command, content):
    # Before: zipfile.BadZipFile traceback, exit 1.
    src = tmp_path / "in.xlsx"
    src.write_bytes(content)
    run = run_main([*command, str(src)], tmp_path / "h", monkeypatch, capsys)
    assert run.code == 2
    assert run.err.count("\n") == 1 and "not a valid .xlsx workbook" in run.err
    assert "Traceback" not in run.err


def test_garbage_parquet_is_one_line(tmp_path):
    src = tmp_path / "in.parquet"
    src.write_bytes(b"PAR1 not really")
    with pytest.raises(InputFileError, match="not a valid Parquet file"):
        read_raw(src)


# ---- shifted columns -----------------------------------------------------------------------------


def test_trailing_separator_on_every_line_does_not_shift_columns(tmp_path):
    # Before: pandas took the first column as the index; every column shifted, 0 rows accepted, and
    # the rejects' household_id column held the head's NIK in clear.
    src = tmp_path / "in.csv"
    text = households(3).to_csv(index=False)
    lines = text.splitlines()
    src.write_text("\n".join([lines[0]] + [line + "," for line in lines[1:]]) + "\n", encoding="utf-8")
    loaded = load(src)
    assert len(loaded.data) == 3 and len(loaded.rejects) == 0
    assert loaded.data.household_id.tolist() == ["H0001", "H0002", "H0003"]


def test_a_shifted_row_is_one_file_level_error_without_the_nik(tmp_path, monkeypatch, capsys):
    frame = households(4, desa="Loa Kulu")
    src = tmp_path / "in.csv"
    text = frame.to_csv(index=False).replace("H0003,6402", "H0003,X,6402", 1)  # one field too many
    text = text.replace("H0004,", "", 1)  # and one too few
    src.write_text(text, encoding="utf-8")
    run = run_main(["validate", str(src)], tmp_path / "h", monkeypatch, capsys)
    assert run.code == 2 and run.err.count("\n") == 1
    assert "rows with the wrong number of fields (the header has 48): row 4: 49 fields; row 5: 47 fields" \
        in run.err
    assert "6402" not in run.err  # no cell text, so no NIK, in the message
    assert not (tmp_path / "in.rejects.csv").exists()


def test_id_equal_to_the_nik_is_refused_and_redacted(tmp_path):
    src = tmp_path / "in.csv"
    frame = households(2)
    frame.loc[1, "household_id"] = frame.loc[1, "head_nik"]
    frame.to_csv(src, index=False)
    loaded = load(src)
    assert len(loaded.data) == 1
    assert frame.loc[1, "head_nik"] not in loaded.rejects.to_csv()
    assert loaded.rejects[["row", "column"]].values.tolist() == [[3, "household_id"]]


# ---- one typing rule for every format ---------------------------------------------------------------

#: Values of an int field (household_size) and a bool field (has_tv), each as a CSV clerk types
#: them; the same Python values go into xlsx cells and Parquet columns.
TYPED_CASES = [
    # (household_size cell, has_tv cell, accepted?)
    (4, True, True),
    (4.0, 1, True),
    (True, True, False),  # a yes/no in a count: refused (Parquet used to read it as 1)
    (4.5, False, False),  # not a whole number
    (4, 2, False),  # 2 is not yes/no
    (4, "t", False),  # ambiguous single letter: refused everywhere
    (4, "ya", True),
]


@pytest.mark.parametrize("i", range(len(TYPED_CASES)))
def test_same_values_same_verdict_in_csv_xlsx_parquet(tmp_path, i):
    case = TYPED_CASES[i]
    row = valid_household(1, household_size=case[0], has_tv=case[1])
    verdicts = {}
    for fmt in ("csv", "xlsx", "parquet"):
        path = tmp_path / f"in.{fmt}"
        frame = pd.DataFrame([row])
        if fmt == "csv":
            frame.astype(object).map(lambda v: "true" if v is True else "false" if v is False else v) \
                .to_csv(path, index=False)
        elif fmt == "xlsx":
            write_xlsx(path, {"data": frame})
        else:
            # One Parquet type per column, the case's Python value's (bool, int64, double or string).
            pq.write_table(pa.Table.from_pylist([row]), path)
        loaded = load(path)
        verdicts[fmt] = (len(loaded.data), loaded.rejects[["column", "value", "reason_en"]].values.tolist())
    assert verdicts["csv"] == verdicts["xlsx"] == verdicts["parquet"], verdicts
    assert (verdicts["csv"][0] == 1) is case[2]


def test_parquet_bool_column_in_an_int_field_is_refused(tmp_path):
    frame = households(2)
    frame["household_size"] = [True, True]
    frame["n_age_0_5"], frame["n_age_6_17"], frame["n_age_18_59"] = "0", "0", "1"
    frame[[c for c in frame.columns if c != "household_size"]] = frame.drop(columns="household_size")
    path = tmp_path / "in.parquet"
    frame.to_parquet(path, index=False)
    loaded = load(path)
    assert len(loaded.data) == 0
    bad = loaded.rejects[loaded.rejects["column"] == "household_size"]
    assert bad[["value", "reason_en"]].values.tolist() == [["true", "not a number"]] * 2


# ---- workbooks -------------------------------------------------------------------------------------


def test_second_sheet_with_data_is_refused_unless_named(tmp_path, monkeypatch, capsys):
    # Before: 250 households in the file, 200 read from the first sheet, exit 0.
    path = tmp_path / "in.xlsx"
    first = households(4)
    second = pd.DataFrame([valid_household(i) for i in range(10, 13)])
    write_xlsx(path, {"Kecamatan A": first, "Kecamatan B": second, "kosong": pd.DataFrame()})
    run = run_main(["validate", str(path)], tmp_path / "h", monkeypatch, capsys)
    assert run.code == 2 and run.err.count("\n") == 1
    assert "2 sheets with data ('Kecamatan A', 'Kecamatan B'): name the one to read with --sheet" in run.err
    run = run_main(["validate", str(path), "--sheet", "Kecamatan B", "--out-dir", str(tmp_path / "o")],
                   tmp_path / "h", monkeypatch, capsys)
    assert run.code == 0, run.err
    accepted = openpyxl.load_workbook(tmp_path / "o" / "in.accepted.xlsx").active
    assert [c.value for c in accepted["A"]][1:] == ["H0010", "H0011", "H0012"]
    run = run_main(["validate", str(path), "--sheet", "C"], tmp_path / "h", monkeypatch, capsys)
    assert run.code == 2 and "no sheet 'C'; the sheets are 'Kecamatan A', 'Kecamatan B', 'kosong'" in run.err


def test_formula_without_a_saved_value_is_named(tmp_path):
    # Before: "required value is empty" for the cell, as if the clerk had left it blank.
    path = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    frame = households(2)
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append(list(row))
    ws["G3"] = "=2+2"  # household_size of the second household; openpyxl saves no computed value
    wb.save(path)
    with pytest.raises(InputFileError, match=r"1 sel rumus tanpa nilai .*formula cells without a saved "
                                             r"value \(G3\)"):
        read_raw(path)


def test_wrong_dimension_tag_does_not_hide_rows(tmp_path):
    # A workbook whose stored dimension says A1:C3 still has every row read.
    path = tmp_path / "in.xlsx"
    write_xlsx(path, {"data": households(5)})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    xml = parts[sheet].decode()
    import re

    xml = re.sub(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:C3"/>', xml)
    if "<dimension" not in xml:
        xml = xml.replace("<sheetData", '<dimension ref="A1:C3"/><sheetData', 1)
    parts[sheet] = xml.encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    assert len(load(path).data) == 5


# ---- row numbers, invisible characters, encodings, width --------------------------------------------


def test_row_numbers_count_blank_lines(tmp_path):
    # Before: pandas skipped the blank line, so every later row number was one too small.
    frame = households(3)
    frame.loc[2, "toilet"] = "bucket"
    lines = frame.to_csv(index=False).splitlines()
    src = tmp_path / "in.csv"
    # header (row 1), H1 (2), blank (3), H2 (4), H3 (5), then trailing blank lines (the sheet's end).
    src.write_text("\n".join([lines[0], lines[1], "", lines[2], lines[3], "", ""]) + "\n", encoding="utf-8")
    loaded = load(src)
    assert loaded.rejects[["row", "column", "reason_en"]].values.tolist() == [
        [3, "*", "empty row (no value at all)"],
        [5, "toilet", "not a valid code (allowed: private, shared, communal, none)"],
    ]
    assert loaded.n_input == 4


@pytest.mark.parametrize(("hid", "code"), [("H0001\u200b", "U+200B"), ("H\u00a00001", "U+00A0"),
                                           ("\u202eH0001", "U+202E"), ("H00\x0701", "U+0007")])
def test_invisible_characters_in_an_id_are_refused(tmp_path, hid, code):
    # Before: "H0001" + zero-width space was accepted as another household than "H0001".
    frame = households(2)
    frame.loc[1, "household_id"] = hid
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    loaded = load(src)
    assert loaded.rejects[["row", "column", "reason_en"]].values.tolist() == [
        [3, "household_id", f"holds an invisible or control character ({code})"]]


def test_utf16_without_bom_is_named(tmp_path):
    # Before: "missing required columns" (the header read as garbage).
    src = tmp_path / "in.csv"
    src.write_bytes(households(2).to_csv(index=False).encode("utf-16-le"))
    with pytest.raises(InputFileError, match="looks like UTF-16-LE without a byte-order mark"):
        read_raw(src)
    src.write_bytes(households(2).to_csv(index=False).encode("utf-16"))
    with pytest.raises(InputFileError, match="the file is UTF-16 \\(byte-order mark\\)"):
        read_raw(src)


def test_invalid_utf8_names_the_byte(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(households(1).to_csv(index=False).encode() + b"H9,\xff\n")
    with pytest.raises(InputFileError, match=r"cannot be read as utf-8 \(byte \d+: invalid start byte\)"):
        read_raw(src)


def test_unknown_columns_are_reported_once_and_compactly(tmp_path, monkeypatch, capsys):
    frame = households(3)
    extra = pd.DataFrame({f"x{j}": ["1"] * 3 for j in range(2000)})
    src = tmp_path / "wide.csv"
    pd.concat([frame, extra], axis=1).to_csv(src, index=False)
    run = run_main(["validate", str(src)], tmp_path / "h", monkeypatch, capsys)
    assert run.code == 0
    lines = [line for line in run.out.splitlines() if "ignored columns" in line]
    assert lines == ["kolom diabaikan / ignored columns (2,000): x0, x1, x2, x3, x4, x5, x6, x7, x8, x9 "
                     "(+1,990 lagi / more)"]


def test_overlong_id_is_refused_and_shown_cut(tmp_path):
    frame = households(2)
    frame.loc[1, "household_id"] = "A" * 100_000
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    loaded = load(src)
    assert loaded.rejects["reason_en"].tolist() == ["too long (at most 64 characters)"]
    shown = loaded.rejects["household_id"].iloc[0]
    assert shown.endswith("(100,000 karakter / characters)") and len(shown) < 300
