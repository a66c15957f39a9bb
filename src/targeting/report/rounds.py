"""The inspector's view of a round: who entered and left each programme, and the grievances filed.

Pure functions over decisions tables (and a table of grievances from the decision store): the audit
job computes them, the report shows them (section "Putaran dan sanggahan / Rounds and grievances").
Counts are households; persons are shown beside where the decisions carry household sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GRIEVANCE_COLUMNS", "RoundsView", "grievance_counts", "round_flows"]

#: What the report needs of each grievance (the decision store's table, no personal data).
GRIEVANCE_COLUMNS = ("household_pseudonym", "status", "upheld")
#: The label of grievances about households that are not in the audited decisions table.
ELSEWHERE = "(di luar registri ini / not in this registry)"
HERE = "registri ini / this registry"


@dataclass(frozen=True)
class RoundsView:
    """Programme flows against a previous round and grievance counts, each by kecamatan and group."""

    previous: str | None = None
    flows: dict[str, pd.DataFrame] = field(default_factory=dict)
    grievances: dict[str, pd.DataFrame] = field(default_factory=dict)
    n_grievances: int = 0

    def __bool__(self) -> bool:
        return bool(self.flows) or self.n_grievances > 0


def _by_columns(current: pd.DataFrame, by: Sequence[str], previous: pd.DataFrame | None = None) -> list[str]:
    """The requested breakdowns both tables carry (a round's groups may differ)."""
    return [b for b in dict.fromkeys(by)
            if b in current.columns and (previous is None or b in previous.columns)]


def round_flows(previous: pd.DataFrame, current: pd.DataFrame, by: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Households that stayed in, entered, left each programme between the rounds, per breakdown.

    ``""`` is the whole registry; every other key is a column of ``by`` (kecamatan, audit groups).
    Entered / left count households in both rounds whose programme changed; new / gone count
    households only in one round (new registrations, deaths, moves, splits). Persons beside.
    """
    from targeting.drift import programme_flows

    out = {"": programme_flows(previous, current, unit="person")}
    for b in _by_columns(current, by, previous):
        out[b] = programme_flows(previous, current, unit="person", by=b)
    return out


def grievance_counts(grievances: pd.DataFrame, current: pd.DataFrame, keys: Sequence[bytes],
                     by: Sequence[str], *, household_id: str = "household_id") -> dict[str, pd.DataFrame]:
    """Grievances filed, upheld, re-scored with a changed outcome, and changing nothing, per breakdown.

    A grievance is linked to the audited households by pseudonym (the store keeps no raw id): each
    household id is pseudonymised with every key the store was written with (``keys``, current first),
    so grievances filed before a key rotation are still found. Grievances about households that are
    not in ``current`` are counted in their own row, never dropped.
    """
    from targeting.privacy import pseudonymize

    g = grievances.loc[:, list(GRIEVANCE_COLUMNS)]
    ids = current[household_id].astype("string")
    wanted = g["household_pseudonym"].astype(str).to_numpy(dtype=object)
    pos = np.full(len(g), -1, dtype=np.int64)
    for key in keys:  # the current key first: a grievance is linked by the first key that finds it
        at = pd.Index(pseudonymize(ids, key).astype(str)).get_indexer(wanted)
        pos = np.where(pos < 0, at, pos)
    found = pos >= 0
    upheld = g["upheld"].astype(bool).to_numpy()
    status = g["status"].astype(str).to_numpy()
    out: dict[str, pd.DataFrame] = {}
    for b in ["", *_by_columns(current, by)]:
        if b:
            labels = current[b].astype("string").fillna("-").to_numpy(dtype=object)
            group = np.where(found, labels[np.maximum(pos, 0)], ELSEWHERE)
        else:
            group = np.where(found, HERE, ELSEWHERE)
        frame = pd.DataFrame({"group": group, "filed": 1, "upheld": upheld.astype(int),
                              "outcome_changed": (status == "outcome_changed").astype(int),
                              "no_change": (status == "no_change").astype(int)})
        table = frame.groupby("group", sort=True).sum().reset_index()
        out[b] = table.rename(columns={"group": b or "all"})
    return out


def rounds_context(view: RoundsView, t: Any, group_labels: Mapping[str, str]) -> dict[str, Any]:
    """Rows the report's template prints (numbers formatted in the report's language)."""

    def label(b: str) -> str:
        return group_labels.get(b, b)

    flows = []
    for b, table in view.flows.items():
        rows = []
        for r in table.itertuples(index=False):
            d = r._asdict()
            rows.append({
                "program": str(d["program"]).upper(), "group": "" if not b else str(d[b]),
                "stayed": t.num(d["stayed"]), "entered": t.num(d["entered"]), "left": t.num(d["left"]),
                "new_in": t.num(d["new_in"]), "gone": t.num(d["gone"]),
                "entered_persons": t.num(d["entered_weighted"] + d["new_in_weighted"]),
                "left_persons": t.num(d["left_weighted"] + d["gone_weighted"]),
            })
        flows.append({"by": b, "label": label(b), "rows": rows})
    grievances = []
    for b, table in view.grievances.items():
        key = b or "all"
        grievances.append({"by": b, "label": label(b), "rows": [
            {"group": str(r[key]), "filed": t.num(r["filed"]), "upheld": t.num(r["upheld"]),
             "outcome_changed": t.num(r["outcome_changed"]), "no_change": t.num(r["no_change"])}
            for r in table.to_dict("records")]})
    return {"previous": view.previous, "flows": flows, "grievances": grievances,
            "n_grievances": t.num(view.n_grievances)}
