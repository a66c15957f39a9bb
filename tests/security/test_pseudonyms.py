"""Pseudonyms: the compiled batch HMAC is HMAC-SHA256 exactly, as ``hmac.new`` computes it."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.privacy import pseudonym, pseudonym_array, pseudonym_texts, pseudonymize


def _expected(key: bytes, text: str, prefix: str = "p") -> str:
    return prefix + hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def test_rfc_4231_vectors() -> None:
    # RFC 4231 test case 2 (short key) and 6 (a key longer than SHA-256's 64-byte block, hashed first).
    assert pseudonym_texts(["what do ya want for nothing?"], b"Jefe", prefix="") == ["5bdcc146bf60754e"]
    long_key = b"\xaa" * 131
    assert pseudonym_texts(["Test Using Larger Than Block-Size Key - Hash Key First"], long_key,
                           prefix="") == ["60e431591ee0b67f"]


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=0, max_size=200), texts=st.lists(st.text(max_size=40), max_size=5))
def test_same_digests_as_hmac_new(key: bytes, texts: list[str]) -> None:
    expected = ["p" + hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest()[:16] for t in texts]
    assert pseudonym_texts(texts, key) == expected
    assert [pseudonym(t, key) for t in texts] == expected


def test_pseudonymize_keeps_missing_and_index() -> None:
    key = b"k" * 32
    values = pd.Series(["3201010101010001", None, "3201010101010002"], index=[5, 6, 7], dtype="string")
    out = pseudonymize(values, key)
    assert list(out.index) == [5, 6, 7]
    assert str(out.dtype) == "string"
    assert out.isna().tolist() == [False, True, False]
    assert out[5] == pseudonym("3201010101010001", key) and out[7] == pseudonym("3201010101010002", key)
    full = pseudonymize(values.dropna(), key, prefix="h")
    assert full.tolist() == ["h" + pseudonym(v, key)[1:] for v in values.dropna()]
    assert np.all(full.str.len() == 17)


def test_every_length_across_the_padding_boundaries() -> None:
    # SHA-256 pads into one more block when 56..63 bytes remain: every length from 0 to 3 blocks.
    key = bytes(range(40))
    texts = ["x" * n for n in range(200)] + ["é" * n for n in range(70)]  # 2 bytes a character
    assert pseudonym_texts(texts, key) == [_expected(key, t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(key=st.binary(min_size=0, max_size=150),
       texts=st.lists(st.none() | st.text(max_size=300), max_size=30),
       start=st.integers(0, 5), prefix=st.sampled_from(["p", "h", "", "ñ-"]))
def test_arrow_arrays_sliced_chunked_and_missing(key: bytes, texts: list[str | None], start: int,
                                                 prefix: str) -> None:
    whole = pa.array(texts, type=pa.string())
    part = whole.slice(min(start, len(texts)))  # an array with an offset into its buffers
    expected = [None if t is None else _expected(key, t, prefix) for t in texts[min(start, len(texts)):]]
    assert pseudonym_array(part, key, prefix=prefix).to_pylist() == expected
    chunked = pa.chunked_array([whole.slice(0, 2), whole.slice(2)], type=pa.string())
    assert pseudonym_array(chunked, key, prefix=prefix).to_pylist() == [
        None if t is None else _expected(key, t, prefix) for t in texts]


def test_pseudonymize_other_dtypes_hash_their_text() -> None:
    key = b"k" * 32
    numbers = pd.Series([3201010101010001, 3201010101010002], index=[3, 1])
    assert pseudonymize(numbers, key).tolist() == [_expected(key, "3201010101010001"),
                                                   _expected(key, "3201010101010002")]
    objects = pd.Series(["a", None, 7], dtype=object)
    out = pseudonymize(objects, key)
    assert out.isna().tolist() == [False, True, False]
    assert out[0] == _expected(key, "a") and out[2] == _expected(key, "7")
    python_strings = pd.Series(["a", None], dtype=pd.StringDtype("python"))
    out = pseudonymize(python_strings, key)
    assert out.isna().tolist() == [False, True] and out[0] == _expected(key, "a")
    assert pseudonymize(pd.Series([], dtype="string"), key).tolist() == []
