"""The yes/no spellings every reader of the project accepts (files, requests, rule sets, decisions).

One list, so that a cell means the same thing to the validator, the rule engine and the audit. Single
letters that are ambiguous between the two languages are refused, never guessed: ``t`` is *true* in
English but *tidak* (no) in Bahasa Indonesia, and ``f`` follows it.
"""

from __future__ import annotations

#: Spellings of "yes", compared after stripping and lower-casing.
TRUE_WORDS: frozenset[str] = frozenset({"1", "1.0", "true", "ya", "yes", "y", "benar"})
#: Spellings of "no", compared after stripping and lower-casing.
FALSE_WORDS: frozenset[str] = frozenset({"0", "0.0", "false", "tidak", "no", "n", "salah"})
#: How the project itself writes booleans into text files.
WRITTEN = {True: "true", False: "false"}
