"""The two text readers of the validation (cell by cell for small frames, pyarrow kernels for large ones)
give identical results: the same accepted frame, the same rejects, the same errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.survey import validate
from targeting.survey.contract import load_contract
from targeting.survey.load import LoadedSurvey, frame_to_survey
from targeting.survey.spec import DatasetSpec, load_spec
from tests.conftest import valid_household

CONTRACT = load_contract()
SPEC = load_spec("indonesia_household")
SURVEY_SPEC = load_spec("kukar_survey")

WHITESPACE = [" ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\x85", "\u00a0", "\u2003", "\u3000", "\u200b"]
NUMBERS = ["4", " 4 ", "4.0", "4.5", "-0", "0", "31", "1e1", "+4", "4.", ".5", "1,5", "1_000", "٤", "0x10",
           "inf", "nan", "abc", "", " ", "1e-400", "00004", "3.0000000000000001", "True", "ya"]
BOOLS = ["1", "0", "1.0", "0.0", "ya", "Tidak", "TRUE", "false", "y", "N", "t", "benar", "SALAH", "maybe",
         "", " ", "2", "YA ", "tİdak", "TİDAK", "ſalah", "K", "yes", "No"]


def _code_spellings(name: str) -> list[str]:
    codes = CONTRACT.codes[CONTRACT.fields[name].codes or ""]
    out = ["earht", "", " ", "İ", "1", "kota  bangun"]
    for code, label in codes.items():
        out += [code, code.upper(), label.id, label.en.upper()]
    return out


def _cell(name: str) -> st.SearchStrategy[object]:
    spec = CONTRACT.fields[name]
    if spec.type == "category":
        pool = _code_spellings(name)
    elif spec.type == "bool":
        pool = BOOLS
    elif spec.type in ("int", "float"):
        pool = NUMBERS
    else:
        pool = ["6402000000000001", "64020000000001", "", "640200000000000a", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "Desa A"]
    padded = st.tuples(st.sampled_from(["", *WHITESPACE]), st.sampled_from(pool),
                       st.sampled_from(["", *WHITESPACE])).map("".join)
    return st.one_of(st.sampled_from(pool), padded, st.none(), st.text(max_size=6))


FIELDS = [n for n in CONTRACT.fields if n in valid_household(1)]


@st.composite
def raw_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A few households, most cells valid, some replaced by valid or invalid spellings."""
    n = draw(st.sampled_from([1, 2, 3, 5, 40]))
    rows = []
    for i in range(1, n + 1):
        row = valid_household(i)
        for name in draw(st.lists(st.sampled_from(FIELDS[1:]), max_size=6)):
            row[name] = draw(_cell(name))
        rows.append(row)
    frame = pd.DataFrame(rows)
    kind = draw(st.sampled_from(["str", "string", "object", "typed"]))
    if kind == "string":
        frame = frame.astype("string")
    elif kind == "object":
        # As Excel gives them: numbers and text mixed in one column.
        frame = frame.astype(object).map(_number_or_text)
    elif kind == "typed":
        # As Parquet gives them: some columns typed, with missing values.
        for name in ("household_size", "head_age", "food_share"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        frame["urban"] = frame["urban"].map({"1": True, "0": False}).astype("boolean")
        frame["has_car"] = pd.to_numeric(frame["has_car"], errors="coerce")  # float 0/1/NaN in a bool field
    return frame


def _number_or_text(v: object) -> object:
    if not isinstance(v, str):
        return v
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and abs(f) < 1e15 and v.strip().isdigit() else f


@contextmanager
def _reader(small: bool) -> Iterator[None]:
    """Force the cell-by-cell reader (small) or the pyarrow one for every frame."""
    with mock.patch.object(validate, "SMALL_FRAME_ROWS", sys.maxsize if small else -1):
        yield


def _load(frame: pd.DataFrame, spec: DatasetSpec, small: bool) -> LoadedSurvey | tuple[str, str]:
    with _reader(small):
        try:
            return frame_to_survey(frame.copy(), spec)
        except Exception as exc:  # the errors must be the same too
            return type(exc).__name__, str(exc)


def _assert_same(a: LoadedSurvey | tuple[str, str], b: LoadedSurvey | tuple[str, str]) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    pd.testing.assert_frame_equal(a.rejects, b.rejects, check_exact=True)
    pd.testing.assert_frame_equal(a.data.frame, b.data.frame, check_exact=True)
    np.testing.assert_array_equal(a.data.frame.attrs["source_rows"], b.data.frame.attrs["source_rows"])
    pd.testing.assert_frame_equal(a.data.features, b.data.features, check_exact=True)
    pd.testing.assert_frame_equal(a.data.groups, b.data.groups, check_exact=True)
    pd.testing.assert_series_equal(a.data.household_id, b.data.household_id, check_exact=True)
    assert (a.n_input, a.ignored_columns) == (b.n_input, b.ignored_columns)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_frames(), st.booleans())
def test_both_readers_accept_and_reject_the_same(frame, survey):
    spec = SURVEY_SPEC if survey else SPEC
    if survey:
        frame = frame.assign(expenditure_pc="500000", weight="1.5")
    _assert_same(_load(frame, spec, small=True), _load(frame, spec, small=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8),
                          st.sampled_from(["ya", " TIDAK ", "Tanah", "İ", "tİdak", "\u00a0y\u3000", ""])),
                max_size=12),
       st.sampled_from([("",), ("", "-", "99")]))
def test_readers_agree_cell_by_cell(cells, blank_values):
    arr = pa.array(cells, type=pa.large_string())
    small, large = validate._ListText(arr), validate._ArrowText(arr)
    coded = validate._CodedText(arr)  # large frames' code and yes/no columns
    for other in (large, coded):
        np.testing.assert_array_equal(small.blank(blank_values), other.blank(blank_values))
        lookups = [validate._BOOL_LOOKUP, validate._contract_code_list(CONTRACT, "floor_material").lookup]
        for lookup in lookups:
            np.testing.assert_array_equal(small.find(lookup), other.find(lookup))
        missing = small.blank()
        assert small.arrow(missing).to_pylist() == other.arrow(missing).to_pylist()
        assert small.objects(missing).tolist() == other.objects(missing).tolist()


def test_str_strip_is_utf8_trim_whitespace_for_every_code_point():
    points = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"{c}{c}A{c}" for c in points]
    trimmed = pc.utf8_trim_whitespace(pa.array(texts, pa.large_string())).to_pylist()
    assert [t.strip() for t in texts] == trimmed


def test_lower_is_utf8_lower():
    """``str.lower`` on ASCII; pyarrow itself otherwise (they differ on e.g. 'İ', 'Σ')."""
    texts = [f"{chr(c)}A" for c in range(128)] + ["TİDAK", "ΣΑΣ", "\u212aota", "ſalah", "ǅ"]
    lowered = pc.utf8_lower(pa.array(texts, pa.large_string())).to_pylist()
    assert [validate._lower(t) for t in texts] == lowered
    assert "TİDAK".lower() != validate._lower("TİDAK")  # why the non-ASCII branch exists
