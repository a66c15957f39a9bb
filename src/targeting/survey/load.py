"""Turn files described by a dataset spec into a validated `SurveyData` plus a rejects table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.errors import InputFileError, SpecError
from targeting.survey.contract import Contract, load_contract
from targeting.survey.dataset import FeatureType, SurveyData
from targeting.survey.read import ROW, read_raw
from targeting.survey.spec import DatasetSpec, FeatureSpec, load_spec
from targeting.survey.validate import (
    Problems,
    Validated,
    _as_text,
    _split,
    blank_mask,
    check_unique_ids,
    parse_number,
    require_columns,
    validate_contract,
)

DATA_DIR_ENV = "TARGETING_DATA_DIR"


@dataclass(frozen=True)
class LoadedSurvey:
    """A loaded survey: the accepted households as `SurveyData`, and every rejected one with reasons."""

    data: SurveyData
    rejects: pd.DataFrame
    n_input: int
    ignored_columns: list[str]

    @property
    def n_rejected_rows(self) -> int:
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0


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

    ``files`` overrides individual file paths by file name (e.g. ``{"survey": Path("my.csv")}``).
    """
    spec = spec if isinstance(spec, DatasetSpec) else load_spec(spec)
    data_dir = data_dir or default_data_dir()
    variables = variables or {}
    files = files or {}
    frames = {}
    for f in spec.files:
        path = files.get(f.name) or spec.resolve_path(f, data_dir, variables)
        frames[f.name] = (read_raw(Path(path), f), Path(path), f)
    raw, join_problems = _join(spec, frames)
    return frame_to_survey(raw, spec, where=str(frames[spec.files[0].name][1]),
                           join_problems=join_problems)


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
    """Validate an in-memory raw frame under a spec (used by files, the API and the synthetic data)."""
    raw = raw.reset_index(drop=True)
    if ROW not in raw.columns:
        raw = raw.assign(**{ROW: np.arange(2, len(raw) + 2)})
    if spec.contract is not None:
        contract = load_contract(spec.contract)
        validated = validate_contract(raw, contract, where=where, extra_required=_role_columns(spec))
        validated = _with_absent_features(_with_roles_from_contract(validated, spec), contract)
        feature_types = _contract_feature_types(spec, contract, validated.accepted)
    else:
        validated = _validate_generic(raw, spec, where)
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
    data = _build_survey(validated.accepted, spec, feature_types)
    return LoadedSurvey(data=data, rejects=rejects.reset_index(drop=True),
                        n_input=validated.n_input, ignored_columns=validated.ignored_columns)


def _role_columns(spec: DatasetSpec) -> list[str]:
    cols = [*spec.household_id, spec.household_size]
    if spec.welfare is not None:
        cols.append(spec.welfare.column)
    if spec.weight:
        cols.append(spec.weight)
    for c in (spec.region, spec.cluster):
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
    absent = [n for n in contract.by_role("feature") if n not in acc.columns]
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
    return Validated(out, validated.rejects, validated.n_input, validated.ignored_columns)


def _contract_feature_types(spec: DatasetSpec, contract: Contract,
                            accepted: pd.DataFrame) -> dict[str, FeatureType]:
    # Optional feature fields a file leaves out are missing for every household (the model handles
    # missing values); the column is added by `_with_absent_features`, never guessed.
    names = list(contract.by_role("feature"))
    if spec.region and spec.region not in names:
        names.insert(0, spec.region)
    names += [c for c in spec.extra_features if c not in names]
    leaks = sorted(set(names) & set(spec.never_features))
    if leaks:
        raise SpecError(f"spec {spec.name!r}: never_features {leaks} would be features")
    types: dict[str, FeatureType] = {}
    for n in names:
        t = contract.fields[n].type
        types[n] = "categorical" if t == "category" else "binary" if t == "bool" else "numeric"
    return types


def _validate_generic(raw: pd.DataFrame, spec: DatasetSpec, where: str) -> Validated:
    """Validate a survey without a contract: role columns and typed features from the spec."""
    needed = [*_role_columns(spec), *spec.features, *spec.keep_columns,
              *{g.column for g in spec.groups.values()}]
    require_columns(raw, needed, where)
    rows = raw[ROW].reset_index(drop=True)
    ids = _household_ids(raw, spec)
    check_unique_ids(ids, rows, where)
    problems = Problems()
    typed: dict[str, pd.Series] = {"household_id": ids}

    def number(col: str, *, positive: bool = False, allow_zero: bool = True, reason: str = "") -> None:
        s = raw[col].reset_index(drop=True)
        blank = blank_mask(s, _blank_values(spec))
        num, bad = parse_number(s, blank, _decimal(spec, col))
        problems.add(bad, col, s, "bukan angka", "not a number")
        problems.add(blank, col, s, "wajib diisi", f"required value is empty{reason}")
        arr = num.to_numpy(dtype="float64", na_value=np.nan)
        if positive:
            low = (arr <= 0) if not allow_zero else (arr < 0)
            problems.add(np.isfinite(arr) & low, col, s, "harus positif", "must be positive")
        typed[col] = num

    if spec.welfare is not None:
        number(spec.welfare.column, positive=True, allow_zero=True)
    if spec.weight:
        number(spec.weight, positive=True, allow_zero=False)
    number(spec.household_size, positive=True, allow_zero=False)
    if spec.poverty is not None and spec.poverty.line_column:
        number(spec.poverty.line_column, positive=True, allow_zero=False)
    for col in (spec.region, spec.cluster, spec.poverty.flag_column if spec.poverty else None):
        if col:
            s = raw[col].reset_index(drop=True)
            blank = blank_mask(s, _blank_values(spec))
            problems.add(blank, col, s, "wajib diisi", "required value is empty")
            typed[col] = _as_text(s)
    for name, fspec in spec.features.items():
        typed[name] = _parse_feature(raw[name].reset_index(drop=True), name, fspec, spec, problems)
    for col in {*spec.keep_columns, *(g.column for g in spec.groups.values())} - set(typed):
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


