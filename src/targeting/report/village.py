"""Two report sections from tables other steps made: the village's ranks and the survey's drift.

"Model, rules and the village" appears when the decisions carry a community rank (a PMT +
community blend, `targeting.community`): who decided, and how the model's selection and the
rules' verdict agree with the community's own poorest. "Drift" appears when the audit is given the
table `targeting drift` wrote: the indicators whose distribution moved since the training survey,
and the predicted welfare's own shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.decide import schema as s
from targeting.errors import InputFileError

__all__ = ["drift_rows", "read_drift_table", "village_view"]

#: The drift table's columns the report needs (`targeting.drift` writes them).
DRIFT_COLUMNS = ("indicator", "kind", "psi", "p_adjusted", "flag")


def village_view(frame: pd.DataFrame, *, share: float | None = None) -> dict[str, Any] | None:
    """Counts for the village section, or None without community ranks.

    ``share`` is the selection's share of households (default: the model's own selection rate), the
    community's poorest are the households whose consensus percentile lies below it.
    """
    if s.COMMUNITY_PERCENTILE not in frame.columns:
        return None
    pct = frame[s.COMMUNITY_PERCENTILE].to_numpy(dtype=np.float64)
    ranked = np.isfinite(pct)
    selected = frame[s.SELECTED].to_numpy(dtype=bool)
    method = (frame[s.METHOD].astype("string").fillna("model").to_numpy(dtype=object)
              if s.METHOD in frame.columns else np.where(ranked, "model+community", "model"))
    share = float(selected.mean()) if share is None else share
    poorest = ranked & (pct < share)
    rules = None
    if s.RULE_VERDICT in frame.columns:
        rules = frame[s.RULE_VERDICT].astype("string").fillna("unknown").to_numpy(dtype=object) == "eligible"
    cross = []
    for name, mask in (("poorest", poorest), ("others", ranked & ~poorest), ("unranked", ~ranked)):
        row = {"who": name, "households": int(mask.sum()), "selected": int((mask & selected).sum())}
        if rules is not None:
            row["rules"] = int((mask & rules).sum())
            row["both"] = int((mask & rules & selected).sum())
        cross.append(row)
    recall = float((poorest & selected).sum() / poorest.sum()) if poorest.any() else float("nan")
    return {"share": share, "n_ranked": int(ranked.sum()), "n": int(len(frame)),
            "by_method": {str(k): int(v) for k, v in pd.Series(method).value_counts(sort=False).items()},
            "recall": recall,
            "rules_recall": (float((poorest & rules).sum() / poorest.sum())
                             if rules is not None and poorest.any() else None),
            "cross": cross}


def read_drift_table(path: Path) -> pd.DataFrame:
    """The per-indicator table `targeting drift` wrote; a clear error for any other file."""
    from targeting.survey.read import read_raw

    table = read_raw(Path(path))
    missing = [c for c in DRIFT_COLUMNS if c not in table.columns]
    if missing:
        raise InputFileError(f"{path}: not a table written by `targeting drift` "
                             f"(missing {', '.join(missing)})")
    out = table.loc[:, [c for c in table.columns if not c.startswith("_")]].copy()
    for col in ("psi", "p_adjusted"):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].astype("string").fillna("").str.strip().ne("")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputFileError(f"{path}: row {int(table['_row'].iloc[i])}, column {col}: "
                                 f"{out[col].iloc[i]!r} is not a number")
        out[col] = values
    return out


def drift_rows(table: pd.DataFrame, t: Any) -> dict[str, Any]:
    """The section's rows: welfare rows first, then flagged indicators by PSI, and the counts."""
    welfare = table["kind"].isin(["prediction", "welfare"])
    flagged = table[~welfare & table["flag"].isin(["moderate", "major"])].sort_values(
        "psi", ascending=False, kind="stable")

    def row(r: Any) -> dict[str, str]:
        return {"indicator": str(r["indicator"]), "psi": t.num(r["psi"], 3),
                "p": t.num(r["p_adjusted"], 3), "flag": str(r["flag"])}

    counts = table[~welfare]["flag"].value_counts()
    return {"welfare": [row(r) for r in table[welfare].to_dict("records")],
            "flagged": [row(r) for r in flagged.to_dict("records")],
            "n_indicators": t.num(int((~welfare).sum())), "n_moderate": t.num(int(counts.get("moderate", 0))),
            "n_major": t.num(int(counts.get("major", 0))),
            **{side: str(table[side].iloc[0]) if side in table.columns and len(table) else ""
               for side in ("reference", "current")}}


def village_rows(view: Mapping[str, Any], t: Any) -> dict[str, Any]:
    """The village section's numbers in the report's language."""
    return {**view, "share": t.pct(view["share"]), "recall": t.pct(view["recall"]),
            "rules_recall": None if view["rules_recall"] is None else t.pct(view["rules_recall"]),
            "n_ranked": t.num(view["n_ranked"]), "n": t.num(view["n"]),
            "by_method": {k: t.num(v) for k, v in view["by_method"].items()},
            "cross": [{k: (t.num(v) if isinstance(v, int) else v) for k, v in r.items()}
                      for r in view["cross"]]}
