"""Re-ranking rounds: two rounds of decisions linked by (pseudonymised) household id.

DTSEN is re-ranked four times a year; each round's decisions table says, per household, its desil and
the programmes it qualifies for. These pure functions compare two such tables:

* :func:`link_rounds` — one row per household of either round, with where it is present
  (``both``, ``previous_only``: gone from the registry, ``current_only``: new); nobody is dropped.
* :func:`desil_transitions` — the (weighted) desil transition matrix, with an ``absent`` row (new
  households) and an ``absent`` column (households gone).
* :func:`programme_flows` — per programme (optionally per group, e.g. kecamatan): stayed, entered,
  left, new households in it, gone households that were in it; counts and weighted.
* :func:`leaver_reasons` / :func:`entrant_reasons` — for each household that left (entered) a
  programme, the indicators whose contribution to predicted welfare changed most between the rounds,
  with the signed change, named in the reason catalogue's words.

Columns read (those of the decisions table): ``household_id`` (already pseudonymised), ``weight``,
``household_size``, ``desil`` (1..10), ``program_<id>`` (booleans), and where present
``predicted_log_welfare`` and ``contrib_<indicator>`` (each indicator's contribution to the
predicted log welfare, one-hot levels folded back). An indicator with no contribution column in one
round contributed nothing in it (0).

Weights. ``unit="count"`` counts households (rows); ``"household"`` sums survey weights (1 in a
registry); ``"person"`` sums weight x household size (desil are shares of persons). A household
present in both rounds is weighted by one round's values (``weight_from``, default the current
round: a household that split is counted at its current size); a household present in one round only
by that round's. So every identity holds exactly: in_previous = stayed + left + gone and
in_current = stayed + entered + new_in, and the transition matrix sums to the linked population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.decide.schema import (
    CONTRIB_PREFIX,
    DESIL,
    HOUSEHOLD_ID,
    HOUSEHOLD_SIZE,
    PERSONAL_COLUMNS,
    PREDICTED_LOG,
    PROGRAM_PREFIX,
    WEIGHT,
)
from targeting.errors import InputFileError

if TYPE_CHECKING:
    from targeting.explain import ReasonCatalogue

__all__ = [
    "ABSENT",
    "CONTRIB_PREFIX",
    "FLOWS",
    "RoundComparison",
    "compare_rounds",
    "desil_transitions",
    "entrant_reasons",
    "leaver_reasons",
    "link_rounds",
    "programme_flows",
]

REQUIRED = (HOUSEHOLD_ID, WEIGHT, HOUSEHOLD_SIZE, DESIL)

ABSENT = "absent"
DESIL_LABELS: tuple[str, ...] = tuple(str(d) for d in range(1, 11))
Presence = Literal["both", "previous_only", "current_only"]
RoundUnit = Literal["count", "household", "person"]
WeightFrom = Literal["current", "previous"]
#: Flows of :func:`programme_flows`, each as a count and ``<flow>_weighted``.
FLOWS: tuple[str, ...] = ("in_previous", "in_current", "stayed", "entered", "left", "new_in", "gone")


# ---- linking ----------------------------------------------------------------------------------------


def _check(frame: pd.DataFrame, which: str) -> None:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputFileError(f"{which} decisions: missing column(s) {', '.join(missing)}")
    ids = frame[HOUSEHOLD_ID]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputFileError(f"{which} decisions: row {row}: household_id is missing")
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        raise InputFileError(
            f"{which} decisions: household_id {first!r} appears {int((ids == first).sum())} times "
            f"({int(dup.sum())} rows with repeated ids); one row per household is required"
        )
    desil = pd.to_numeric(frame[DESIL], errors="coerce")
    bad = desil.isna() | ~desil.isin(range(1, 11))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFileError(f"{which} decisions: row {row}: desil {frame[DESIL].iloc[row]} is not 1..10")
    for col in (WEIGHT, HOUSEHOLD_SIZE):
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad_w = ~np.isfinite(x) | (x < 0)
        if bad_w.any():
            row = int(np.flatnonzero(bad_w)[0])
            raise InputFileError(f"{which} decisions: row {row}: {col} {frame[col].iloc[row]} is not a "
                                 "finite non-negative number")
    for col in _programs(frame):
        if frame[col].isna().any():
            row = int(np.flatnonzero(frame[col].isna().to_numpy())[0])
            raise InputFileError(f"{which} decisions: row {row}: {col} is missing")


def _programs(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if str(c).startswith(PROGRAM_PREFIX)]


def _contribs(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if str(c).startswith(CONTRIB_PREFIX)]


def link_rounds(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """One row per household of either round: ``presence`` and each round's columns side by side.

    Columns: household_id, presence, then ``<column>_previous`` / ``<column>_current`` for desil,
    weight, household_size, every ``program_<id>`` and, where present, predicted_log_welfare and
    ``contrib_<indicator>``. Rows: the previous round's order, then the new households in the current
    round's order. Personal identifiers are never carried.
    """
    _check(previous, "previous")
    _check(current, "current")
    keep = [REQUIRED[1:], [PREDICTED_LOG]]
    cols = [c for group in keep for c in group]

    def side(frame: pd.DataFrame, suffix: str) -> pd.DataFrame:
        chosen = [c for c in (*cols, *_programs(frame), *_contribs(frame)) if c in frame.columns]
        out = frame[[HOUSEHOLD_ID, *chosen]].copy()
        out[HOUSEHOLD_ID] = out[HOUSEHOLD_ID].astype("string")
        out[DESIL] = pd.to_numeric(out[DESIL]).astype("Int64")
        for p in _programs(frame):
            out[p] = out[p].astype("boolean")
        return out.rename(columns={c: f"{c}_{suffix}" for c in chosen})

    prev, cur = side(previous, "previous"), side(current, "current")
    merged = prev.merge(cur, on=HOUSEHOLD_ID, how="outer", indicator=True, sort=False)
    # "outer" sorts keys in pandas; restore previous-then-new order so output follows the inputs.
    new = cur.loc[~cur[HOUSEHOLD_ID].isin(prev[HOUSEHOLD_ID]), HOUSEHOLD_ID]
    order = pd.concat([prev[HOUSEHOLD_ID], new])
    merged = merged.set_index(HOUSEHOLD_ID).loc[order.to_numpy()].reset_index()
    presence = merged.pop("_merge").map({"both": "both", "left_only": "previous_only",
                                         "right_only": "current_only"})
    merged.insert(1, "presence", presence.astype("string"))
    return merged


def _row_weight(links: pd.DataFrame, unit: RoundUnit, weight_from: WeightFrom) -> npt.NDArray[np.float64]:
    if unit == "count":
        return np.ones(len(links))
    if unit not in ("household", "person"):
        raise ValueError(f"unit must be 'count', 'household' or 'person', got {unit!r}")
    if weight_from not in ("current", "previous"):
        raise ValueError(f"weight_from must be 'current' or 'previous', got {weight_from!r}")
    other = "previous" if weight_from == "current" else "current"

    def value(col: str) -> npt.NDArray[np.float64]:
        first = links[f"{col}_{weight_from}"].to_numpy(dtype=np.float64, na_value=np.nan)
        second = links[f"{col}_{other}"].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(first), second, first)

    w = value(WEIGHT)
    return w * value(HOUSEHOLD_SIZE) if unit == "person" else w


# ---- transitions and flows ---------------------------------------------------------------------------


def desil_transitions(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    unit: RoundUnit = "person",
    weight_from: WeightFrom = "current",
    normalize: Literal["row"] | None = None,
    links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The desil transition matrix: rows the previous desil (then ``absent``), columns the current one.

    Cell (d, d') is the population of households in desil d before and d' now; row ``absent`` holds the
    new households by current desil, column ``absent`` the gone ones by previous desil. With
    ``normalize="row"`` each row becomes shares of its total (where it has one).
    """
    links = link_rounds(previous, current) if links is None else links
    w = _row_weight(links, unit, weight_from)
    labels = [*DESIL_LABELS, ABSENT]
    r = links[f"{DESIL}_previous"].astype("string").fillna(ABSENT)
    c = links[f"{DESIL}_current"].astype("string").fillna(ABSENT)
    rc = pd.Categorical(r, categories=labels).codes
    cc = pd.Categorical(c, categories=labels).codes
    matrix = np.zeros((len(labels), len(labels)))
    np.add.at(matrix, (rc, cc), w)
    out = pd.DataFrame(matrix, index=pd.Index(labels, name="desil_previous"),
                       columns=pd.Index(labels, name="desil_current"))
    if normalize == "row":
        totals = out.sum(axis=1)
        out = out.div(totals.where(totals > 0), axis=0)
    elif normalize is not None:
        raise ValueError(f"normalize must be None or 'row', got {normalize!r}")
    return out


