"""What an enumerator should check at the door: the indicators that weigh most in the decision."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from targeting.verify._columns import reason_column, reason_slots

#: Indicators a visit cannot correct (where the household is), left out of the check list.
NOT_CHECKABLE: tuple[str, ...] = ("kecamatan", "urban", "region", "desa")
DEFAULT_CHECKS = 3


def _direction_suffix(lang: str) -> re.Pattern[str]:
    """The reason template's trailing direction (" — menurunkan ..."), from the reason catalogue."""
    from targeting.explain import load_catalogue

    d = load_catalogue().directions
    phrases = [re.escape(d.down.get(lang)), re.escape(d.up.get(lang))]
    return re.compile(r"\s+—\s+(?:" + "|".join(phrases) + r")\s*$")


def indicators_to_check(
    frame: pd.DataFrame,
    k: int = DEFAULT_CHECKS,
    *,
    lang: str = "id",
    skip: Sequence[str] = NOT_CHECKABLE,
    sep: str = "; ",
) -> pd.Series:
    """Per household, the ``k`` checkable indicators with the largest contributions, as one text.

    Reads the reason slots (``reason_<i>_code`` and ``reason_<i>_text_<lang>``, strongest first): a
    decision's reasons are the indicators that pushed it its way, so if one of them was recorded
    wrongly the decision may be wrong too. Each is written as "indicator: recorded value" (the
    reason text without its direction). Location indicators cannot be checked at the door.
    """
    slots = reason_slots(frame.columns)
    suffix = _direction_suffix(lang)
    texts = np.full(len(frame), "", dtype=object)
    counts = np.zeros(len(frame), dtype=np.int64)
    skip_set = set(skip)
    for slot in slots:  # a handful of slots, each vectorised over households
        code = frame[reason_column(slot, "code")].astype("string")
        text_col = reason_column(slot, f"text_{lang}")
        if text_col not in frame.columns:
            continue
        text = frame[text_col].astype("string").str.replace(suffix, "", regex=True)
        use = (code.notna() & ~code.isin(skip_set) & text.notna() & (text != "")).to_numpy(dtype=bool)
        use &= counts < k
        t = text.fillna("").to_numpy(dtype=object)
        glue = np.where(counts > 0, sep, "")
        texts = np.where(use, texts + glue + t, texts)
        counts += use
    return pd.Series(texts, index=frame.index, dtype="string", name="indicators_to_check")
