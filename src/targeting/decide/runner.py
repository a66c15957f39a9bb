"""Score a registry file end to end in bounded memory: validate, rank, decide, write, in two passes.

Pass 1 reads the file a chunk at a time, validates it (rejects are written as they are found),
prepares each chunk's decisions (`Scorer.prepare`: prediction, rule verdicts, exact contributions,
the reasons for both directions) and spills them to a temporary Arrow file, keeping in memory only
what ranking needs: the prediction, the persons each household represents, its region code and a
hash of its id (28 bytes a household). Ranks come from all of them at once
(`targeting.decide.ranking`). Pass 2 finishes each spilled chunk with its ranks (`Scorer.finish`:
programmes, selection, reasons in the decision's direction) and appends it to the decisions Parquet
file as a row group, so the registry is read, validated and explained once and memory is bounded by
the chunk. With ``ranking="reference"`` a household's rank depends on it alone and one pass
suffices. ``FILE`` may be a folder of Parquet parts (a partitioned registry), read in name order.

A spec that joins files, aggregates persons into households or defines the poor as a bottom share of
the whole survey cannot be judged a chunk at a time: it is loaded whole, then decided in chunks.
`targeting.decide.partitioned` runs the same two passes on Dask, one task per partition.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from targeting.decide import schema as s
from targeting.decide.prepared import Prepared
from targeting.decide.ranking import Ranks
from targeting.decide.scorer import Scorer
from targeting.errors import InputFileError
from targeting.survey.load import LoadedSurvey, frame_to_survey, load_dataset
from targeting.survey.read import STREAMABLE_FORMATS, count_rows, detect_format, iter_raw
from targeting.survey.spec import DatasetSpec

__all__ = ["DEFAULT_CHUNK_ROWS", "ScoreOutcome", "registry_parts", "score_dataset"]

#: Households per chunk. A chunk's prepare step holds ~4 KB a household of temporaries (model matrix,
#: contributions, pattern decisions, rule traces), so 32,768 keep one process near 0.6 GB.
DEFAULT_CHUNK_ROWS = 32_768
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
    #: With the Dask engine: partitions, and how many each pass found already done (a resumed run).
    partitions: dict[str, int] = field(default_factory=dict)


def streamable(spec: DatasetSpec) -> bool:
    """Whether the spec's files can be judged a chunk at a time."""
    if len(spec.files) != 1 or spec.joins:
        return False
    # A within-community rank needs the whole community: a file with ranks is read whole.
    return (spec.poverty is None or spec.poverty.bottom_share is None) and spec.community_ranks is None


def registry_parts(path: Path) -> list[Path]:
    """The Parquet parts of a partitioned registry folder, in name order (the households' order)."""
    parts = sorted(p for p in path.iterdir() if p.suffix.lower() in (".parquet", ".pq") and p.is_file())
    if not parts:
        raise InputFileError(f"{path}: a folder with no Parquet parts (*.parquet) to score")
    return parts


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
        #: A folder is a partitioned registry: its Parquet parts in order, each read a chunk at a time.
        self.parts = registry_parts(self.path) if self.path.is_dir() else [self.path]
        if self.path.is_dir() and not streamable(spec):
            raise InputFileError(f"{self.path}: spec {spec.name!r} joins or aggregates files, so it cannot "
                                 "read a folder of parts; give it a single file")
        fmt = detect_format(self.parts[0], first.format) if self.parts[0].suffix or first.format != "auto" \
            else "csv"
        self.streams = streamable(spec) and fmt in STREAMABLE_FORMATS
        self._whole: LoadedSurvey | None = None
        counts = [count_rows(p, first) for p in self.parts] if self.streams else [None]
        self.expected_rows = None if any(c is None for c in counts) else sum(c for c in counts if c)

    def chunks(self) -> Iterator[LoadedSurvey]:
        if self.streams:
            many = len(self.parts) > 1 or self.path.is_dir()
            for part in self.parts:
                where = str(part)
                for raw in iter_raw(part, self.spec.files[0], chunk_rows=self.chunk_rows):
                    loaded = frame_to_survey(raw, self.spec, where=where)
                    yield _name_part(loaded, part.name) if many else loaded
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
            rows = whole.data if (start, stop) == (0, n) else whole.data.subset(list(range(start, stop)))
            # Rejects and counts belong to the whole file: reported with its first chunk only.
            yield LoadedSurvey(data=rows, rejects=whole.rejects if start == 0 else whole.rejects.iloc[:0],
                               n_input=whole.n_input if start == 0 else 0,
                               ignored_columns=whole.ignored_columns,
                               excluded=whole.excluded if start == 0 else whole.excluded.iloc[:0],
                               notes=whole.notes if start == 0 else whole.notes.iloc[:0],
                               effects=whole.effects if start == 0 else [])


