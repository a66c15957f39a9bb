"""Score a registry file end to end in bounded memory: validate, rank, decide, write, in two passes.

Pass 1 reads the file a chunk at a time, validates it (rejects are written as they are found),
predicts, and keeps only what ranking needs: the prediction, the persons each household represents
and its region (about 18 bytes a household). Ranks come from all of them at once
(`targeting.decide.ranking`). Pass 2 reads the file again, validates the same chunks the same way,
decides each one (`Scorer.decide`: exact contributions, programmes, selection, rules, reasons) and
appends it to the decisions Parquet file as a row group. With ``ranking="reference"`` a household's
rank depends on it alone and one pass suffices.

A spec that joins files, aggregates persons into households or defines the poor as a bottom share of
the whole survey cannot be judged a chunk at a time: it is loaded whole, then decided in chunks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from targeting.decide import schema as s
from targeting.decide.scorer import Scorer
from targeting.errors import InputFileError
from targeting.survey.load import LoadedSurvey, frame_to_survey, load_dataset
from targeting.survey.read import STREAMABLE_FORMATS, count_rows, detect_format, iter_raw
from targeting.survey.spec import DatasetSpec

__all__ = ["DEFAULT_CHUNK_ROWS", "ScoreOutcome", "score_dataset"]

DEFAULT_CHUNK_ROWS = 65_536
DECISIONS_FILE = "decisions.parquet"
REJECTS_FILE = "rejects.csv"
EXCLUDED_FILE = "excluded.csv"  # rows the spec's filters left out, each with the filter's reason
NOTES_FILE = "treated_as_missing.csv"  # values the spec treats as missing (out_of_range: missing)
SUMMARY_FILE = "summary.json"

#: progress(phase, rows done in this phase, rows expected or None)
Progress = Callable[[str, int, int | None], None]


@dataclass
class ScoreOutcome:
    """What a scoring run wrote and counted."""

    out_dir: Path
    decisions: Path
    rejects: Path | None
    summary: Path
    meta: s.DecisionsMeta
    n_input: int
    n_rejected: int
    n_excluded: int
    n_households: int
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    extra_files: dict[str, Path] = field(default_factory=dict)
    effects: list[dict[str, Any]] = field(default_factory=list)


def streamable(spec: DatasetSpec) -> bool:
    """Whether the spec's files can be judged a chunk at a time."""
    if len(spec.files) != 1 or spec.joins:
        return False
    # A within-community rank needs the whole community: a file with ranks is read whole.
    return (spec.poverty is None or spec.poverty.bottom_share is None) and spec.community_ranks is None


class _Source:
    """The validated chunks of a dataset, the same ones every time it is iterated."""

    def __init__(self, spec: DatasetSpec, *, files: dict[str, Path] | None, data_dir: Path | None,
                 variables: dict[str, Any] | None, chunk_rows: int) -> None:
        self.spec = spec
        self.files = dict(files or {})
        self.data_dir = data_dir
        self.variables = dict(variables or {})
        self.chunk_rows = chunk_rows
        first = spec.files[0]
        self.paths = [Path(self.files[f.name]) if f.name in self.files
                      else spec.locate(f, self.data_dir, self.variables) for f in spec.files]
        self.path = self.paths[0]
        fmt = detect_format(self.path, first.format) if self.path.suffix or first.format != "auto" else "csv"
        self.streams = streamable(spec) and fmt in STREAMABLE_FORMATS
        self._whole: LoadedSurvey | None = None
        self.expected_rows = count_rows(self.path, first) if self.streams else None

    def chunks(self) -> Iterator[LoadedSurvey]:
        if self.streams:
            where = str(self.path)
            for raw in iter_raw(self.path, self.spec.files[0], chunk_rows=self.chunk_rows):
                yield frame_to_survey(raw, self.spec, where=where)
            return
        if self._whole is None:
            self._whole = load_dataset(self.spec, data_dir=self.data_dir, variables=self.variables,
                                       files=self.files or None)
        whole = self._whole
        n = len(whole.data)
        if n == 0:
            yield whole
            return
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            part = whole.data if (start, stop) == (0, n) else whole.data.subset(list(range(start, stop)))
            # Rejects and counts belong to the whole file: reported with its first chunk only.
            yield LoadedSurvey(data=part, rejects=whole.rejects if start == 0 else whole.rejects.iloc[:0],
                               n_input=whole.n_input if start == 0 else 0,
                               ignored_columns=whole.ignored_columns,
                               excluded=whole.excluded if start == 0 else whole.excluded.iloc[:0],
                               notes=whole.notes if start == 0 else whole.notes.iloc[:0],
                               effects=whole.effects if start == 0 else [])


