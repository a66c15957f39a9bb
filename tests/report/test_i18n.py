from __future__ import annotations

import re

import pytest

from targeting.report.i18n import LANGUAGES, Translator, messages


def test_every_language_has_the_same_keys_and_placeholders():
    ref = messages("id")
    for lang in LANGUAGES:
        msgs = messages(lang)
        assert set(msgs) == set(ref), lang
        for key, text in msgs.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", ref[key])), (lang, key)


@pytest.mark.parametrize(
    ("lang", "method", "args", "expected"),
    [
        ("id", "pct", (0.4523,), "45,2%"),
        ("en", "pct", (0.4523,), "45.2%"),
        ("id", "num", (1234567.5, 1), "1.234.567,5"),
        ("en", "num", (1234567.5, 1), "1,234,567.5"),
        ("id", "num", (float("nan"),), "–"),
        ("id", "points", (-0.0234,), "−2,3"),
        ("en", "points", (0.0234,), "+2.3"),
        ("id", "rupiah", (833955,), "Rp833.955"),
        ("id", "interval", (0.403, 0.471), "40,3–47,1%"),
        ("en", "interval", (-0.021, 0.034, "points"), "−2.1 – +3.4"),
        ("en", "interval", (0.1, float("nan")), "–"),
    ],
)
def test_number_formats(lang, method, args, expected):
    assert getattr(Translator(lang), method)(*args) == expected


def test_missing_key_names_key_and_language():
    with pytest.raises(KeyError, match="'summary.nope' missing for language 'en'"):
        Translator("en")("summary.nope")