def _name_part(loaded: LoadedSurvey, name: str) -> LoadedSurvey:
    """Rejects of a partitioned registry say which part file their row number belongs to."""
    from dataclasses import replace

    def named(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if "file" in frame.columns else frame.assign(file=name)[["file", *frame.columns]]

    return replace(loaded, rejects=named(loaded.rejects), excluded=named(loaded.excluded),
                   notes=named(loaded.notes))


def _sum_effects(total: list[dict[str, Any]], more: list[dict[str, Any]]) -> None:
    """Add a chunk's spec effects (recodes, filters, values treated as missing) to the run's."""
    counted = ("n", "persons", "households")
    for e in more:
        key = {k: v for k, v in e.items() if k not in counted}
        for t in total:
            if {k: v for k, v in t.items() if k not in counted} == key:
                for k in counted:
                    if k in e:
                        t[k] = t.get(k, 0) + e[k]
                break
        else:
            total.append(dict(e))


class RejectsWriter:
    """Appends each chunk's rejects (and rows excluded by the spec) to one CSV, header once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n_lines = 0
        self.n_rows = 0

    def add(self, rejects: pd.DataFrame) -> None:
        if not len(rejects):
            return
        from targeting.survey.outputs import write_rejects_chunk

        write_rejects_chunk(rejects, self.path, header=self.n_lines == 0)
        self.n_lines += len(rejects)
        # A row belongs to one chunk (of one part), so counting each chunk's distinct rows is exact.
        keys = ["file", "row"] if "file" in rejects.columns else ["row"]
        self.n_rows += int(len(rejects.dropna(subset=["row"]).drop_duplicates(subset=keys)))


#: The per-row reports of a run by kind (the stem of their file): rejected rows, rows the spec's
#: filters excluded, values the spec treats as missing.
REPORT_FILES = {Path(name).stem: name for name in (REJECTS_FILE, EXCLUDED_FILE, NOTES_FILE)}


class RowReports:
    """A run's per-row reports (`REPORT_FILES`) and what they count, fed one loaded chunk at a time."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.writers = {kind: RejectsWriter(paths[kind]) for kind in REPORT_FILES}
        for w in self.writers.values():
            w.path.unlink(missing_ok=True)
        self.effects: list[dict[str, Any]] = []
        self.n_input = self.n_excluded = 0

    @property
    def rejects(self) -> RejectsWriter:
        return self.writers["rejects"]

    def add(self, loaded: LoadedSurvey) -> None:
        self.writers["rejects"].add(loaded.rejects)
        self.writers["excluded"].add(loaded.excluded)
        self.writers["treated_as_missing"].add(loaded.notes)
        _sum_effects(self.effects, loaded.effects)
        self.n_input += loaded.n_input
        self.n_excluded += loaded.n_excluded_rows

    def written(self) -> dict[str, Path | None]:
        """Each report's file, None where it has no line."""
        return {kind: w.path if w.n_lines else None for kind, w in self.writers.items()}


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


class DecisionsWriter:
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
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd",
                                           **_encoding(self.schema))
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


#: Columns that never repeat a value (a dictionary page is built and thrown away for each chunk).
_UNIQUE = frozenset({s.HOUSEHOLD_ID, s.NIK_PSEUDONYM})


def _encoding(schema: pa.Schema) -> dict[str, Any]:
    """Dictionary pages for columns of few distinct values, min/max statistics for numbers.

    Parquet's defaults try a dictionary for every column and keep statistics on every one: on a
    decisions chunk that is twice the time (52 → 26 ms for 32,768 rows) for a larger file, since
    floats and ids rarely repeat and the dictionary columns' statistics are the slowest to gather.
    """
    def numeric(t: pa.DataType) -> bool:
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)

    repeated = [f.name for f in schema if f.name not in _UNIQUE and not pa.types.is_floating(f.type)]
    return {"use_dictionary": repeated, "write_statistics": [f.name for f in schema if numeric(f.type)]}


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


def sum_tallies(tables: list[dict[str, Any]]) -> dict[str, Any]:
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


def tally(table: pd.DataFrame) -> dict[str, Any]:
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


