"""Fuzzing `targeting validate` with mutated small CSV, xlsx and Parquet files (bounded, in the suite).

Whatever the mutation: no traceback, exit code 0, 1 or 2, every row read is either accepted or
rejected (0/1), and no NIK or family card number reaches any output file or the terminal.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.spreadsheet import write_xlsx
from tests.conftest import valid_household
from tests.security.cli import run_main
from tests.security.exports import PAYLOADS

BASE = [valid_household(i) for i in range(1, 4)]
PERSONAL = sorted({str(h[k]) for h in BASE for k in ("head_nik", "family_card_no")})
COLUMNS = list(BASE[0])
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: Cell values an attacker or a careless clerk puts anywhere.
CELLS = st.one_of(
    st.sampled_from(["", " ", "t", "T", "ya", "1", "0", "-1", "1e400", "nan", "NA", "007", "1,5", "\u200b",
                     "true", "tenggarong", "9" * 30, *PAYLOADS]),
    st.text(max_size=8),
)

CSV_TEXT = pd.DataFrame(BASE).to_csv(index=False, lineterminator="\n")
#: Bytes a mutation inserts: separators, line breaks, quotes, NUL, a byte-order mark, invalid UTF-8.
INSERTED = [b",", b"\n", b"\r", b'"', b"\x00", b"\xef\xbb\xbf", b"\xff"]


@st.composite
def csv_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(CSV_TEXT.encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace_cell", "blank_line", "dup_line",
                                     "truncate", "bytes"]))
        if kind == "insert" and data:
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = draw(st.sampled_from(INSERTED))
        elif kind == "delete" and data:
            pos = draw(st.integers(0, len(data) - 1))
            del data[pos]
        elif kind == "replace_cell":
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            fields = lines[i].split(b",")
            j = draw(st.integers(0, len(fields) - 1))
            value = draw(CELLS).replace('"', "")
            fields[j] = b'"' + value.encode() + b'"'
            lines[i] = b",".join(fields)
            data = bytearray(b"\n".join(lines))
        elif kind == "blank_line":
            lines = bytes(data).split(b"\n")
            lines.insert(draw(st.integers(0, len(lines))), b"")
            data = bytearray(b"\n".join(lines))
        elif kind == "dup_line":
            lines = bytes(data).split(b"\n")
            lines.append(lines[draw(st.integers(0, len(lines) - 1))])
            data = bytearray(b"\n".join(lines))
        elif kind == "truncate" and data:
            data = data[: draw(st.integers(0, len(data)))]
        elif data:
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def table_mutations(draw: st.DrawFn) -> list[dict[str, object]]:
    rows = [dict(h) for h in BASE]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cell", "column_type", "drop_column", "add_row"]))
        col = draw(st.sampled_from(COLUMNS))
        if kind == "cell":
            rows[draw(st.integers(0, len(rows) - 1))][col] = draw(CELLS)
        elif kind == "column_type":
            value = draw(st.one_of(st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.none()))
            for r in rows:
                r[col] = value
        elif kind == "drop_column":
            for r in rows:
                r.pop(col, None)
        else:
            rows.append({k: draw(CELLS) for k in COLUMNS})
    return rows


def _corrupt(data: bytes, draw_pos: int | None) -> bytes:
    if draw_pos is None or not data:
        return data
    pos = draw_pos % len(data)
    return data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1:]


def _check(path: Path, tmp: Path, monkeypatch, capsys) -> None:
    out = tmp / "out"
    run = run_main(["validate", str(path), "--out-dir", str(out)], tmp / "home", monkeypatch, capsys)
    assert run.code in (0, 1, 2), (run.code, run.err)
    assert "Traceback" not in run.err + run.out
    texts = [run.out, run.err]
    if run.code in (0, 1):
        read = int(re.search(r"rows read\s*│\s*([\d,]+)", run.out).group(1).replace(",", ""))
        accepted_path = next(out.glob(f"{path.stem}.accepted.*"))
        if accepted_path.suffix == ".parquet":
            accepted = len(pd.read_parquet(accepted_path))
        elif accepted_path.suffix == ".xlsx":
            accepted = len(pd.read_excel(accepted_path))
        else:
            accepted = len(pd.read_csv(accepted_path, dtype=str, keep_default_na=False))
        rejects = pd.read_csv(out / f"{path.stem}.rejects.csv", dtype=str, keep_default_na=False)
        assert accepted + rejects["row"].nunique() == read, (accepted, rejects, read)
        assert (run.code == 1) == (len(rejects) > 0)
    if out.exists():
        for f in out.iterdir():
            raw = f.read_bytes()
            texts.append(raw.decode("utf-8", "replace"))
            if f.suffix == ".xlsx":
                with zipfile.ZipFile(io.BytesIO(raw)) as z:
                    texts += [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
        for f in out.iterdir():
            f.unlink()
    blob = "\n".join(texts)
    leaked = [nik for nik in PERSONAL if nik in blob]
    assert not leaked, leaked


@FUZZ
@given(data=csv_mutations())
def test_fuzz_csv(tmp_path_factory, monkeypatch, capsys, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "in.csv"
    path.write_bytes(data)
    _check(path, tmp, monkeypatch, capsys)


@FUZZ
@given(rows=table_mutations(), corrupt=st.one_of(st.none(), st.integers(0, 10**6)),
       second_sheet=st.booleans())
def test_fuzz_xlsx(tmp_path_factory, monkeypatch, capsys, rows, corrupt, second_sheet):
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "in.xlsx"
    sheets = {"data": pd.DataFrame(rows)}
    if second_sheet:
        sheets["lain"] = pd.DataFrame(rows[:1])
    write_xlsx(path, sheets)
    path.write_bytes(_corrupt(path.read_bytes(), corrupt))
    _check(path, tmp, monkeypatch, capsys)


@FUZZ
@given(rows=table_mutations(), corrupt=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzz_parquet(tmp_path_factory, monkeypatch, capsys, rows, corrupt):
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "in.parquet"
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed Python types in one column: Parquet would store it as text, as a writer would.
        table = pa.Table.from_pylist([{k: None if v is None else str(v) for k, v in r.items()} for r in rows])
    pq.write_table(table, path)
    path.write_bytes(_corrupt(path.read_bytes(), corrupt))
    _check(path, tmp, monkeypatch, capsys)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_unmutated_base_files_are_accepted_whole(tmp_path, monkeypatch, capsys, fmt):
    path = tmp_path / f"in.{fmt}"
    frame = pd.DataFrame(BASE)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "xlsx":
        write_xlsx(path, {"data": frame})
    else:
        frame.to_parquet(path, index=False)
    run = run_main(["validate", str(path), "--out-dir", str(tmp_path / "o")], tmp_path / "h", monkeypatch,
                   capsys)
    assert run.code == 0, run.err
    assert re.search(r"rows read\s*│\s*3", run.out) and re.search(r"accepted\s*│\s*3", run.out)
