"""Pseudonyms: the fast HMAC (prepared key states) is HMAC-SHA256 exactly, as ``hmac.new`` computes it."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.privacy import pseudonym, pseudonym_texts, pseudonymize


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