def programme_flows(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    unit: RoundUnit = "person",
    weight_from: WeightFrom = "current",
    by: str | None = None,
    programs: Sequence[str] | None = None,
    links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Who stayed in, entered, left each programme; new and gone households; counts and weighted.

    One row per programme (and per value of ``by``, a column of the decisions such as ``kecamatan``,
    read from the current round where the household is in it, else the previous). Columns: program,
    [by], then for each flow of :data:`FLOWS` its count and ``<flow>_weighted`` (under ``unit``).
    ``programs`` are ids without the ``program_`` prefix (default: those both rounds carry; a
    programme only one round carries is an error, since its absence would read as "nobody").
    """
    links = link_rounds(previous, current) if links is None else links
    progs = _common_programs(previous, current, programs)
    w = _row_weight(links, unit, weight_from)
    presence = links["presence"].to_numpy(dtype=object)
    both, prev_only, cur_only = presence == "both", presence == "previous_only", presence == "current_only"
    group = _group(previous, current, links, by)
    rows = []
    for p in progs:
        was = links[f"{PROGRAM_PREFIX}{p}_previous"].fillna(False).to_numpy(dtype=bool)
        now = links[f"{PROGRAM_PREFIX}{p}_current"].fillna(False).to_numpy(dtype=bool)
        masks = {
            "in_previous": was, "in_current": now,
            "stayed": both & was & now, "entered": both & ~was & now, "left": both & was & ~now,
            "new_in": cur_only & now, "gone": prev_only & was,
        }
        keys = [None] if group is None else list(dict.fromkeys(group.tolist()))
        for key in keys:
            in_group = np.ones(len(links), bool) if group is None else _eq(group, key)
            row: dict[str, object] = {"program": p}
            if by is not None:
                row[by] = key
            for name in FLOWS:
                m = masks[name] & in_group
                row[name] = int(m.sum())
                row[f"{name}_weighted"] = float(w[m].sum())
            rows.append(row)
    cols = ["program", *([by] if by else []), *[c for f in FLOWS for c in (f, f"{f}_weighted")]]
    types = {c: ("float64" if c.endswith("_weighted") else "int64") for c in cols[1 + bool(by):]}
    return pd.DataFrame(rows, columns=cols).astype(types)


def _eq(values: npt.NDArray[np.object_], key: object) -> npt.NDArray[np.bool_]:
    if key is None or (isinstance(key, float) and np.isnan(key)) or key is pd.NA:
        return pd.isna(values)
    return np.asarray(values == key, dtype=bool)


def _common_programs(previous: pd.DataFrame, current: pd.DataFrame,
                     programs: Sequence[str] | None) -> list[str]:
    prev = [c[len(PROGRAM_PREFIX):] for c in _programs(previous)]
    cur = [c[len(PROGRAM_PREFIX):] for c in _programs(current)]
    if programs is None:
        odd = sorted(set(prev) ^ set(cur))
        if odd:
            raise InputFileError(
                f"programme(s) {', '.join(odd)} are in one round's decisions only; pass programs= to "
                "compare the others"
            )
        return prev
    missing = [p for p in programs if p not in prev or p not in cur]
    if missing:
        raise InputFileError(f"programme(s) {', '.join(missing)} are not in both rounds' decisions")
    return list(programs)


def _group(previous: pd.DataFrame, current: pd.DataFrame, links: pd.DataFrame,
           by: str | None) -> npt.NDArray[np.object_] | None:
    if by is None:
        return None
    if by in PERSONAL_COLUMNS:
        raise ValueError(f"{by!r} is a personal identifier: flows are never grouped by it")
    if by not in previous.columns and by not in current.columns:
        raise InputFileError(f"group column {by!r} is in neither round's decisions")
    ids = links[HOUSEHOLD_ID].astype("string")

    def lookup(frame: pd.DataFrame) -> pd.Series:
        if by not in frame.columns:
            return pd.Series(pd.NA, index=ids.index, dtype="object")
        m = pd.Series(frame[by].to_numpy(dtype=object), index=frame[HOUSEHOLD_ID].astype("string"))
        return pd.Series(ids.map(m).to_numpy(dtype=object), index=ids.index)

    now, before = lookup(current), lookup(previous)
    return now.where(now.notna(), before).to_numpy(dtype=object)


# ---- why households moved ----------------------------------------------------------------------------


def leaver_reasons(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    programs: Sequence[str] | None = None,
    top_k: int = 4,
    catalogue: ReasonCatalogue | None = None,
    min_change: float = 1e-9,
    links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """For each household in both rounds that left a programme: the indicators that raised it most.

    A household leaves when its desil rises above the programme's range. Its reasons are the
    indicators whose contribution to predicted log welfare rose most (change > ``min_change``), at most
    ``top_k``, largest first. Columns: household_id, program, desil_previous, desil_current,
    prediction_change, indicators_change (sum of all contribution changes), other_change
    (prediction_change - indicators_change: a new model or base value, not the household),
    moved_by_others (its own prediction did not rise: it left because others fell), n_reasons,
    then ``reason_<i>_indicator``, ``reason_<i>_change`` and, with a ``catalogue``,
    ``reason_<i>_text_id`` / ``_text_en``. A leaver with no reasons has no contribution that rose, or
    no contributions in the tables.
    """
    return _mover_reasons(previous, current, "left", programs, top_k, catalogue, min_change, links)


def entrant_reasons(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    programs: Sequence[str] | None = None,
    top_k: int = 4,
    catalogue: ReasonCatalogue | None = None,
    min_change: float = 1e-9,
    links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """As :func:`leaver_reasons`, for households in both rounds that entered: the changes that lowered it."""
    return _mover_reasons(previous, current, "entered", programs, top_k, catalogue, min_change, links)


def _mover_reasons(previous: pd.DataFrame, current: pd.DataFrame, flow: Literal["left", "entered"],
                   programs: Sequence[str] | None, top_k: int, catalogue: ReasonCatalogue | None,
                   min_change: float, links: pd.DataFrame | None) -> pd.DataFrame:
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    links = link_rounds(previous, current) if links is None else links
    progs = _common_programs(previous, current, programs)
    named = (*_contribs(previous), *_contribs(current))
    indicators = list(dict.fromkeys(c[len(CONTRIB_PREFIX):] for c in named))
    both = (links["presence"] == "both").to_numpy(dtype=bool)

    def contributions(suffix: str) -> npt.NDArray[np.float64]:
        cols = [f"{CONTRIB_PREFIX}{i}_{suffix}" for i in indicators]
        return np.column_stack([
            links[c].to_numpy(dtype=np.float64, na_value=0.0) if c in links.columns else np.zeros(len(links))
            for c in cols
        ]) if cols else np.zeros((len(links), 0))

    change = contributions("current") - contributions("previous")
    has_pred = f"{PREDICTED_LOG}_previous" in links.columns and f"{PREDICTED_LOG}_current" in links.columns
    pred_change = (links[f"{PREDICTED_LOG}_current"].to_numpy(dtype=np.float64, na_value=np.nan)
                   - links[f"{PREDICTED_LOG}_previous"].to_numpy(dtype=np.float64, na_value=np.nan)
                   ) if has_pred else np.full(len(links), np.nan)
    texts = _texts(catalogue, indicators, flow) if catalogue is not None else None
    sign = 1.0 if flow == "left" else -1.0
    rows = []
    for p in progs:
        was = links[f"{PROGRAM_PREFIX}{p}_previous"].fillna(False).to_numpy(dtype=bool)
        now = links[f"{PROGRAM_PREFIX}{p}_current"].fillna(False).to_numpy(dtype=bool)
        movers = np.flatnonzero(both & (was & ~now if flow == "left" else ~was & now))
        for i in movers:
            # In the direction of the move: rises for a leaver, falls for an entrant; ties by catalogue order.
            signed = sign * change[i]
            order = np.argsort(-signed, kind="stable")
            chosen = [j for j in order if signed[j] > min_change][:top_k]
            total = float(change[i].sum()) if indicators else float("nan")
            row: dict[str, object] = {
                HOUSEHOLD_ID: links[HOUSEHOLD_ID].iloc[i], "program": p,
                "desil_previous": int(links[f"{DESIL}_previous"].iloc[i]),
                "desil_current": int(links[f"{DESIL}_current"].iloc[i]),
                "prediction_change": float(pred_change[i]),
                "indicators_change": total,
                "other_change": float(pred_change[i]) - total,
                # Its own prediction did not move the way it moved in the ranking: others moved past it.
                "moved_by_others": pd.NA if np.isnan(pred_change[i]) else bool(sign * pred_change[i] <= 0),
                "n_reasons": len(chosen),
            }
            for slot in range(1, top_k + 1):
                j = chosen[slot - 1] if slot <= len(chosen) else None
                row[f"reason_{slot}_indicator"] = None if j is None else indicators[j]
                row[f"reason_{slot}_change"] = np.nan if j is None else float(change[i, j])
                if texts is not None:
                    row[f"reason_{slot}_text_id"] = None if j is None else texts[j][0]
                    row[f"reason_{slot}_text_en"] = None if j is None else texts[j][1]
            rows.append(row)
    cols = [HOUSEHOLD_ID, "program", "desil_previous", "desil_current", "prediction_change",
            "indicators_change", "other_change", "moved_by_others", "n_reasons"]
    for slot in range(1, top_k + 1):
        cols += [f"reason_{slot}_indicator", f"reason_{slot}_change"]
        if texts is not None:
            cols += [f"reason_{slot}_text_id", f"reason_{slot}_text_en"]
    out = pd.DataFrame(rows, columns=cols)
    out["moved_by_others"] = out["moved_by_others"].astype("boolean")
    return out


def _texts(catalogue: ReasonCatalogue, indicators: list[str],
           flow: Literal["left", "entered"]) -> list[tuple[str, str]]:
    """'<indicator>: berubah, <direction>' in the catalogue's words (id, en) for each indicator."""
    from targeting.explain import ReasonCatalogueError

    missing = [i for i in indicators if i not in catalogue.indicators]
    if missing:
        raise ReasonCatalogueError(
            f"reason catalogue {catalogue.name!r} has no entry for indicator(s) {', '.join(missing)}"
        )
    direction = catalogue.directions.up if flow == "left" else catalogue.directions.down
    return [
        (f"{catalogue.indicators[i].id}: berubah, {direction.id}",
         f"{catalogue.indicators[i].en}: changed, {direction.en}")
        for i in indicators
    ]


# ---- everything for one pair of rounds ----------------------------------------------------------------


@dataclass(frozen=True)
class RoundComparison:
    """What changed from one round to the next (see the module docstring for the weights)."""

    unit: RoundUnit
    links: pd.DataFrame
    transitions: pd.DataFrame
    transitions_count: pd.DataFrame
    flows: pd.DataFrame
    leavers: pd.DataFrame
    entrants: pd.DataFrame

    def presence_counts(self) -> dict[str, int]:
        counts = self.links["presence"].value_counts()
        return {k: int(counts.get(k, 0)) for k in ("both", "previous_only", "current_only")}

    def flat_metrics(self, prefix: str = "rounds") -> dict[str, float]:
        """MLflow-ready metrics: presence counts, desil stability, and each programme's flows.

        ``<prefix>.n_both`` / ``.n_previous_only`` / ``.n_current_only``; ``.share_same_desil`` and
        ``.mean_abs_desil_change`` among linked households (weighted); per programme
        ``<prefix>.<program>.<flow>`` (weighted) and ``.exit_rate`` = left / linked in_previous.
        """
        out: dict[str, float] = {f"{prefix}.n_{k}": float(v) for k, v in self.presence_counts().items()}
        m = self.transitions.loc[list(DESIL_LABELS), list(DESIL_LABELS)].to_numpy()
        total = m.sum()
        if total > 0:
            d = np.arange(1, 11)
            out[f"{prefix}.share_same_desil"] = float(np.trace(m) / total)
            moved = np.abs(d[:, None] - d[None, :])
            out[f"{prefix}.mean_abs_desil_change"] = float((m * moved).sum() / total)
        overall = self.flows[[c for c in self.flows.columns if c == "program" or c.endswith("_weighted")]]
        for r in overall.groupby("program", sort=False).sum(numeric_only=True).itertuples():
            p = str(r.Index)
            for f in FLOWS:
                out[f"{prefix}.{p}.{f}"] = float(getattr(r, f"{f}_weighted"))
            linked_in = r.stayed_weighted + r.left_weighted
            if linked_in > 0:
                out[f"{prefix}.{p}.exit_rate"] = float(r.left_weighted / linked_in)
        return out


def compare_rounds(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    unit: RoundUnit = "person",
    weight_from: WeightFrom = "current",
    by: str | None = None,
    programs: Sequence[str] | None = None,
    top_k: int = 4,
    catalogue: ReasonCatalogue | None = None,
) -> RoundComparison:
    """Link two rounds and compute transitions (weighted and counted), flows and movers' reasons."""
    links = link_rounds(previous, current)
    kw = {"links": links}
    return RoundComparison(
        unit=unit,
        links=links,
        transitions=desil_transitions(previous, current, unit=unit, weight_from=weight_from, **kw),
        transitions_count=desil_transitions(previous, current, unit="count", **kw),
        flows=programme_flows(previous, current, unit=unit, weight_from=weight_from, by=by,
                              programs=programs, **kw),
        leavers=leaver_reasons(previous, current, programs=programs, top_k=top_k, catalogue=catalogue,
                               **kw),
        entrants=entrant_reasons(previous, current, programs=programs, top_k=top_k, catalogue=catalogue,
                                 **kw),
    )
