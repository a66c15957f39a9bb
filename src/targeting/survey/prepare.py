"""What a spec does to a survey's raw cells before validation: recodes, row filters, derived keys, persons.

Everything here is data in the spec (closed operator sets, no expressions), and every effect is
counted and reported, never silent:

* ``recode``: a column's cells replaced by value (``yes`` -> 1), counted per (column, from, to);
* ``rows``: ``keep_if`` / ``drop_if`` filters; each excluded row is listed with the filter's reason
  (distinct from rejects: the spec excludes it on purpose); a filter that cannot compare a cell (a
  number expected) rejects that row instead, with the cell and the reason;
* derived keys: a region or cluster from several columns joined, or a region from one-hot columns
  (exactly one must be 1, else the row is rejected);
* ``persons``: a person-level file becomes one row per household (the head's row, counts, any/all,
  max/min/mean/sum), with persons without a household and households without exactly one head
  rejected and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from targeting.errors import InputFileError
from targeting.survey.read import ROW
from targeting.survey.spec import Condition, DatasetSpec, KeySpec, OneHotSpec, PersonsSpec
from targeting.survey.validate import REJECT_COLUMNS, _as_text, parse_number

#: Columns of the excluded-rows table: like the rejects, with the filter that excluded each row.
EXCLUDED_COLUMNS = ["row", "household_id", "column", "value", "reason", "reason_en"]


@dataclass
class Prepared:
    """A raw frame after the spec's preparation, and what the preparation did."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    excluded: pd.DataFrame
    effects: list[dict[str, Any]] = field(default_factory=list)


def _empty(columns: list[str]) -> pd.DataFrame:
    """An empty problem table: a copy (callers may add to it) of one built once.

    Building it costs ~0.3 ms, three times per validated frame, which a one-household request felt.
    """
    return _empty_table(tuple(columns)).copy()