def _decimal(spec: DatasetSpec, col: str) -> str:
    # All files of a spec share one locale in practice; take the first file's decimal mark.
    return spec.files[0].decimal


def _parse_feature(s: pd.Series, name: str, fspec: FeatureSpec, spec: DatasetSpec,
                   problems: Problems) -> pd.Series:
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
    num, bad = parse_number(s, blank, _decimal(spec, name))
    problems.add(bad, name, s, "bukan angka", "not a number")
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    if fspec.type == "binary":
        problems.add(np.isfinite(arr) & ~np.isin(arr, [0.0, 1.0]), name, s, "harus 0 atau 1",
                     "must be 0 or 1")
    lo = -np.inf if fspec.min is None else fspec.min
    hi = np.inf if fspec.max is None else fspec.max
    problems.add(np.isfinite(arr) & ((arr < lo) | (arr > hi)), name, s,
                 f"di luar rentang [{lo}, {hi}]", f"out of range [{lo}, {hi}]")
    return num.astype("float64")


def _natural(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _build_survey(acc: pd.DataFrame, spec: DatasetSpec,
                  feature_types: dict[str, FeatureType]) -> SurveyData:
    features = pd.DataFrame(index=acc.index)
    for name, kind in feature_types.items():
        col = acc[name]
        if kind == "categorical":
            features[name] = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
        else:
            features[name] = col.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    size = acc[spec.household_size].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    weight = (
        acc[spec.weight].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        if spec.weight else np.ones(len(acc))
    )
    welfare = None
    if spec.welfare is not None and spec.welfare.column in acc.columns:
        w = acc[spec.welfare.column].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        welfare = pd.Series(w if spec.welfare.per_capita else w / size, name="welfare")
    line, poor = _poverty(acc, spec, welfare, weight * size)
    if welfare is not None and spec.welfare is not None and spec.welfare.log_floor is not None:
        # Poverty status above used the raw value; the log-welfare PMT target gets the documented floor.
        welfare = welfare.clip(lower=spec.welfare.log_floor)
    groups = _groups(acc, spec)
    return SurveyData(
        name=spec.name,
        frame=acc,
        features=features,
        feature_types=feature_types,
        household_id=acc["household_id"].astype("string").rename("household_id"),
        weight=pd.Series(weight, name="weight"),
        household_size=pd.Series(size, name="household_size"),
        welfare=welfare,
        region=acc[spec.region].astype("string").rename("region") if spec.region else None,
        cluster=acc[spec.cluster].astype("string").rename("cluster") if spec.cluster else None,
        poverty_line=line,
        poor=poor,
        groups=groups,
    )


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
        flag = acc[pv.flag_column].astype("string")
        poor = flag.isin([str(v) for v in pv.flag_poor_values]).fillna(False).astype(bool).rename("poor")
    elif line is not None and welfare is not None:
        poor = pd.Series(welfare.to_numpy() < line.to_numpy(), name="poor")
    return line, poor


def _groups(acc: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    out = pd.DataFrame(index=acc.index)
    if spec.region:
        out["region"] = acc[spec.region].astype("string")
    for name, g in spec.groups.items():
        col = acc[g.column]
        if g.bins is not None:
            edges = [*g.bins, np.inf]
            labels = [
                f"{int(a)}-{int(b) - 1}" if np.isfinite(b) and b - a > 1 else (f"{int(a)}" if np.isfinite(b)
                                                                             else f"{int(a)}+")
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
            out[name] = pd.cut(col.astype("float64"), edges, right=False, labels=labels).astype("string")
        elif g.equals is not None:
            out[name] = (_as_text(col) == str(g.equals)).astype("boolean")
        elif g.isin is not None:
            out[name] = _as_text(col).isin([str(v) for v in g.isin]).astype("boolean")
        elif g.at_least is not None:
            out[name] = (col.astype("Float64") >= g.at_least).astype("boolean")
        else:
            out[name] = col
    return out
