"""The order in which a field team visits flagged households: one function, so it can be swapped.

The field-verification work (issue 13, ``targeting.verify``) will bring its own ordering; until then
the order is the audit's: poor households the model left out first (exclusion errors), then
households eligible under the rules that the model left out, then households selected without
being poor, then those selected but not eligible under the rules; within each, the lowest predicted
welfare first. Only this function decides it: the workbook, the CSV and the report read
``priority`` from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.audit.compare import FLAGS

#: What the visit must check, per flag, in the order of :data:`FLAGS`.
VISIT_PURPOSE = {
    "exclusion_error": "check_left_out_poor",
    "rules_not_model": "check_left_out_eligible",
    "inclusion_error": "check_selected_not_poor",
    "model_not_rules": "check_selected_not_eligible",
}


def visit_priority(flagged: pd.DataFrame) -> pd.Series:
    """1 = visit first. A permutation of 1..n over ``flagged`` (rows of `flagged_households`)."""
    if flagged.empty:
        return pd.Series([], index=flagged.index, dtype="int64", name="priority")
    present = [f for f in FLAGS if f in flagged.columns]
    hits = np.column_stack([flagged[f].to_numpy(dtype=bool, na_value=False) for f in present])
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), len(present))
    welfare = flagged["predicted_welfare"].to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(flagged)), welfare, first))
    rank = np.empty(len(flagged), dtype=np.int64)
    rank[order] = np.arange(1, len(flagged) + 1)
    return pd.Series(rank, index=flagged.index, name="priority")


def main_flag(flagged: pd.DataFrame) -> pd.Series:
    """The flag that puts each household on the list (the first in :data:`FLAGS` order)."""
    present = [f for f in FLAGS if f in flagged.columns]
    if flagged.empty or not present:
        return pd.Series([], index=flagged.index, dtype="string")
    hits = np.column_stack([flagged[f].to_numpy(dtype=bool, na_value=False) for f in present])
    names = np.asarray(present + [""], dtype=object)
    return pd.Series(
        names[np.where(hits.any(axis=1), hits.argmax(axis=1), len(present))],
        index=flagged.index,
        dtype="string",
    )