@cache
def _empty_table(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _ids(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    cols = [c for c in spec.household_id if c in frame.columns]
    if not cols:
        return pd.Series([""] * len(frame), index=frame.index, dtype="string")
    out = _as_text(frame[cols[0]])
    for c in cols[1:]:
        out = out + "-" + _as_text(frame[c])
    return out


def _decimal(spec: DatasetSpec) -> str:
    return spec.files[0].decimal


def condition_mask(frame: pd.DataFrame, cond: Condition, decimal: str = "."
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(holds, cannot_compare) of a condition for every row.

    Text comparisons never fail; a numeric comparison cannot compare a cell that is not a number
    (blank cells never hold and never fail).
    """
    col = frame[cond.column]
    text = _as_text(col)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    op, value = cond.operator, cond.operand
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    if op == "blank":
        return (blank if value else ~blank), bad
    if op in ("equals", "not_equals", "isin", "not_in"):
        values = value if isinstance(value, list) else [value]
        wanted = {_canonical(v) for v in values}
        canon = text.fillna("").map(_canonical_text)
        hit = canon.isin(wanted).to_numpy(dtype=bool) & ~blank
        return (hit if op in ("equals", "isin") else ~hit & ~blank), bad
    num, unparsable = parse_number(col, blank, decimal)
    x = float(value)
    with np.errstate(invalid="ignore"):
        holds = {"lt": num < x, "le": num <= x, "gt": num > x, "ge": num >= x}[op]
    return np.asarray(holds, dtype=bool) & ~blank, unparsable


def _canonical(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return _canonical_text(str(v))


def _canonical_text(t: str) -> str:
    """A cell's text for comparison: stripped, lower case, ``1.0`` as ``1``."""
    t = t.strip().lower()
    try:
        f = float(t)
    except ValueError:
        return t
    return str(int(f)) if f.is_integer() and "e" not in t else t


def _problem_rows(frame: pd.DataFrame, spec: DatasetSpec, mask: np.ndarray, column: str, reason: str,
                  reason_en: str) -> pd.DataFrame:
    pos = np.flatnonzero(mask)
    return pd.DataFrame({
        "row": frame[ROW].to_numpy()[pos],
        "household_id": _ids(frame, spec).to_numpy()[pos],
        "column": column,
        "value": _as_text(frame[column]).fillna("").to_numpy()[pos] if column in frame else "",
        "reason": reason,
        "reason_en": reason_en,
    }, columns=REJECT_COLUMNS)


def recode(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Replace listed cell texts by their values; each (column, from, to) with its count."""
    effects: list[dict[str, Any]] = []
    if not spec.recode:
        return frame, effects
    out = frame.copy()
    for column, mapping in spec.recode.items():
        if column not in out.columns:
            raise InputFileError(f"{spec.where}: recode names column {column!r}, not in the file")
        text = _as_text(out[column])
        key = text.fillna("").str.lower()
        new = text.astype(object).copy()
        for src, dst in mapping.items():
            hit = (key == str(src).strip().lower()).to_numpy(dtype=bool)
            n = int(hit.sum())
            written = "" if dst is None else dst if isinstance(dst, str) else _canonical(dst)
            effects.append({"effect": "recode", "column": column, "from": str(src), "to": written, "n": n})
            if n:
                new[hit] = written
        out[column] = pd.array(new.where(text.notna(), None), dtype="string")
    return out, effects


def filter_rows(frame: pd.DataFrame, spec: DatasetSpec
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """(kept rows, rows rejected by an uncomparable cell, excluded rows, effects)."""
    effects: list[dict[str, Any]] = []
    filters = [(f, True) for f in spec.rows.keep_if] + [(f, False) for f in spec.rows.drop_if]
    if not filters:
        return frame, _empty(REJECT_COLUMNS), _empty(EXCLUDED_COLUMNS), effects
    decimal = _decimal(spec)
    excluded_parts, reject_parts = [], []
    gone = np.zeros(len(frame), dtype=bool)
    bad_any = np.zeros(len(frame), dtype=bool)
    for f, keep in filters:
        if f.column not in frame.columns:
            raise InputFileError(f"{spec.where}: row filter on column {f.column!r}, not in the file")
        holds, bad = condition_mask(frame, f, decimal)
        excl = (~holds if keep else holds) & ~bad & ~gone & ~bad_any
        new_bad = bad & ~gone & ~bad_any
        word = "keep_if" if keep else "drop_if"
        effects.append({"effect": "filter", "rule": f"{word} {f.describe()}", "because": f.because,
                        "n": int(excl.sum())})
        if excl.any():
            part = _problem_rows(frame, spec, excl, f.column,
                                 f"dikecualikan oleh spesifikasi ({word} {f.describe()}): {f.because}",
                                 f"excluded by the spec ({word} {f.describe()}): {f.because}")
            excluded_parts.append(part)
        if new_bad.any():
            reject_parts.append(_problem_rows(
                frame, spec, new_bad, f.column, f"bukan angka, tidak dapat dibandingkan ({f.describe()})",
                f"not a number, cannot be compared ({f.describe()})"))
        gone |= excl
        bad_any |= new_bad
    keep_rows = ~gone & ~bad_any
    kept = frame.loc[keep_rows].reset_index(drop=True) if not keep_rows.all() else frame
    rejects = pd.concat(reject_parts, ignore_index=True) if reject_parts else _empty(REJECT_COLUMNS)
    excluded = pd.concat(excluded_parts, ignore_index=True) if excluded_parts else _empty(EXCLUDED_COLUMNS)
    return kept, rejects, excluded, effects


def derive_keys(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add composite and one-hot region/cluster columns; (frame, rejects of rows with no single region)."""
    rejects = []
    out = frame
    for role in (spec.region, spec.cluster):
        if isinstance(role, KeySpec):
            missing = [c for c in role.columns if c not in out.columns]
            if missing:
                raise InputFileError(f"{spec.where}: key {role.column!r} needs column(s) {missing}")
            parts = [_as_text(out[c]) for c in role.columns]
            key = parts[0]
            for p in parts[1:]:
                key = key + role.sep + p
            # Any part blank makes the key blank: reported by the validation as a required value.
            blank = np.zeros(len(out), dtype=bool)
            for p in parts:
                blank |= (p.isna() | (p == "")).to_numpy(dtype=bool)
            out = out.assign(**{role.column: key.mask(blank, "")})
        elif isinstance(role, OneHotSpec):
            missing = [c for c in role.columns if c not in out.columns]
            if missing:
                raise InputFileError(f"{spec.where}: one-hot region needs column(s) {missing}")
            flags = []
            for c in role.columns:
                text = _as_text(out[c]).fillna("").map(_canonical_text)
                flags.append((text == "1").to_numpy(dtype=bool))
                odd = ~text.isin(["0", "1", ""]).to_numpy(dtype=bool)
                if odd.any():
                    rejects.append(_problem_rows(out, spec, odd, c, "harus 0 atau 1 (kolom wilayah one-hot)",
                                                 "must be 0 or 1 (one-hot region column)"))
            hits = np.column_stack(flags)
            count = hits.sum(axis=1)
            labels = np.asarray(list(role.one_hot.values()), dtype=object)
            value = np.where(count == 1, labels[np.argmax(hits, axis=1)], "")
            not_one = count != 1
            if not_one.any():
                part = _problem_rows(out, spec, not_one, role.columns[0],
                                     f"tepat satu kolom wilayah harus 1 ({', '.join(role.columns)})",
                                     f"exactly one region column must be 1 ({', '.join(role.columns)})")
                part["value"] = [str(int(c)) + " set" for c in count[not_one]]
                rejects.append(part)
            out = out.assign(**{role.column: pd.array(value, dtype="string")})
    return out, (pd.concat(rejects, ignore_index=True) if rejects else _empty(REJECT_COLUMNS))


def prepare(raw: pd.DataFrame, spec: DatasetSpec) -> Prepared:
    """Recode, filter and derive keys, in that order (row-local: a chunk at a time gives the same)."""
    frame, effects = recode(raw, spec)
    frame, filter_rejects, excluded, filter_effects = filter_rows(frame, spec)
    frame, key_rejects = derive_keys(frame, spec)
    # Both empty (the usual case): the empty table that concatenating them gives, without concat.
    rejects = pd.concat([filter_rejects, key_rejects], ignore_index=True) \
        if len(filter_rejects) or len(key_rejects) else filter_rejects
    return Prepared(frame, rejects, excluded, effects + filter_effects)


# ---- persons -> households -------------------------------------------------------------------


def aggregate_persons(persons: pd.DataFrame, spec: PersonsSpec, dataset: DatasetSpec, where: str
                      ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """One row per household from a person-level raw frame: (households, rejects, effects).

    The household row's ``_row`` is its head's row in the person file. Rejected: persons with a blank
    household key (as persons), and households with no head or several heads, or a value that the
    aggregation cannot read (as households: every problem listed with the person's row).
    """
    needed = [*spec.household, spec.head.column, *{a.column for a in spec.columns.values() if a.column},
              *{a.where.column for a in spec.columns.values() if a.where}]
    missing = sorted({c for c in needed if c not in persons.columns})
    if missing:
        raise InputFileError(f"{where}: persons file lacks column(s) {', '.join(missing)}")
    decimal = dataset.files[0].decimal
    parts = [_as_text(persons[c]).fillna("") for c in spec.household]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    no_household = np.zeros(len(persons), dtype=bool)
    for p in parts:
        no_household |= (p == "").to_numpy(dtype=bool)
    rejects: list[pd.DataFrame] = []
    effects: list[dict[str, Any]] = []
    rows = persons[ROW].to_numpy()

    def person_problem(mask: np.ndarray, column: str, reason: str, reason_en: str) -> pd.DataFrame:
        pos = np.flatnonzero(mask)
        return pd.DataFrame({
            "row": rows[pos], "household_id": key.to_numpy()[pos],
            "column": f"persons:{column}", "value": _as_text(persons[column]).fillna("").to_numpy()[pos],
            "reason": reason, "reason_en": reason_en}, columns=REJECT_COLUMNS)

    if no_household.any():
        rejects.append(person_problem(no_household, spec.household[0], "anggota tanpa rumah tangga",
                                      "person without a household (household key is blank)"))
    effects.append({"effect": "persons_without_household", "n": int(no_household.sum())})
    p_pos = np.flatnonzero(~no_household)  # position in ``persons`` of each row of ``p``

    def in_persons(mask_in_p: np.ndarray) -> np.ndarray:
        m = np.zeros(len(persons), dtype=bool)
        m[p_pos[mask_in_p]] = True
        return m

    p = persons.loc[~no_household].reset_index(drop=True)
    k = key[~no_household].reset_index(drop=True)
    codes, households = pd.factorize(k, sort=False)
    n_h = len(households)
    is_head, head_bad = condition_mask(p, spec.head, decimal)
    if head_bad.any():
        rejects.append(person_problem(in_persons(head_bad), spec.head.column, "bukan angka", "not a number"))
    heads = np.bincount(codes, weights=is_head.astype(float), minlength=n_h)
    bad_h = heads != 1
    values: dict[str, np.ndarray] = {}
    bad_value = np.zeros(n_h, dtype=bool)
    for name, agg in spec.columns.items():
        where_mask = np.ones(len(p), dtype=bool)
        if agg.where is not None:
            where_mask, wbad = condition_mask(p, agg.where, decimal)
            if wbad.any():
                rejects.append(person_problem(in_persons(wbad), agg.where.column, "bukan angka",
                                              "not a number"))
                bad_value |= np.bincount(codes[wbad], minlength=n_h) > 0
        if agg.how == "count":
            values[name] = np.bincount(codes, weights=where_mask.astype(float), minlength=n_h)
            continue
        if agg.how in ("any", "all"):
            hit = np.bincount(codes, weights=where_mask.astype(float), minlength=n_h)
            size = np.bincount(codes, minlength=n_h)
            values[name] = (hit > 0 if agg.how == "any" else hit == size).astype(float)
            continue
        assert agg.column is not None
        col = p[agg.column]
        blank = (_as_text(col).isna() | (_as_text(col) == "")).to_numpy(dtype=bool)
        if agg.how == "head":
            text = _as_text(col).fillna("").to_numpy(dtype=object)
            out = np.full(n_h, "", dtype=object)
            sel = np.flatnonzero(is_head)
            out[codes[sel]] = text[sel]
            values[name] = out
            continue
        num, unparsable = parse_number(col, blank, decimal)
        if unparsable.any():
            rejects.append(person_problem(in_persons(unparsable), agg.column, "bukan angka", "not a number"))
            bad_value |= np.bincount(codes[unparsable], minlength=n_h) > 0
        use = where_mask & np.isfinite(num)
        x = np.where(use, num, 0.0)
        cnt = np.bincount(codes, weights=use.astype(float), minlength=n_h)
        if agg.how == "sum":
            values[name] = np.bincount(codes, weights=x, minlength=n_h)
        elif agg.how == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                values[name] = np.where(cnt > 0, np.bincount(codes, weights=x, minlength=n_h) / cnt, np.nan)
        else:
            fill = -np.inf if agg.how == "max" else np.inf
            acc = np.full(n_h, fill)
            ufunc = np.maximum if agg.how == "max" else np.minimum
            ufunc.at(acc, codes[use], num[use])
            values[name] = np.where(np.isfinite(acc), acc, np.nan)
    head_row = np.full(n_h, -1, dtype=np.int64)
    first_row = np.full(n_h, np.iinfo(np.int64).max, dtype=np.int64)
    prow = p[ROW].to_numpy(dtype=np.int64)
    np.minimum.at(first_row, codes, prow)
    sel = np.flatnonzero(is_head)
    head_row[codes[sel]] = prow[sel]
    key_parts = {c: np.full(n_h, "", dtype=object) for c in spec.household}
    firsts = np.unique(codes, return_index=True)[1]
    for c in spec.household:
        key_parts[c][codes[firsts]] = _as_text(p[c]).fillna("").to_numpy(dtype=object)[firsts]
    hh_id = pd.Series(households, dtype="string").str.replace("\x1f", "-", regex=False).to_numpy()
    if bad_h.any():
        pos = np.flatnonzero(bad_h)
        rejects.append(pd.DataFrame({
            "row": first_row[pos], "household_id": hh_id[pos], "column": f"persons:{spec.head.column}",
            "value": [f"{int(h)} kepala / heads" for h in heads[pos]],
            "reason": "rumah tangga harus punya tepat satu kepala",
            "reason_en": "a household must have exactly one head"}, columns=REJECT_COLUMNS))
    effects.append({"effect": "households_without_one_head", "n": int(bad_h.sum())})
    effects.append({"effect": "persons_aggregated", "persons": int(len(p)), "households": int(n_h)})
    keep = ~bad_h & ~bad_value
    frame = pd.DataFrame({**key_parts, **{name: _as_aggregate_text(v) for name, v in values.items()}})
    frame[ROW] = np.where(head_row >= 0, head_row, first_row)
    frame = frame.loc[keep].reset_index(drop=True)
    rej = pd.concat(rejects, ignore_index=True) if rejects else _empty(REJECT_COLUMNS)
    return frame, rej, effects


def _as_aggregate_text(v: np.ndarray) -> pd.array:
    """Aggregated values as the text a household file would hold (so the validation reads them)."""
    if v.dtype == object:
        return pd.array(v, dtype="string")
    out = np.array(["" if not np.isfinite(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))
                    for x in v], dtype=object)
    return pd.array(out, dtype="string")
