"""The chunked reader yields exactly the rows the whole-file reader reads, numbered the same."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.errors import InputFileError
from targeting.survey.read import ROW, count_rows, iter_raw, read_raw


def _joined(path: Path, k: int) -> pd.DataFrame:
    parts = list(iter_raw(path, chunk_rows=k))
    assert all(len(p) <= k for p in parts)
    assert all(list(p.columns) == list(parts[0].columns) for p in parts)
    return pd.concat(parts, ignore_index=True)


CASES = {
    "plain": "a,b\n1,2\n3,4\n5,6\n",
    "blank line inside": "a,b\n1,2\n\n3,4\n",
    "separators at line ends": "a,b\n1,2,\n3,4,,\n",
    "blank rows at the end": "a,b\n1,2\n3,4\n,\n,\n",
    "one column with blanks": "a\n1\n\n2\n\n\n",
    "newline in a quoted value": 'a,b\n"x\ny",2\n3,4\n',
    "header only": "a,b\n",
    "byte-order mark": "\ufeffa,b\n1,2\n",
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("k", [1, 2, 100])
def test_csv_chunks_equal_the_whole_file(tmp_path: Path, name: str, k: int) -> None:
    path = tmp_path / "f.csv"
    path.write_text(CASES[name], encoding="utf-8")
    whole = read_raw(path)
    got = _joined(path, k)
    pd.testing.assert_frame_equal(got.astype(str), whole.astype(str))


def test_hand_worked_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n\n3,4\n,\n", encoding="utf-8")
    got = _joined(path, 2)
    # Row 3 is the blank line a clerk sees (kept, refused later as empty); row 5 is the end of the sheet.
    assert got[ROW].tolist() == [2, 3, 4]
    assert got["a"].tolist() == ["1", "", "3"]


def test_wrong_field_count_is_refused_even_after_chunks_were_read(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b\n" + "1,2\n" * 5000 + "1,2,3\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="row 5002: 3 fields"):
        list(iter_raw(path, chunk_rows=10))


def test_parquet_chunks(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    frame = pd.DataFrame({"a": range(10), "d": pd.to_datetime(["2024-03-01"] * 10), "t": list("abcdefghij")})
    frame.to_parquet(path, row_group_size=3)
    assert count_rows(path) == 10
    whole = read_raw(path)
    got = _joined(path, 4)
    pd.testing.assert_frame_equal(got, whole)
    assert got["d"].iloc[0] == "2024-03-01"  # the text a CSV would hold, in every chunk
    assert got[ROW].tolist() == list(range(2, 12))


def test_parquet_nested_refused_before_any_chunk(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"a": [[1, 2]], "b": [1]}), path)
    with pytest.raises(InputFileError, match="lists, structs or bytes"):
        list(iter_raw(path, chunk_rows=1))


def test_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputFileError, match="not a valid Parquet file"):
        list(iter_raw(path, chunk_rows=5))


def test_xlsx_chunks(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_excel(path, index=False)
    got = _joined(path, 2)
    pd.testing.assert_frame_equal(got, read_raw(path))
    assert got["a"].tolist() == ["1", "2", "3"]


cells = st.text(alphabet=st.sampled_from(list("ab1 ,\"\n;")), max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(st.lists(cells, min_size=3, max_size=3), st.just([])), max_size=25),
       k=st.integers(1, 7))
def test_any_quoted_csv_chunks_like_the_whole(tmp_path: Path, rows: list[list[str]], k: int) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["x", "y", "z"])
    for r in rows:
        if r:
            w.writerow(r)
        else:
            buf.write("\n")
    path = tmp_path / "h.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    whole = read_raw(path)
    got = _joined(path, k)
    pd.testing.assert_frame_equal(got.astype(str), whole.astype(str))
