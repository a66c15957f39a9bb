"""The validation calls pyarrow's kernels and pandas' number parser directly, without the pandas
objects around them: each direct call gives what the pandas call it replaced gives (the oracle here),
for the contract's own patterns and for hostile text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.survey import validate
from targeting.survey.contract import load_contract
from tests.survey.test_validate_paths import NUMBERS, WHITESPACE

CONTRACT = load_contract()
PATTERNS = sorted({f.pattern for f in CONTRACT.fields.values() if f.pattern is not None})
HOSTILE = ["1234567890123456", "123456789012345", "12345678901234567", "1234567890123456\n",
           "\n1234567890123456", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "12345678\u200b90123456", "H001", "H\u00a0001",
           "H\u202e01", "a\tb", "a\nb", "\x00", "\x7f", "\x85", "\u2028", "\ufeffH1",
           "Desa Ümmü", "𝟙𝟚", "", "x" * 300]
texts = st.lists(st.one_of(st.none(), st.sampled_from(HOSTILE + WHITESPACE), st.text(max_size=20)),
                 max_size=12)


def _pandas(cells: list[str | None]) -> pd.Series:
    return pd.Series(cells, dtype="string")


def test_the_contract_has_patterns():
    assert PATTERNS  # otherwise the tests below check nothing


@settings(max_examples=300, deadline=None)
@given(texts)
def test_fullmatch_is_pandas_fullmatch(cells):
    arr = pa.array(cells, type=pa.large_string())
    for pattern in PATTERNS:
        expected = _pandas(cells).str.fullmatch(pattern).to_numpy(dtype=bool, na_value=True)
        found = validate._regex_mask(arr, validate._whole(pattern), missing=True)
        np.testing.assert_array_equal(found, expected)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_invisible_characters_and_lengths_are_pandas_contains_and_len(cells):
    arr = pa.array(cells, type=pa.large_string())
    for regex in (validate._INVISIBLE_ID, validate._INVISIBLE_TEXT):
        expected = _pandas(cells).str.contains(regex, regex=True).to_numpy(dtype=bool, na_value=False)
        np.testing.assert_array_equal(validate._regex_mask(arr, regex, missing=False), expected)
    expected_len = _pandas(cells).str.len().to_numpy(dtype=np.float64, na_value=0)
    np.testing.assert_array_equal(validate._lengths(arr), expected_len)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(NUMBERS + ["9223372036854775808", "1" * 30, "-0.0",
                                                                "1e308", "2e308", "0.1", "1_0", " 5"]),
                          st.text(alphabet="0123456789.-+eE_ x", max_size=8)), max_size=10),
       st.booleans())
def test_number_parse_is_to_numeric_of_the_string_array(cells, small):
    arr = pa.array(cells, type=pa.large_string())
    text = validate._ListText(arr) if small else validate._ArrowText(arr)
    blank = text.blank()
    num, bad = validate.parse_number(pd.Series(cells, dtype="string"), blank, text=text)
    # What the validation called before: pandas' parser on the pandas string array.
    old = np.asarray(pd.to_numeric(validate._string_array(text.arrow(blank)), errors="coerce"),
                     dtype=np.float64)
    old_bad = ~blank & ~np.isfinite(old)
    np.testing.assert_array_equal(bad, old_bad)
    expected = np.where(blank | old_bad, np.nan, old)
    # To the bit: -0.0 and 0.0 differ here.
    assert num.tobytes() == expected.tobytes()


def test_readers_give_the_same_objects():
    cells = [" 4 ", None, "", "x", "\u00a05"]
    arr = pa.array(cells, type=pa.large_string())
    small, large = validate._ListText(arr), validate._ArrowText(arr)
    missing = small.blank()
    assert small.objects(missing).tolist() == large.objects(missing).tolist() == ["4", None, None, "x", "5"]


def test_empty_table_is_a_fresh_empty_frame_with_those_columns():
    cols = validate.REJECT_COLUMNS
    first = validate.empty_table(cols)
    pd.testing.assert_frame_equal(first, pd.DataFrame(columns=cols), check_exact=True)
    first["row"] = first["row"].astype("int64")  # a caller changing its copy changes no other
    pd.testing.assert_frame_equal(validate.empty_table(cols), pd.DataFrame(columns=cols), check_exact=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["H1", "H2", " H1", "", " ", "h1", "H1\u200b"])),
                max_size=8))
def test_repeated_ids_are_found_as_check_unique_ids_finds_them(cells):
    ids = validate._as_text(pd.Series(cells, dtype="string"))
    rows = pd.Series(np.arange(2, len(cells) + 2))
    try:
        validate.check_unique_ids(ids.mask(ids == ""), rows, "here")
        refused = False
    except Exception:
        refused = True
    assert validate._repeats(validate._arrow(ids)) == refused


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["Tenggarong", "Loa Kulu", "Muara Jawa"])), max_size=6))
def test_region_text_is_astype_string(cells):
    from targeting.survey.load import _as_string

    categories = ["Loa Kulu", "Muara Jawa", "Tenggarong"]
    col = pd.Series(pd.Categorical(cells, categories=categories), name="kecamatan")
    col.attrs = {"source_rows": np.arange(len(cells))}
    expected, got = col.astype("string"), _as_string(col)
    pd.testing.assert_series_equal(got, expected, check_exact=True)
    np.testing.assert_array_equal(got.attrs["source_rows"], expected.attrs["source_rows"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 40)), max_size=6),
       st.sampled_from(["Int64", "boolean", "Float64", "float64", "object"]))
def test_float64_is_astype_float64(values, dtype):
    from targeting.survey.load import _float64

    if dtype == "boolean":
        values = [None if v is None else v % 2 == 1 for v in values]
    arr = pd.array(values, dtype=dtype) if dtype != "object" else np.array(values, dtype=object)
    if dtype == "object" and any(v is None for v in values):
        arr = np.array([np.nan if v is None else v for v in values], dtype=object)
    expected = pd.Series(arr).astype("float64").to_numpy()
    assert _float64(arr).tobytes() == expected.tobytes()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=6), st.booleans())
def test_boolean_cells_print_as_before(values, nullable):
    if not nullable:
        values = [bool(v) for v in values]
    s = pd.Series(values, dtype="boolean" if nullable else bool)
    b = s.astype("boolean")
    words = np.where(b.fillna(False).to_numpy(dtype=bool), "true", "false")
    expected = pa.array(words.tolist(), mask=b.isna().to_numpy(), type=pa.large_string())
    assert validate._text_cells(s).equals(expected)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(0, 4))
def test_printable_ascii_never_hides_an_invisible_character(cells, start):
    """The one-pass byte check may only say "look closer": when it passes, RE2 finds nothing."""
    arr = pa.array(cells, type=pa.large_string()).slice(min(start, len(cells)))
    if validate._printable_ascii(arr):
        for pattern in (validate._INVISIBLE_ID, validate._INVISIBLE_TEXT):
            assert not validate._regex_mask(arr, pattern, missing=False).any()


def test_printable_ascii_looks_closer_at_every_control_and_non_ascii_byte():
    assert validate._printable_ascii(pa.array(["H001", None, "Desa Baru 2"], type=pa.large_string()))
    assert validate._printable_ascii(pa.array([None, None], type=pa.large_string()))
    for bad in ["\x00", "a\tb", "\x7f", "\u00a0", "\u200b", "Ümmü"]:
        assert not validate._printable_ascii(pa.array(["ok", bad], type=pa.large_string()))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=8), st.sampled_from(["int64", "int8", "uint8", "bool",
                                                                            "float64", "float32"]))
def test_float_values_of_numpy_numbers_are_the_float64_round_trip(values, dtype):
    """Numpy numbers convert directly, to the numbers ``astype("Float64")`` read back gives."""
    x = np.array(values, dtype=np.int64).astype(dtype) if dtype != "bool" else np.array(values) % 2 == 1
    expected = pd.Series(x).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    got = validate.float_values(x)
    assert got.dtype == np.float64 and got.tobytes() == expected.tobytes()
    assert not np.shares_memory(got, x)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**53), 2**53)), max_size=8),
       st.sampled_from(["Int64", "boolean", "Float64"]))
def test_float_values_of_masked_arrays_are_the_float64_round_trip(values, dtype):
    """``Int64``, ``boolean`` and ``Float64`` arrays with missing cells: NaN there, the numbers elsewhere."""
    cast = {"Int64": int, "boolean": lambda v: v % 2 == 1, "Float64": lambda v: v / 4}[dtype]
    x = pd.array([None if v is None else cast(v) for v in values], dtype=dtype)
    expected = pd.Series(x).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    got = validate.float_values(x)
    assert got.dtype == np.float64 and got.tobytes() == expected.tobytes()
    before = x.copy()
    got[:] = 7.0  # a new array: writing to it leaves the column as it was
    pd.testing.assert_extension_array_equal(x, before)