def _n_excluded(loaded: LoadedSurvey) -> int:
    return loaded.n_excluded_rows


def _sum_effects(total: list[dict[str, Any]], more: list[dict[str, Any]]) -> None:
    """Add a chunk's spec effects (recodes, filters, values treated as missing) to the run's."""
    for e in more:
        key = {k: v for k, v in e.items() if k not in ("n", "persons", "households")}
        for t in total:
            if {k: v for k, v in t.items() if k not in ("n", "persons", "households")} == key:
                for k in ("n", "persons", "households"):
                    if k in e:
                        t[k] = t.get(k, 0) + e[k]
                break
        else:
            total.append(dict(e))


class _RejectsWriter:
    """Appends each chunk's rejects (and rows excluded by the spec) to one CSV, header once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n_lines = 0
        self.rows: set[int] = set()

    def add(self, rejects: pd.DataFrame) -> None:
        if not len(rejects):
            return
        from targeting.survey.outputs import write_rejects_chunk

        write_rejects_chunk(rejects, self.path, header=self.n_lines == 0)
        self.n_lines += len(rejects)
        self.rows.update(int(r) for r in rejects["row"].dropna().unique())


def _normalise_schema(schema: pa.Schema) -> pa.Schema:
    """Dictionary columns with int32 indices (a chunk may hold more distinct texts than int8 codes)."""
    fields = []
    for f in schema:
        if pa.types.is_dictionary(f.type):
            f = f.with_type(pa.dictionary(pa.int32(), f.type.value_type))
        elif pa.types.is_null(f.type):
            f = f.with_type(pa.large_string())
        fields.append(f)
    return pa.schema(fields)


class _DecisionsWriter:
    """Writes decision chunks as row groups of one Parquet file; the table's metadata goes in its footer.

    The footer is written last, so the counts known only at the end (rejected, excluded) fit in it
    without rewriting the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.n = 0

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.schema is None:
            self.schema = _normalise_schema(table.schema)
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        assert self.writer is not None
        self.writer.write_table(_cast(table, self.schema))
        self.n += len(frame)

    def close(self, meta: s.DecisionsMeta, empty: pd.DataFrame | None = None) -> None:
        if self.writer is None:
            if empty is None:
                raise InputFileError("no households were accepted, so there is nothing to score")
            self.write(empty)
        assert self.writer is not None
        self.writer.add_key_value_metadata({s.META_KEY.decode(): meta.to_bytes().decode("utf-8")})
        self.writer.close()

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.path.unlink(missing_ok=True)


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema.equals(schema, check_metadata=False):
        return table.replace_schema_metadata(schema.metadata)
    columns = []
    for f in schema:
        col = table.column(f.name)
        if col.type != f.type:
            if pa.types.is_dictionary(f.type) and not pa.types.is_dictionary(col.type):
                col = pa.compute.dictionary_encode(col.cast(f.type.value_type))
            col = col.cast(f.type)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def _counts(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-chunk tallies into the run's summary."""
    out: dict[str, Any] = {}
    for t in tables:
        for k, v in t.items():
            if isinstance(v, dict):
                inner = out.setdefault(k, {})
                for kk, vv in v.items():
                    inner[kk] = inner.get(kk, 0) + vv
            else:
                out[k] = out.get(k, 0) + v
    return out


def _tally(table: pd.DataFrame) -> dict[str, Any]:
    """What the summary reports about a chunk of decisions (households, persons, by desil...)."""
    w = table[s.WEIGHT].to_numpy(dtype=np.float64)
    persons = w * table[s.HOUSEHOLD_SIZE].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {
        "households": int(len(table)),
        "weighted_households": float(w.sum()),
        "weighted_persons": float(persons.sum()),
        "selected": int(table[s.SELECTED].sum()),
        "selected_persons": float(persons[table[s.SELECTED].to_numpy(dtype=bool)].sum()),
        "desil": {str(d): int(c) for d, c in zip(*np.unique(table[s.DESIL].to_numpy(), return_counts=True),
                                                 strict=True)},
        "programs": {c.removeprefix(s.PROGRAM_PREFIX): int(table[c].sum())
                     for c in table.columns if c.startswith(s.PROGRAM_PREFIX)},
    }
    if s.RULE_VERDICT in table:
        v = table[s.RULE_VERDICT].astype("string")
        out["verdicts"] = {str(k): int(n) for k, n in v.value_counts().items()}
    if s.POOR_TRUE in table:
        out["with_truth"] = int(table[s.POOR_TRUE].notna().sum())
    return out


def score_dataset(
    scorer: Scorer,
    spec: DatasetSpec,
    out_dir: Path,
    *,
    files: dict[str, Path] | None = None,
    data_dir: Path | None = None,
    variables: dict[str, Any] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    package_version: str = "",
) -> ScoreOutcome:
    """Score every household of a dataset into ``out_dir/decisions.parquet`` (+ rejects, summary).

    Raises `InputFileError` for a file that cannot be used at all (nothing is written then except
    the rejects found so far), and when no household is accepted.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda phase, done, total: None)
    source = _Source(spec, files=files, data_dir=data_dir, variables=variables, chunk_rows=chunk_rows)
    rejects = _RejectsWriter(out_dir / REJECTS_FILE)
    excluded = _RejectsWriter(out_dir / EXCLUDED_FILE)
    notes = _RejectsWriter(out_dir / NOTES_FILE)
    for w in (rejects, excluded, notes):
        w.path.unlink(missing_ok=True)
    effects: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    n_input = n_excluded = 0
    start = time.perf_counter()

    # ---- pass 1: validate, predict, keep what ranking needs ---------------------------------------
    preds: list[np.ndarray] = []
    pops: list[np.ndarray] = []
    regions: list[np.ndarray] = []
    id_hashes: list[np.ndarray] = []
    one_pass = scorer.ranking == "reference"
    decisions_path = out_dir / DECISIONS_FILE
    meta = _meta(scorer, spec, source, package_version)
    writer = _DecisionsWriter(decisions_path) if one_pass else None
    tallies: list[dict[str, Any]] = []
    empty_table: pd.DataFrame | None = None
    done = 0
    for loaded in source.chunks():
        rejects.add(loaded.rejects)
        excluded.add(loaded.excluded)
        notes.add(loaded.notes)
        _sum_effects(effects, loaded.effects)
        n_input += loaded.n_input
        n_excluded += _n_excluded(loaded)
        data = loaded.data
        id_hashes.append(pd.util.hash_array(data.household_id.astype(str).to_numpy(dtype=object)))
        if one_pass:
            assert writer is not None
            if len(data):
                decided = scorer.decide(data)
                writer.write(decided.table)
                tallies.append(_tally(decided.table))
            elif empty_table is None:
                empty_table = scorer.decide(data).table
        elif len(data):
            preds.append(scorer.predict(data))
            pops.append(data.population_weight.to_numpy(dtype=np.float64))
            regions.append(np.zeros(len(data), dtype=object) if data.region is None
                           else data.region.astype(str).to_numpy(dtype=object))
        done += loaded.n_input
        progress("pass1", done, source.expected_rows)
    seconds["pass1"] = time.perf_counter() - start
    _check_unique(id_hashes, source)
    n_households = int(sum(len(h) for h in id_hashes))
    if n_households == 0:
        if writer is not None:
            writer.abandon()
        raise InputFileError(
            f"{source.path}: no household was accepted ({n_input:,} rows read, {len(rejects.rows):,} "
            f"rejected, {n_excluded:,} excluded by the spec); see {rejects.path}"
        )

    # ---- ranks, then pass 2: decide and write -------------------------------------------------------
    if not one_pass:
        t0 = time.perf_counter()
        pred = np.concatenate(preds)
        del preds
        has_region = spec.region_column is not None
        ranks = scorer.rank(pred, np.concatenate(pops), np.concatenate(regions) if has_region else None)
        del pops, regions
        seconds["rank"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        writer = _DecisionsWriter(decisions_path)
        offset = 0
        for loaded in source.chunks():
            data = loaded.data
            if not len(data):
                continue
            part = ranks.rows(slice(offset, offset + len(data)))
            offset += len(data)
            decided = scorer.decide(data, part)
            writer.write(decided.table)
            tallies.append(_tally(decided.table))
            progress("pass2", offset, n_households)
        if offset != n_households:  # pragma: no cover - the same file read twice gives the same rows
            raise InputFileError(f"{source.path} changed while it was being scored: read it again")
        seconds["pass2"] = time.perf_counter() - t0
    assert writer is not None
    meta = meta.model_copy(update={"n_input": n_input, "n_rejected": len(rejects.rows),
                                   "n_excluded": n_excluded, "n_households": n_households})
    writer.close(meta, empty_table)
    seconds["total"] = time.perf_counter() - start
    counts = _counts(tallies)
    summary = out_dir / SUMMARY_FILE
    payload = {"meta": meta.model_dump(mode="json"), "counts": counts, "seconds": seconds,
               "spec_effects": effects,
               "files": {"decisions": decisions_path.name,
                         **{w.path.stem: (w.path.name if w.n_lines else None)
                            for w in (rejects, excluded, notes)}}}
    summary.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    outcome = ScoreOutcome(out_dir, decisions_path, rejects.path if rejects.n_lines else None, summary, meta,
                           n_input, len(rejects.rows), n_excluded, n_households, counts, seconds)
    outcome.effects = effects
    outcome.extra_files.update({w.path.stem: w.path for w in (excluded, notes) if w.n_lines})
    return outcome


def _check_unique(hashes: list[np.ndarray], source: _Source) -> None:
    """A household id must be unique across the whole file, not only within a chunk."""
    if len(hashes) <= 1:
        return  # within one chunk, the validation already refused repeated ids
    allh = np.concatenate(hashes)
    uniq, counts = np.unique(allh, return_counts=True)
    if (counts > 1).any():
        dup = set(uniq[counts > 1].tolist())
        seen: list[str] = []
        for loaded in source.chunks():  # find the ids behind the repeated hashes, for the message
            ids = loaded.data.household_id.astype(str)
            hit = pd.util.hash_array(ids.to_numpy(dtype=object))
            seen += ids[np.isin(hit, list(dup))].tolist()
            if len(seen) >= 10:
                break
        raise InputFileError(
            f"{source.path}: household_id values are not unique across the file "
            f"({int((counts > 1).sum()):,} repeated, e.g. {', '.join(sorted(set(seen))[:5])})"
        )


def _meta(scorer: Scorer, spec: DatasetSpec, source: _Source, package_version: str) -> s.DecisionsMeta:
    from targeting.decide.schema import Truth

    truth = None
    pv = spec.poverty
    if pv is not None and (spec.welfare is not None or pv.flag_column):
        kind = "flag" if pv.flag_column else "bottom_share" if pv.bottom_share is not None else "line"
        line = pv.line if isinstance(pv.line, int | float) else None
        truth = Truth(kind=kind, welfare=spec.welfare.column if spec.welfare else None, line=line,
                      bottom_share=pv.bottom_share, source=pv.source.strip())
    groups = {name: g.label or name for name, g in spec.groups.items()}
    return s.DecisionsMeta(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        package_version=package_version,
        spec=spec.name,
        dataset_title=spec.title,
        source_files=[Path(p).name for p in source.paths],
        region=spec.region_column,
        cluster=spec.cluster_column,
        groups=groups,
        truth=truth,
        **scorer.describe(spec.name),
    )
