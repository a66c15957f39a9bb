"""Turn files described by a dataset spec into a validated `SurveyData` plus a rejects table."""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from targeting._frames import frame_of
from targeting.errors import InputFileError, SpecError
from targeting.survey.contract import Contract, load_contract
from targeting.survey.dataset import FeatureType, SurveyData
from targeting.survey.read import ROW, cell_text, read_raw
from targeting.survey.spec import DatasetSpec, FeatureSpec, load_spec
from targeting.survey.validate import (
    REJECT_COLUMNS,
    Problems,
    Validated,
    _as_text,
    _has_default_index,
    _is_arrow_text,
    _split,
    _string_array,
    _string_cells,
    _text,
    blank_mask,
    check_unique_ids,
    empty_table,
    float_values,
    parse_number,
    require_columns,
    validate_contract,
)

DATA_DIR_ENV = "TARGETING_DATA_DIR"


@dataclass(frozen=True)
class LoadedSurvey:
    """A loaded survey: the accepted households as `SurveyData`, and every rejected one with reasons.

    ``excluded`` lists the rows the spec's filters left out (with the filter's reason: not errors),
    ``notes`` the values the spec changed cell by cell (out of range, treated as missing), and
    ``effects`` one counted line per thing the spec did (recodes, filters, aggregation, notes).
    ``n_input`` counts the rows read (households, or persons for a person-level file).
    """

    data: SurveyData
    rejects: pd.DataFrame
    n_input: int
    ignored_columns: list[str]
    excluded: pd.DataFrame = field(default_factory=lambda: empty_table(REJECT_COLUMNS))
    notes: pd.DataFrame = field(default_factory=lambda: empty_table(REJECT_COLUMNS))
    effects: list[dict[str, Any]] = field(default_factory=list)
    #: ``data.frame``'s columns as the typed arrays it was built from, while every validated row
    #: was accepted (`Validated.arrays`); None otherwise. Reading them costs no Series per column.
    arrays: Mapping[str, Any] | None = None

    @property
    def n_rejected_rows(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    @property
    def n_excluded_rows(self) -> int:
        return int(self.excluded["row"].nunique()) if len(self.excluded) else 0


def default_data_dir() -> Path:
    """``$TARGETING_DATA_DIR``, else ``../shared/data`` next to the checkout, else ``./data``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.exists():
            return candidate
    return Path("data")


def load_dataset(
    spec: str | Path | DatasetSpec,
    *,
    data_dir: Path | None = None,
    variables: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
) -> LoadedSurvey:
    """Read, join and validate the files of a spec into `SurveyData`.

    ``files`` overrides individual file paths by file name (e.g. ``{"survey": Path("my.csv")}``);
    other paths resolve against ``data_dir`` if given, else the spec's ``data_root``.
    """
    spec = spec if isinstance(spec, DatasetSpec) else load_spec(spec)
    variables = variables or {}
    files = files or {}
    frames = {}
    for f in spec.files:
        given = files.get(f.name)
        if given is not None and not Path(given).exists():
            raise InputFileError(f"file not found: {Path(given).resolve()}")
        path = Path(given) if given is not None else spec.locate(f, data_dir, variables)
        frames[f.name] = (read_raw(path, f), path, f)
    person_problems = pd.DataFrame(columns=REJECT_COLUMNS)
    effects: list[dict[str, Any]] = []
    n_persons = None
    if spec.persons is not None:
        from targeting.survey.prepare import aggregate_persons

        persons, ppath, pfile = frames[spec.persons.file]
        n_persons = len(persons)
        households, person_problems, effects = aggregate_persons(persons, spec.persons, spec, str(ppath))
        frames[spec.persons.file] = (households, ppath, pfile)
    raw, join_problems = _join(spec, frames)
    problems = pd.concat([p for p in (join_problems, person_problems) if len(p)], ignore_index=True) \
        if len(join_problems) or len(person_problems) else None
    loaded = frame_to_survey(raw, spec, where=str(frames[spec.files[0].name][1]), join_problems=problems)
    if spec.persons is not None and spec.persons.file == spec.files[0].name:
        # The rows read were persons; the households they make are what the rest counts.
        loaded = dataclasses.replace(loaded, n_input=int(n_persons or 0))
    if effects:
        loaded = dataclasses.replace(loaded, effects=effects + loaded.effects)
    return loaded


def _join(spec: DatasetSpec, frames: dict[str, tuple[pd.DataFrame, Path, Any]]
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-to-one joins; unmatched records on either side become rejects, never silent drops."""
    first = spec.files[0].name
    raw = frames[first][0]
    lost = []
    for j in spec.joins:
        right, rpath, _ = frames[j.file]
        require_columns(raw, j.left_on, str(frames[first][1]))
        require_columns(right, j.right_on, str(rpath))
        for side, cols, path in ((raw, j.left_on, frames[first][1]), (right, j.right_on, rpath)):
            key = side[cols].astype("string").agg("|".join, axis=1)
            dup = key.duplicated(keep=False)
            if dup.any():
                rows = side.loc[dup, ROW].head(5).tolist()
                raise InputFileError(
                    f"{path}: join key {cols} is not unique (rows {rows}); a one-to-one join is required"
                )
        right = right.rename(columns={ROW: f"{ROW}@{j.file}"})
        left_keys = raw[j.left_on].astype("string").apply(lambda s: s.str.strip())
        right_keys = right[j.right_on].astype("string").apply(lambda s: s.str.strip())
        lk = left_keys.agg("|".join, axis=1)
        rk = right_keys.agg("|".join, axis=1)
        right = right.assign(_key=rk.to_numpy())
        merged = raw.assign(_key=lk.to_numpy()).merge(
            right, on="_key", how="outer", indicator=True, suffixes=("", f"@{j.file}")
        )
        right_only = merged["_merge"] == "right_only"
        if right_only.any():
            lost.append(pd.DataFrame({
                "row": merged.loc[right_only, f"{ROW}@{j.file}"].to_numpy(),
                "household_id": merged.loc[right_only, "_key"].to_numpy(),
                "column": f"join:{j.file}", "value": merged.loc[right_only, "_key"].to_numpy(),
                "reason": f"tidak ada pasangan di berkas {first}",
                "reason_en": f"no matching record in file {first}",
            }))
        left_only = merged["_merge"] == "left_only"
        merged["_unmatched"] = np.where(left_only, j.file, merged.get("_unmatched", ""))
        raw = merged.loc[~right_only].drop(columns=["_merge", "_key"]).reset_index(drop=True)
    lost_frame = pd.concat(lost, ignore_index=True) if lost else pd.DataFrame()
    return raw, lost_frame


def _household_ids(raw: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    if len(spec.household_id) == 1:
        return _as_text(raw[spec.household_id[0]]).reset_index(drop=True)
    parts = [_as_text(raw[c]).reset_index(drop=True) for c in spec.household_id]
    out = parts[0]
    for p in parts[1:]:
        out = out + "-" + p
    return out


def frame_to_survey(raw: pd.DataFrame, spec: DatasetSpec, *, where: str = "<frame>",
                    join_problems: pd.DataFrame | None = None) -> LoadedSurvey:
    """Validate an in-memory raw frame under a spec (used by files, the API and the synthetic data).

    The spec's row-local preparation (recodes, row filters, derived keys: `targeting.survey.prepare`)
    runs first, so a file read a chunk at a time gives the same result as the whole file.
    """
    from targeting.survey.prepare import prepare

    if not _has_default_index(raw):
        raw = raw.reset_index(drop=True)
    if ROW not in raw.columns:
        raw = raw.assign(**{ROW: np.arange(2, len(raw) + 2)})
    n_read = len(raw)
    prepared = prepare(raw, spec)
    raw = prepared.frame
    if len(prepared.rejects):
        gone = np.isin(raw[ROW].to_numpy(), prepared.rejects["row"].to_numpy())
        raw = raw.loc[~gone].reset_index(drop=True)
        join_problems = pd.concat([p for p in (join_problems, prepared.rejects) if p is not None and len(p)],
                                  ignore_index=True)
    notes = Problems()
    if spec.contract is not None:
        contract = load_contract(spec.contract)
        validated = validate_contract(raw, contract, where=where, extra_required=_role_columns(spec))
        validated = _with_absent_features(_with_roles_from_contract(validated, spec), contract)
        feature_types = _contract_feature_types(spec, contract, validated.accepted)
    else:
        validated = _validate_generic(raw, spec, where, notes)
        feature_types = {n: f.type for n, f in spec.features.items()}
    rejects = validated.rejects
    unmatched = raw.get("_unmatched")
    if unmatched is not None and (unmatched.astype(str) != "").any():
        # Left rows with no partner: reported, and removed from the accepted rows.
        pos = np.flatnonzero((unmatched.astype(str) != "").to_numpy())
        extra_rejects = pd.DataFrame({
            "row": raw[ROW].iloc[pos].to_numpy(),
            "household_id": _household_ids(raw, spec).iloc[pos].to_numpy(),
            "column": "join:" + unmatched.iloc[pos].astype(str), "value": "",
            "reason": "tidak ada pasangan di berkas gabungan",
            "reason_en": "no matching record in joined file",
        })
        # An unmatched row's empty joined cells are a consequence, not separate problems.
        rejects = rejects[~rejects["row"].isin(extra_rejects["row"])]
        rejects = pd.concat([rejects, extra_rejects], ignore_index=True)
        keep = ~np.isin(validated.accepted.attrs["source_rows"], raw[ROW].iloc[pos].to_numpy())
        acc = validated.accepted.loc[keep].reset_index(drop=True)
        acc.attrs["source_rows"] = validated.accepted.attrs["source_rows"][keep]
        validated = Validated(acc, rejects, validated.n_input, validated.ignored_columns)
    if join_problems is not None and len(join_problems):
        rejects = pd.concat([rejects, join_problems], ignore_index=True)
    data = _build_survey(validated.accepted, spec, feature_types, validated.arrays)
    note_table = _notes_table(notes, raw, spec, validated)
    effects = list(prepared.effects)
    if len(note_table):
        for (col, reason), n in note_table.groupby(["column", "reason_en"]).size().items():
            effects.append({"effect": "treated_as_missing", "column": col, "reason": reason, "n": int(n)})
    return LoadedSurvey(data=data, rejects=rejects.reset_index(drop=True),
                        n_input=n_read, ignored_columns=validated.ignored_columns,
                        excluded=prepared.excluded, notes=note_table, effects=effects,
                        arrays=validated.arrays)


def _notes_table(notes: Problems, raw: pd.DataFrame, spec: DatasetSpec, validated: Validated) -> pd.DataFrame:
    """Values the spec treats as missing, for the households that were accepted."""
    if not notes.parts:
        return empty_table(REJECT_COLUMNS)
    table = notes.table()
    pos = table["pos"].to_numpy(dtype=np.int64)
    rows = raw[ROW].to_numpy()[pos]
    keep = np.isin(rows, validated.accepted.attrs.get("source_rows", np.array([])))
    return pd.DataFrame({
        "row": rows[keep], "household_id": _household_ids(raw, spec).to_numpy()[pos][keep],
        **{c: table[c].to_numpy()[keep] for c in REJECT_COLUMNS[2:]},
    }, columns=REJECT_COLUMNS)


def _role_columns(spec: DatasetSpec) -> list[str]:
    cols = [*spec.household_id, spec.household_size]
    if spec.welfare is not None:
        cols.append(spec.welfare.column)
    if spec.weight:
        cols.append(spec.weight)
    for c in (spec.region_column, spec.cluster_column):
        if c:
            cols.append(c)
    if spec.poverty is not None:
        for c in (spec.poverty.line_column, spec.poverty.flag_column):
            if c:
                cols.append(c)
    return list(dict.fromkeys(cols))


def _with_roles_from_contract(validated: Validated, spec: DatasetSpec) -> Validated:
    """Welfare and weight are contract fields, but a spec may make them required."""
    acc = validated.accepted
    problems = Problems()
    for col in (spec.welfare.column if spec.welfare else None, spec.weight):
        if col and col in acc.columns:
            miss = acc[col].isna().to_numpy()
            problems.add(miss, col, acc[col], "wajib diisi untuk survei pelatihan",
                         "required in a training survey")
    if not problems.parts:
        return validated
    rows = pd.Series(acc.attrs["source_rows"])
    more = _split(acc, problems, rows, acc["household_id"].astype("string"), n_input=0, ignored=[])
    rejects = pd.concat([validated.rejects, more.rejects], ignore_index=True)
    return Validated(more.accepted, rejects, validated.n_input, validated.ignored_columns)


def _with_absent_features(validated: Validated, contract: Contract) -> Validated:
    """Add optional contract features absent from the input as all-missing typed columns."""
    acc = validated.accepted
    present = set(acc.columns.tolist())  # a set: each probe of a text Index costs ~5 µs
    absent = [n for n in contract.by_role("feature") if n not in present]
    if not absent:
        return validated
    extra = {}
    for name in absent:
        spec = contract.fields[name]
        if spec.type == "category":
            extra[name] = pd.Categorical([None] * len(acc), categories=contract.code_list(name))
        elif spec.type == "bool":
            extra[name] = pd.array([pd.NA] * len(acc), dtype="boolean")
        elif spec.type == "int":
            extra[name] = pd.array([pd.NA] * len(acc), dtype="Int64")
        else:
            extra[name] = np.full(len(acc), np.nan)
    out = pd.concat([acc, pd.DataFrame(extra, index=acc.index)], axis=1)
    out.attrs = acc.attrs
    arrays = None if validated.arrays is None else {**validated.arrays, **extra}
    return Validated(out, validated.rejects, validated.n_input, validated.ignored_columns, arrays)


def _contract_feature_types(spec: DatasetSpec, contract: Contract,
                            accepted: pd.DataFrame) -> dict[str, FeatureType]:
    # Optional feature fields a file leaves out are missing for every household (the model handles
    # missing values); the column is added by `_with_absent_features`, never guessed.
    names = list(contract.by_role("feature"))
    if spec.region_column in contract.fields and spec.region_column not in names:
        names.insert(0, spec.region_column)
    names += [c for c in spec.extra_features if c not in names]
    leaks = sorted(set(names) & set(spec.never_features))
    if leaks:
        raise SpecError(f"spec {spec.name!r}: never_features {leaks} would be features")
    types: dict[str, FeatureType] = {}
    for n in names:
        t = contract.fields[n].type
        types[n] = "categorical" if t == "category" else "binary" if t == "bool" else "numeric"
    return types


def _validate_generic(raw: pd.DataFrame, spec: DatasetSpec, where: str, notes: Problems) -> Validated:
    """Validate a survey without a contract: role columns and typed features from the spec."""
    ranks = [] if spec.community_ranks is None else [*spec.community_ranks.columns,
                                                      *spec.community_ranks.community]
    needed = [*_role_columns(spec), *spec.features, *spec.keep_columns,
              *{g.column for g in spec.groups.values()}, *ranks]
    require_columns(raw, needed, where)
    rows = raw[ROW].reset_index(drop=True)
    ids = _household_ids(raw, spec)
    check_unique_ids(ids, rows, where)
    problems = Problems()
    typed: dict[str, pd.Series] = {"household_id": ids}

    def number(col: str, *, positive: bool = False, allow_zero: bool = True, reason: str = "") -> None:
        s = raw[col].reset_index(drop=True)
        blank = blank_mask(s, _blank_values(spec))
        num, bad = parse_number(s, blank, _decimal(spec))
        problems.add(bad, col, s, "bukan angka", "not a number")
        problems.add(blank, col, s, "wajib diisi", f"required value is empty{reason}")
        if positive:
            low = (num <= 0) if not allow_zero else (num < 0)
            problems.add(np.isfinite(num) & low, col, s, "harus positif", "must be positive")
        typed[col] = pd.Series(num)

    if spec.welfare is not None and spec.welfare.is_money:
        number(spec.welfare.column, positive=True, allow_zero=True)
    elif spec.welfare is not None:
        wcol = spec.welfare.column
        s = raw[wcol].reset_index(drop=True)
        blank = blank_mask(s, _blank_values(spec))
        problems.add(blank, wcol, s, "wajib diisi", "required value is empty")
        text = _as_text(s)
        if spec.welfare.measure == "class":
            allowed = [_code_text(c) for c in spec.welfare.classes or []]
            bad = ~blank & ~text.isin(allowed).fillna(False).to_numpy(dtype=bool)
            problems.add(bad, wcol, s, f"bukan kelas yang sah (pilihan: {', '.join(allowed)})",
                         f"not a valid class (allowed: {', '.join(allowed)})")
        typed[wcol] = text
    if spec.weight:
        number(spec.weight, positive=True, allow_zero=False)
    number(spec.household_size, positive=True, allow_zero=False)
    if spec.poverty is not None and spec.poverty.line_column:
        number(spec.poverty.line_column, positive=True, allow_zero=False)
    for col in (spec.region_column, spec.cluster_column, spec.poverty.flag_column if spec.poverty else None):
        if col is not None:
            s = raw[col].reset_index(drop=True)
            blank = blank_mask(s, _blank_values(spec))
            problems.add(blank, col, s, "wajib diisi", "required value is empty")
            typed[col] = _as_text(s)
    for name, fspec in spec.features.items():
        typed[name] = _parse_feature(raw[name].reset_index(drop=True), name, fspec, spec, problems, notes)
    for col in {*spec.keep_columns, *(g.column for g in spec.groups.values()), *ranks} - set(typed):
        typed[col] = raw[col].reset_index(drop=True)
    frame = pd.DataFrame(typed)
    ignored = [c for c in raw.columns if c not in needed and c != ROW and not c.startswith(ROW)
               and c not in spec.never_features and c != "_unmatched"]
    return _split(frame, problems, rows, ids, n_input=len(raw), ignored=ignored)


def _blank_values(spec: DatasetSpec) -> list[str]:
    vals = {""}
    for f in spec.files:
        vals |= {v.strip() for v in f.blank_values}
    return sorted(vals)


def _decimal(spec: DatasetSpec) -> str:
    # All files of a spec share one locale in practice; take the first file's decimal mark.
    return spec.files[0].decimal


def _code_text(v: Any) -> str:
    """A code from a spec as the cell text it matches (``1.0`` as ``1``)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _parse_feature(s: pd.Series, name: str, fspec: FeatureSpec, spec: DatasetSpec,
                   problems: Problems, notes: Problems | None = None) -> pd.Series:
    missing_codes = [str(c) for c in (*spec.missing_codes, *fspec.missing_codes)]
    text = _as_text(s)
    is_missing_code = text.isin(missing_codes).fillna(False).to_numpy(dtype=bool)
    blank = blank_mask(s, _blank_values(spec)) | is_missing_code
    if fspec.type == "categorical":
        values = text.where(~pd.Series(blank, index=s.index))
        if fspec.codes is not None:
            codes = [str(c) for c in fspec.codes]
            bad = ~blank & ~values.isin(codes).fillna(False).to_numpy(dtype=bool)
            problems.add(bad, name, s, f"bukan kode yang sah (pilihan: {', '.join(codes)})",
                         f"not a valid code (allowed: {', '.join(codes)})")
            cats = codes
        else:
            cats = sorted(values.dropna().unique().tolist(), key=_natural)
        return pd.Series(pd.Categorical(values, categories=cats), index=s.index)
    num, bad = parse_number(s, blank, _decimal(spec))
    problems.add(bad, name, s, "bukan angka", "not a number")
    if fspec.type == "binary":
        problems.add(np.isfinite(num) & ~np.isin(num, [0.0, 1.0]), name, s, "harus 0 atau 1",
                     "must be 0 or 1")
    lo = -np.inf if fspec.min is None else fspec.min
    hi = np.inf if fspec.max is None else fspec.max
    outside = np.isfinite(num) & ((num < lo) | (num > hi))
    if fspec.out_of_range == "missing" and notes is not None:
        # The spec says so: the value is dropped from this household, which is kept, and counted.
        notes.add(outside, name, s, f"di luar rentang [{lo}, {hi}]: dianggap kosong",
                  f"out of range [{lo}, {hi}]: treated as missing")
        num = np.where(outside, np.nan, num)
    else:
        problems.add(outside, name, s, f"di luar rentang [{lo}, {hi}]", f"out of range [{lo}, {hi}]")
    return pd.Series(num)


def _natural(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _build_survey(acc: pd.DataFrame, spec: DatasetSpec, feature_types: dict[str, FeatureType],
                  arrays: Mapping[str, Any] | None = None) -> SurveyData:
    """Split the accepted frame into the roles of `SurveyData`.

    ``arrays`` are ``acc``'s columns as typed arrays when the validation still has them
    (`Validated.arrays`); otherwise they are read from the frame. The frame and the Series fields read
    from it (ids, region, cluster, poverty) carry its attrs, as they always have.
    """
    if arrays is None:
        # Reading a column copies the frame's attrs (every source row number) into the Series: read the
        # values from a shallow copy without them.
        plain = acc.copy(deep=False)
        plain.attrs = {}
        arrays = {name: plain[name].array for name in plain.columns}
    # Columns are collected first and framed once: inserting them one by one costs ~50 µs each.
    columns: dict[str, Any] = {}
    for name, kind in feature_types.items():
        values = arrays[name]
        if kind != "categorical":
            columns[name] = float_values(values)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            columns[name] = values
        else:
            columns[name] = pd.Series(values).astype("category").array
    # Consolidated: the ~25 float features in one block, which design_frame's copy then copies once.
    features = frame_of(columns, acc.index, consolidate=True)
    size = float_values(arrays[spec.household_size])
    weight = float_values(arrays[spec.weight]) if spec.weight else np.ones(len(acc))
    welfare = None
    measure: str = spec.welfare_kind or "per_capita"
    class_poor: np.ndarray | None = None
    if spec.welfare is not None and spec.welfare.column in acc.columns:
        if spec.welfare.is_money:
            w = float_values(arrays[spec.welfare.column])
            welfare = pd.Series(w if measure == "per_capita" else w / size, name="welfare")
        else:
            # An ordinal class becomes its rank (1 = poorest); a flag 0 (poor) / 1 (not poor).
            text = _as_text(pd.Series(arrays[spec.welfare.column])).to_numpy(dtype=object)
            class_poor = np.isin(text, [_code_text(v) for v in spec.welfare.poor or []])
            if measure == "class":
                order = {_code_text(v): i + 1 for i, v in enumerate(spec.welfare.classes or [])}
                welfare = pd.Series([float(order[t]) for t in text], dtype="float64", name="welfare")
            else:
                welfare = pd.Series((~class_poor).astype(np.float64), name="welfare")
    line, poor = _poverty(acc, spec, welfare if measure in ("per_capita", "total") else None, weight * size)
    if class_poor is not None:
        poor = pd.Series(class_poor, name="poor")
    if welfare is not None and spec.welfare is not None and spec.welfare.log_floor is not None:
        # Poverty status above used the raw value; the log-welfare PMT target gets the documented floor.
        welfare = welfare.clip(lower=spec.welfare.log_floor)
    # Read once: the region is both a SurveyData field and an audit group.
    region = _as_string(acc[spec.region_column]) if spec.region_column else None
    groups = _groups(arrays, spec, region, acc.index)
    return SurveyData(
        name=spec.name,
        frame=acc,
        features=features,
        feature_types=feature_types,
        household_id=_text_series(acc, arrays, "household_id", "household_id"),
        weight=pd.Series(weight, name="weight"),
        household_size=pd.Series(size, name="household_size"),
        welfare=welfare,
        region=region.rename("region") if region is not None else None,
        cluster=_text_series(acc, arrays, spec.cluster_column, "cluster") if spec.cluster_column else None,
        region_column=spec.region_column,
        cluster_column=spec.cluster_column,
        welfare_kind=measure,
        leak_allowed=dict(spec.welfare_leak_allowed),
        poverty_line=line,
        poor=poor,
        groups=groups,
    )


def _text_series(acc: pd.DataFrame, arrays: Mapping[str, Any], column: str, name: str) -> pd.Series:
    """``_as_string(acc[column]).rename(name)``: a text column's array framed once, with the frame's attrs.

    Reading the column from the frame, copying it and renaming it build three Series (~0.1 ms for
    one household); a ``string`` array becomes the same Series directly.
    """
    values = arrays.get(column)
    if values is None or values.dtype != "string":
        return _as_string(acc[column]).rename(name)
    out = pd.Series(values.copy(), index=acc.index, name=name, copy=False)
    out.attrs = copy.deepcopy(acc.attrs)  # what reading a column from the frame gives it
    return out


def _as_string(col: pd.Series) -> pd.Series:
    """``col.astype("string")``: for a column of that dtype already, the copy it makes, made directly.

    A categorical column of text (the region) takes each row's text from its category by code
    (`_string_cells`), ~0.1 ms less than converting it row by row; attrs, index and name are kept.
    """
    if col.dtype == "string":
        return col.copy()
    if isinstance(col.dtype, pd.CategoricalDtype) and _is_arrow_text(col.dtype.categories.dtype):
        out = pd.Series(_string_array(_string_cells(col)), index=col.index, name=col.name)
        out.attrs = col.attrs  # the column's own copy of the frame's attrs
        return out
    return col.astype("string")


_FLOAT_READY = ("Int64", "boolean", "Float64", "float64")


def _float64(values: Any) -> np.ndarray:
    """``pd.Series(values).astype("float64").to_numpy()``.

    The nullable and float arrays that the validation gives are read directly (`float_values`: the
    same numbers, NaN where missing), without a Series.
    """
    if getattr(values, "dtype", None) is not None and values.dtype.name in _FLOAT_READY:
        return float_values(values)
    return pd.Series(values).astype("float64").to_numpy()


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight share reaches ``q``."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def _poverty(acc: pd.DataFrame, spec: DatasetSpec, welfare: pd.Series | None,
             pop_weight: np.ndarray) -> tuple[pd.Series | None, pd.Series | None]:
    pv = spec.poverty
    if pv is None:
        return None, None
    line: pd.Series | None = None
    if pv.line is not None:
        line = pd.Series(np.full(len(acc), pv.line), name="poverty_line")
    elif pv.line_column:
        line = pd.Series(acc[pv.line_column].astype("float64").to_numpy(), name="poverty_line")
    elif pv.bottom_share is not None and welfare is not None and len(acc):
        cut = weighted_quantile(welfare.to_numpy(), pop_weight, pv.bottom_share)
        line = pd.Series(np.full(len(acc), cut), name="poverty_line")
    poor: pd.Series | None = None
    if pv.flag_column:
        # The flag's text (a yes/no cell as ``true``) against the spec's values written the same way.
        flag = _as_text(acc[pv.flag_column])
        poor_texts = [cell_text(v) for v in pv.flag_poor_values]
        poor = flag.isin(poor_texts).fillna(False).astype(bool).rename("poor")
    elif line is not None and welfare is not None:
        poor = pd.Series(welfare.to_numpy() < line.to_numpy(), name="poor")
    return line, poor


def _groups(arrays: Mapping[str, Any], spec: DatasetSpec, region: pd.Series | None,
            index: pd.Index) -> pd.DataFrame:
    """Audit group attributes; nullable booleans and band labels are missing where the input is."""
    out: dict[str, Any] = {}
    if region is not None:
        out["region"] = region.array  # the Series shares the index
    for name, g in spec.groups.items():
        values = arrays[g.column]
        if g.bins is not None:
            out[name] = _bands(_float64(values), tuple(g.bins))
        elif g.equals is not None:
            # `text == value` of pandas' string dtype is this kernel: missing text gives a missing answer.
            # The spec's value is compared as a cell would print it: YAML's ``true`` as ``true``
            # (``str`` gave ``True``, which no yes/no cell ever equals), ``1.0`` as ``1``.
            text = _text(pd.Series(values))
            wanted = pa.scalar(cell_text(g.equals), text.type)
            out[name] = pd.BooleanDtype().__from_arrow__(pc.equal(text, wanted))
        elif g.isin is not None:
            wanted_texts = [cell_text(v) for v in g.isin]
            out[name] = _as_text(pd.Series(values)).isin(wanted_texts).astype("boolean").array
        elif g.at_least is not None:
            x = float_values(values)
            out[name] = pd.arrays.BooleanArray(x >= g.at_least, np.isnan(x))
        else:
            out[name] = values
    return frame_of(out, index)


@cache
def _band_edges(bins: tuple[float, ...]) -> tuple[np.ndarray, pa.Array]:
    """Left-closed band edges (``bins`` then +inf) and their labels ("1", "2-3", "6+")."""
    edges = [*bins, np.inf]
    labels = [
        f"{int(a)}-{int(b) - 1}" if np.isfinite(b) and b - a > 1 else (f"{int(a)}" if np.isfinite(b)
                                                                     else f"{int(a)}+")
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    # pd.cut refuses edges that do not increase and repeated labels: let it, once, with its own message.
    pd.cut(np.array([], dtype="float64"), edges, right=False, labels=labels)
    return np.asarray(edges, dtype="float64"), pa.array(labels, type=pa.large_string())


def _bands(x: np.ndarray, bins: tuple[float, ...]) -> Any:
    """The band label of each value, missing outside the bands: ``pd.cut(..., right=False)`` as text.

    pd.cut's own rule, without building a Categorical: position by ``searchsorted(side="right")``,
    missing for NaN, below the first edge or at +inf.
    """
    edges, labels = _band_edges(bins)
    ids = np.searchsorted(edges, x, side="right")
    missing = np.isnan(x) | (ids == 0) | (ids == len(edges))
    return _string_array(labels.take(pa.array(ids - 1, mask=missing)))