class RankInputs:
    """What ranking needs from pass 1, about 28 bytes a household: prediction, persons, region, id hash.

    Regions are kept as int32 codes into the labels met so far; id hashes find an id repeated in
    another chunk or partition.
    """

    def __init__(self, has_region: bool) -> None:
        self.has_region = has_region
        self.preds: list[np.ndarray] = []
        self.pops: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.hashes: list[np.ndarray] = []
        self.labels: dict[str, int] = {}

    def __len__(self) -> int:
        return int(sum(len(h) for h in self.hashes))

    def add(self, prepared: Prepared, household_id: pd.Series) -> None:
        self.hashes.append(id_hashes(household_id))
        if not len(prepared):
            return
        self.preds.append(np.asarray(prepared.prediction, dtype=np.float64))
        self.pops.append(np.asarray(prepared.population, dtype=np.float64))
        if self.has_region:
            assert prepared.region is not None
            self.codes.append(self.region_codes(pd.Series(prepared.region, dtype=object).astype(str)))

    def add_arrays(self, pred: np.ndarray, pop: np.ndarray, region: pd.Series | None,
                   hashes: np.ndarray) -> None:
        """The same from arrays (a partition's pass-1 result)."""
        self.hashes.append(np.asarray(hashes, dtype=np.uint64))
        self.preds.append(np.asarray(pred, dtype=np.float64))
        self.pops.append(np.asarray(pop, dtype=np.float64))
        if self.has_region:
            assert region is not None
            self.codes.append(self.region_codes(region.astype(str)))

    def region_codes(self, labels: pd.Series) -> np.ndarray:
        codes, uniques = pd.factorize(labels)
        lut = np.array([self.labels.setdefault(str(u), len(self.labels)) for u in uniques], dtype=np.int32)
        return lut[codes]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, pd.Categorical | None]:
        """Predictions, persons and regions (categories sorted, as ranking orders them) of every household."""
        # One array at a time, each list dropped once joined: never two copies of everything.
        pred = np.concatenate(self.preds) if self.preds else np.empty(0)
        self.preds = []
        pop = np.concatenate(self.pops) if self.pops else np.empty(0)
        self.pops = []
        if not self.has_region:
            return pred, pop, None
        names = list(self.labels)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank_of = np.empty(len(names), dtype=np.int32)
        rank_of[order] = np.arange(len(names), dtype=np.int32)
        codes = rank_of[np.concatenate(self.codes)] if self.codes else np.empty(0, dtype=np.int32)
        self.codes = []
        return pred, pop, pd.Categorical.from_codes(codes, categories=[names[i] for i in order])

    def rank(self, scorer: Scorer) -> Ranks:
        """Every household's ranks (the inputs are consumed)."""
        pred, pop, region = self.arrays()
        return scorer.rank(pred, pop, region)


def id_hashes(household_id: pd.Series) -> np.ndarray:
    """64-bit hashes of household ids (to find an id repeated across chunks without keeping the ids)."""
    # The text array itself: hash_array factorises it and hashes each distinct text once, giving the
    # hashes of its str objects (tested) for a third of the time of making those objects first.
    return pd.util.hash_array(household_id.astype(str).array)


class Behind:
    """Writes run on one thread beside the scoring, at most one write behind it.

    Arrow's IPC and Parquet writers release the GIL while they encode, compress and write, so with a
    second core a chunk is written while the next one is explained; memory grows by one chunk. With
    one thread allowed (``--threads 1``) every write runs in place. An error in a write is raised by
    the next `submit` or `wait`, in the scoring thread.
    """

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="targeting-write") if threads > 1 else None
        self.pending: Future[None] | None = None

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        if self.pool is None:
            fn(*args)
            return
        self.wait()
        self.pending = self.pool.submit(fn, *args)

    def wait(self) -> None:
        """Until the write in flight is done; its error, if any, raised here."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the write in flight (its error is not raised: the run is ending) and stop the thread."""
        if self.pool is not None:
            if self.pending is not None:
                self.pending.exception()
                self.pending = None
            self.pool.shutdown(wait=True)
            self.pool = None


class Spill:
    """Pass 1's prepared chunks on disk (one Arrow IPC file each, LZ4), read back in order by pass 2."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.rows: list[int] = []
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, prepared: Prepared, name: str | None = None, *, behind: Behind | None = None) -> Path:
        """Spill a chunk (on ``behind``'s thread when given: read it back only after ``behind.wait()``)."""
        path = self.folder / (name or f"chunk-{len(self.files):06d}.arrow")
        self.files.append(path)
        self.rows.append(len(prepared))
        if behind is None:
            write_prepared(prepared, path)
        else:
            behind.submit(write_prepared, prepared, path)
        return path

    def __iter__(self) -> Iterator[tuple[int, Prepared]]:
        """``(offset of the chunk's first household, its prepared households)``, deleting each file read."""
        offset = 0
        for path, n in zip(self.files, self.rows, strict=True):
            prepared = read_prepared(path)
            path.unlink()
            yield offset, prepared
            offset += n

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def write_prepared(prepared: Prepared, path: Path) -> None:
    """One chunk's prepared decisions as an Arrow IPC file (written beside, then renamed into place)."""
    table = prepared.to_arrow()
    tmp = path.with_name(f".{path.name}.tmp")
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as w:
        w.write_table(table)
    tmp.replace(path)


def read_prepared(path: Path) -> Prepared:
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    return Prepared.from_arrow(table)


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
    reports = RowReports({kind: out_dir / name for kind, name in REPORT_FILES.items()})
    rejects = reports.rejects
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    one_pass = scorer.ranking == "reference"
    decisions_path = out_dir / DECISIONS_FILE
    meta = decisions_meta(scorer, spec, source.paths, package_version)
    writer = DecisionsWriter(decisions_path)
    inputs = RankInputs(spec.region_column is not None)
    spill = None if one_pass else Spill(Path(tempfile.mkdtemp(prefix=".pass1-", dir=out_dir)))
    behind = Behind(scorer.threads)
    tallies: list[dict[str, Any]] = []
    empty_table: pd.DataFrame | None = None
    try:
        # ---- pass 1: validate, prepare (predict, rules, explain), keep what ranking needs ----------
        done = 0
        for loaded in source.chunks():
            reports.add(loaded)
            data = loaded.data
            if not len(data):
                inputs.hashes.append(id_hashes(data.household_id))
                if empty_table is None:
                    empty_table = scorer.decide(data).table
            else:
                prepared = scorer.prepare(data)
                inputs.add(prepared, data.household_id)
                if spill is None:  # reference ranks: the chunk is decided now
                    decided = scorer.finish(prepared, scorer.rank(prepared.prediction, prepared.population,
                                                                  prepared.region))
                    tallies.append(tally(decided.table))  # before the table is handed to the writer
                    behind.submit(writer.write, decided.table)
                else:
                    spill.write(prepared, behind=behind)
            done += loaded.n_input
            progress("pass1", done, source.expected_rows)
        behind.wait()
        seconds["pass1"] = time.perf_counter() - start
        _check_unique(inputs.hashes, source)
        n_households = len(inputs)
        inputs.hashes = []
        if n_households == 0:
            writer.abandon()
            raise InputFileError(
                f"{source.path}: no household was accepted ({reports.n_input:,} rows read, "
                f"{rejects.n_rows:,} rejected, {reports.n_excluded:,} excluded by the spec); "
                f"see {rejects.path}"
            )

        # ---- ranks, then pass 2: finish each spilled chunk and write it -----------------------------
        if spill is not None:
            t0 = time.perf_counter()
            ranks = inputs.rank(scorer)
            seconds["rank"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for offset, prepared in spill:
                decided = scorer.finish(prepared, ranks.rows(slice(offset, offset + len(prepared))))
                tallies.append(tally(decided.table))  # before the table is handed to the writer
                behind.submit(writer.write, decided.table)
                progress("pass2", offset + len(prepared), n_households)
            behind.wait()
            seconds["pass2"] = time.perf_counter() - t0
        meta = meta.model_copy(update={"n_input": reports.n_input, "n_rejected": rejects.n_rows,
                                       "n_excluded": reports.n_excluded, "n_households": n_households})
        behind.wait()
        writer.close(meta, empty_table)
    except BaseException:
        behind.close()  # no write may still be running into the file being removed
        writer.abandon()
        raise
    finally:
        behind.close()
        if spill is not None:
            spill.remove()
    seconds["total"] = time.perf_counter() - start
    counts = sum_tallies(tallies)
    summary = out_dir / SUMMARY_FILE
    payload = {"meta": meta.model_dump(mode="json"), "counts": counts, "seconds": seconds,
               "spec_effects": reports.effects,
               "files": {"decisions": decisions_path.name,
                         **{k: None if p is None else p.name for k, p in reports.written().items()}}}
    summary.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    outcome = ScoreOutcome(out_dir, decisions_path, rejects.path if rejects.n_lines else None, summary, meta,
                           reports.n_input, rejects.n_rows, reports.n_excluded, n_households, counts, seconds,
                           effects=reports.effects)
    outcome.extra_files.update({k: p for k, p in reports.written().items()
                                if p is not None and k != "rejects"})
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


def decisions_meta(scorer: Scorer, spec: DatasetSpec, source_files: list[Path], package_version: str
                   ) -> s.DecisionsMeta:
    """The decisions table's metadata for a scoring run (counts filled in once they are known)."""
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
        source_files=[Path(p).name for p in source_files],
        region=spec.region_column,
        cluster=spec.cluster_column,
        groups=groups,
        truth=truth,
        **scorer.describe(spec.name),
    )
