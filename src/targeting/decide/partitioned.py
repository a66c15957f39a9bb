"""Score a partitioned registry on Dask: the runner's two passes, one task per partition, resumable.

The registry is a folder of Parquet parts (``targeting generate --partitions``, or any export cut
into files); part ``i`` is partition ``i``, and households keep the order of the parts.

* **Pass 1** (one task per part, `dask.dataframe.from_map` with an explicit ``meta``): the worker
  reads its part a chunk at a time, validates it, prepares each chunk (`Scorer.prepare`) and spills
  it; it writes the part's rejects and a ranking file (prediction, persons, region, id hash: 28
  bytes a household), then a completion marker, last.
* **Ranks** (the driver): every part's ranking file, read as arrays, gives exact global weighted
  desil (`targeting.decide.ranking.within`, the single process's function on the same numbers in
  the same order, so the same desil household by household); the driver refuses an id repeated
  across parts, and writes each part's ranks.
* **Pass 2** (one task per part): the worker finishes its spilled chunks with its ranks
  (`Scorer.finish`) and writes ``decisions/part-<i>.parquet`` under a temporary name, renames it
  into place, then writes its marker.

A part whose marker exists is not done again, so a run stopped anywhere (a worker killed, the
driver interrupted) is resumed by running the same command again: nothing is lost, nothing is
written twice. ``_state/manifest.json`` records what the run is (inputs, model, rules, selection);
an output folder that holds another run is refused. Workers build the scorer once, from a
`ScorerConfig` (paths and options, no model objects), through a worker plugin.

Each worker needs: this package installed; the model folder and (when it is a file path) the rule
set at the same paths; the registry parts and the output folder on a filesystem every worker and
the driver see; and, when NIK is pseudonymised, the same key (``$TARGETING_PSEUDONYM_KEY`` or
``<TARGETING_HOME>/pseudonym.key``, checked against the driver's by fingerprint, never sent).

Why ``from_map`` and not ``read_parquet(...).map_partitions``: a task that opens its own part can
stream it a chunk at a time, so a worker holds one chunk, not its whole partition, and the files
are read by the project's reader (`targeting.survey.read`), so validation sees exactly what the
single process sees.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from targeting.decide import schema as s
from targeting.decide.ranking import Ranks
from targeting.decide.runner import (
    DEFAULT_CHUNK_ROWS,
    REJECTS_FILE,
    REPORT_FILES,
    SUMMARY_FILE,
    DecisionsWriter,
    Progress,
    RankInputs,
    RowReports,
    ScoreOutcome,
    Spill,
    _name_part,
    _sum_effects,
    decisions_meta,
    id_hashes,
    read_prepared,
    registry_parts,
    streamable,
    sum_tallies,
    tally,
)
from targeting.decide.scorer import Scorer
from targeting.errors import InputFileError, TargetingError
from targeting.survey.spec import DatasetSpec

__all__ = ["DECISIONS_DIR", "ScorerConfig", "dask_client", "key_fingerprint", "score_partitioned"]

PLUGIN_NAME = "targeting-scorer"
DECISIONS_DIR = "decisions"
STATE_DIR = "_state"
MANIFEST_FILE = "manifest.json"

logger = logging.getLogger(__name__)


def key_fingerprint(key: bytes) -> str:
    """A fingerprint of the pseudonymisation key (workers check theirs against it; the key never travels)."""
    return hashlib.sha256(b"targeting pseudonym key check\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class ScorerConfig:
    """How to build the same `Scorer` on every worker: paths, names and options, no model objects."""

    model_dir: str
    model_name: str = "pmt"
    label: str = "dir"
    source: str = ""
    ruleset: str | None = "kepmensos_262_2022"
    as_of: str | None = None
    min_criteria_met: int | None = None
    allow_out_of_force: bool = False
    selection: dict[str, Any] = field(default_factory=dict)
    ranking: str = "within"
    top_k: int = 4
    spec: dict[str, Any] = field(default_factory=dict)
    key_home: str | None = None
    key_fingerprint: str | None = None
    keep_contributions: bool = False
    interval_level: float = 0.9
    allow_unsigned: bool = False

    @classmethod
    def of(cls, scorer: Scorer, spec: DatasetSpec, *, ruleset: str | None,
           key_home: Path | None) -> ScorerConfig:
        """The configuration that rebuilds ``scorer`` (made from ``ruleset``, a name or path) for ``spec``."""
        return cls(
            model_dir=str(Path(scorer.model_dir).resolve()), model_name=scorer.info.model_name,
            label=scorer.info.model_version.split("+", 1)[0], source=scorer.info.source, ruleset=ruleset,
            as_of=scorer.as_of.isoformat(), min_criteria_met=scorer.min_criteria_met,
            allow_out_of_force=scorer.allow_out_of_force,
            selection=scorer.selection.model_dump(exclude_none=True), ranking=scorer.ranking,
            top_k=scorer.top_k, spec=spec.model_dump(mode="json"),
            key_home=None if key_home is None else str(key_home),
            key_fingerprint=None if scorer.key is None else key_fingerprint(scorer.key),
            keep_contributions=scorer.keep_contributions, interval_level=scorer.interval_level,
            allow_unsigned=scorer.allow_unsigned,
        )

    def dataset_spec(self) -> DatasetSpec:
        return DatasetSpec.model_validate(self.spec)

    def build(self) -> Scorer:
        """The scorer (on a worker: loads the model, compiles it, checks the key)."""
        from targeting.decide.selection import Selection

        return Scorer(
            self.model_dir, model_name=self.model_name, label=self.label, source=self.source,
            ruleset=self.ruleset, as_of=None if self.as_of is None else date.fromisoformat(self.as_of),
            min_criteria_met=self.min_criteria_met, allow_out_of_force=self.allow_out_of_force,
            selection=Selection(**self.selection), ranking=self.ranking,  # type: ignore[arg-type]
            top_k=self.top_k, key=self._key(), spec=self.dataset_spec(),
            keep_contributions=self.keep_contributions, interval_level=self.interval_level,
            # Each worker checks the model's signature itself (it reads the files from shared storage).
            allow_unsigned=self.allow_unsigned,
        )

    def _key(self) -> bytes | None:
        if self.key_fingerprint is None:
            return None
        from targeting.privacy import KEY_ENV

        env = os.environ.get(KEY_ENV)
        path = None if self.key_home is None else Path(self.key_home) / "pseudonym.key"
        if env:
            key = bytes.fromhex(env)
        elif path is not None and path.is_file():
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        else:
            # Never create a key here: a new one would silently give other pseudonyms.
            raise TargetingError(f"this worker has no pseudonym key: set ${KEY_ENV} or provide {path}")
        if key_fingerprint(key) != self.key_fingerprint:
            raise TargetingError("this worker's pseudonym key differs from the driver's: NIK pseudonyms "
                                 "would not match; give every worker the same key")
        return key


def _plugin_class() -> type:
    from distributed import WorkerPlugin

    class ScorerPlugin(WorkerPlugin):
        """Builds the scorer once per worker process (again when a restarted worker joins)."""

        name = PLUGIN_NAME

        def __init__(self, config: ScorerConfig) -> None:
            self.config = config
            self.scorer: Scorer | None = None
            self.spec: DatasetSpec | None = None

        def setup(self, worker: Any) -> None:
            self.spec = self.config.dataset_spec()
            self.scorer = self.config.build()

    return ScorerPlugin


def _worker_scorer() -> tuple[Scorer, DatasetSpec]:
    """The scorer and dataset spec of the worker running the task (built by its plugin)."""
    from distributed import get_worker

    plugin: Any = get_worker().plugins[PLUGIN_NAME]
    assert plugin.scorer is not None and plugin.spec is not None
    return plugin.scorer, plugin.spec


# ---- the state folder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """Where a run keeps its markers, spills, ranking inputs, ranks and rejects (``out/_state``)."""

    root: Path

    def marker(self, phase: str, i: int) -> Path:
        return self.root / phase / f"part-{i:06d}.json"

    def ranking(self, i: int) -> Path:
        return self.root / "ranking" / f"part-{i:06d}.parquet"

    def ranks(self, i: int) -> Path:
        return self.root / "ranks" / f"part-{i:06d}.parquet"

    def rejects(self, i: int, kind: str = "rejects") -> Path:
        """A part's rejected rows (or excluded rows, or values treated as missing: ``kind``)."""
        return self.root / kind / f"part-{i:06d}.csv"

    def spill(self, i: int, attempt: str) -> Path:
        return self.root / "spill" / f"part-{i:06d}-{attempt}"

    def make(self) -> None:
        for sub in ("pass1", "pass2", "ranking", "ranks", *REPORT_FILES, "spill"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Written beside, then renamed: a reader sees the whole file or none."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp, compression="lz4")
    tmp.replace(path)


# ---- the tasks (run on the workers) --------------------------------------------------------------

_PASS1_META = pd.DataFrame({
    "part": pd.Series([], dtype="int64"), "skipped": pd.Series([], dtype="bool"),
    "n_input": pd.Series([], dtype="int64"), "n_households": pd.Series([], dtype="int64"),
    "seconds": pd.Series([], dtype="float64"),
})
_PASS2_META = _PASS1_META.copy()


def _row(i: int, marker: dict[str, Any], skipped: bool) -> pd.DataFrame:
    return pd.DataFrame({"part": [i], "skipped": [skipped], "n_input": [int(marker["n_input"])],
                         "n_households": [int(marker["n_households"])],
                         "seconds": [float(marker.get("seconds", 0.0))]})


def pass1_part(path: str, i: int, state_dir: str, chunk_rows: int) -> pd.DataFrame:
    """Pass 1 of one part: validate, prepare and spill its chunks; write its ranking inputs and rejects."""
    from targeting.survey.load import frame_to_survey
    from targeting.survey.read import iter_raw

    state = _State(Path(state_dir))
    marker = state.marker("pass1", i)
    if marker.exists():
        return _row(i, json.loads(marker.read_text(encoding="utf-8")), skipped=True)
    t0 = time.perf_counter()
    scorer, spec = _worker_scorer()
    attempt = uuid.uuid4().hex[:8]
    spill = Spill(state.spill(i, attempt))
    reports = RowReports({kind: state.rejects(i, kind).with_name(f".part-{i:06d}.{attempt}.tmp")
                          for kind in REPORT_FILES})
    preds: list[np.ndarray] = []
    pops: list[np.ndarray] = []
    regions: list[pd.Series] = []
    hashes: list[np.ndarray] = []
    part = Path(path)
    for raw in iter_raw(part, spec.files[0], chunk_rows=chunk_rows):
        loaded = _name_part(frame_to_survey(raw, spec, where=str(part)), part.name)
        reports.add(loaded)
        data = loaded.data
        if not len(data):
            continue
        prepared = scorer.prepare(data)
        spill.write(prepared)
        preds.append(prepared.prediction)
        pops.append(prepared.population)
        if prepared.region is not None:
            regions.append(pd.Series(prepared.region, dtype=object).astype(str))
        hashes.append(id_hashes(data.household_id))
    columns: dict[str, Any] = {
        "prediction": pa.array(np.concatenate(preds) if preds else np.empty(0)),
        "population": pa.array(np.concatenate(pops) if pops else np.empty(0)),
        "id_hash": pa.array(np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)),
    }
    if spec.region_column is not None:
        labels = pd.concat(regions, ignore_index=True) if regions else pd.Series([], dtype=object)
        columns["region"] = pa.array(labels.to_numpy(dtype=object), type=pa.string()).dictionary_encode()
    _write_parquet(pa.table(columns), state.ranking(i))
    for kind, writer in reports.writers.items():
        if writer.path.exists():
            writer.path.replace(state.rejects(i, kind))
        else:
            state.rejects(i, kind).unlink(missing_ok=True)
    payload = {"part": part.name, "n_input": reports.n_input, "n_rejected": reports.rejects.n_rows,
               "n_excluded": reports.n_excluded, "effects": reports.effects,
               "n_households": int(sum(spill.rows)), "chunks": spill.rows, "spill": spill.folder.name,
               "seconds": time.perf_counter() - t0}
    _write_json(marker, payload)  # last: the part counts as done only once everything above exists
    return _row(i, payload, skipped=False)


def pass2_part(i: int, state_dir: str, out_dir: str, meta_json: str) -> pd.DataFrame:
    """Pass 2 of one part: finish its spilled chunks with its ranks; write ``decisions/part-<i>.parquet``."""
    state = _State(Path(state_dir))
    marker = state.marker("pass2", i)
    if marker.exists():
        return _row(i, json.loads(marker.read_text(encoding="utf-8")), skipped=True)
    t0 = time.perf_counter()
    scorer, _ = _worker_scorer()
    first = json.loads(state.marker("pass1", i).read_text(encoding="utf-8"))
    ranks = _read_ranks(state.ranks(i))
    spill_dir = state.root / "spill" / first["spill"]
    tallies: list[dict[str, Any]] = []
    path = Path(out_dir) / DECISIONS_DIR / _part_name(i)
    if first["n_households"]:
        writer = DecisionsWriter(path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"))
        offset = 0
        for j, n in enumerate(first["chunks"]):
            prepared = read_prepared(spill_dir / f"chunk-{j:06d}.arrow")
            decided = scorer.finish(prepared, ranks.rows(slice(offset, offset + n)))
            writer.write(decided.table)
            tallies.append(tally(decided.table))
            offset += n
        if offset != len(ranks):  # pragma: no cover - pass 1 wrote both from the same chunks
            raise TargetingError(f"part {i}: {offset:,} spilled households for {len(ranks):,} ranks")
        writer.close(s.DecisionsMeta.model_validate_json(meta_json))
        writer.path.replace(path)
    payload = {"n_input": first["n_input"], "n_households": first["n_households"],
               "counts": sum_tallies(tallies), "file": path.name if first["n_households"] else None,
               "seconds": time.perf_counter() - t0}
    _write_json(marker, payload)  # last
    return _row(i, payload, skipped=False)


def _part_name(i: int) -> str:
    return f"part-{i:06d}.parquet"


_RANK_COLUMNS = ("prediction", "percentile", "desil", "percentile_region", "desil_region")


def _write_ranks(ranks: Ranks, path: Path) -> None:
    cols = {name: pa.array(getattr(ranks, name)) for name in _RANK_COLUMNS}
    for name in ("quota_pick", "quota_cut"):
        if getattr(ranks, name) is not None:
            cols[name] = pa.array(getattr(ranks, name))
    table = pa.table(cols)
    if ranks.edges is not None:
        # The nine desil boundaries are the registry's, not a row's: kept in the schema's metadata.
        table = table.replace_schema_metadata({b"targeting.edges": json.dumps(ranks.edges.tolist()).encode()})
    _write_parquet(table, path)


def _read_ranks(path: Path) -> Ranks:
    t = pq.read_table(path)
    col = {name: t.column(name).to_numpy() for name in t.column_names}
    meta = t.schema.metadata or {}
    edges = meta.get(b"targeting.edges")
    return Ranks(col["prediction"], col["percentile"], col["desil"].astype(np.int64),
                 col["percentile_region"], col["desil_region"].astype(np.int64),
                 col["quota_pick"].astype(bool) if "quota_pick" in col else None,
                 None if edges is None else np.asarray(json.loads(edges), dtype=np.float64),
                 col.get("quota_cut"))


# ---- the driver ------------------------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, *, n_workers: int | None = None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a fresh LocalCluster (one thread per worker)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise TargetingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    from targeting.pmt.threads import available_cores

    workers = n_workers or max(1, min(2, available_cores()))
    # One thread per worker process: the model's numpy and LightGBM work is single-threaded by design.
    # The scheduler always serves HTTP (metrics); a free loopback port, not 8787 on every interface.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def _fingerprint_inputs(parts: list[Path]) -> list[dict[str, Any]]:
    out = []
    for p in parts:
        st = p.stat()
        out.append({"name": p.name, "bytes": st.st_size, "rows": pq.ParquetFile(p).metadata.num_rows})
    return out


def _manifest(scorer: Scorer, spec: DatasetSpec, parts: list[Path], chunk_rows: int) -> dict[str, Any]:
    d = scorer.describe(spec.name)
    return {
        "format": 1, "spec": spec.model_dump(mode="json"), "inputs": _fingerprint_inputs(parts),
        "chunk_rows": chunk_rows, "model": d["model"]["version"], "ruleset": d["ruleset"],
        "ranking": d["ranking"], "selection": d["selection"], "top_k": d["top_k"],
        "key": None if scorer.key is None else key_fingerprint(scorer.key),
    }


def _check_manifest(state: _State, manifest: dict[str, Any]) -> dict[str, Any]:
    """The run's manifest (with its start time); a folder holding another run is refused."""
    path = state.root / MANIFEST_FILE
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        created = old.pop("created", None)
        if old != manifest:
            differ = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise TargetingError(
                f"{state.root.parent} holds another scoring run (it differs in: {', '.join(differ)}); "
                "choose another --out, or delete that folder to start again"
            )
        return {**manifest, "created": created}
    state.make()
    payload = {**manifest, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    _write_json(path, payload)
    return payload


def _run_tasks(client: Any, collection: Any, what: str, progress: Callable[[int], None]) -> pd.DataFrame:
    """Compute one task per partition, reporting each as it completes; a failed part stops the run."""
    from distributed import as_completed

    futures = client.compute(collection.to_delayed())
    rows = []
    try:
        for future in as_completed(futures):
            try:
                frame = future.result()
            except Exception as exc:
                from distributed import KilledWorker

                if isinstance(exc, KilledWorker):
                    raise TargetingError(
                        f"a Dask worker died during {what}; run the same command again: finished parts are "
                        "kept and only the others are done again") from exc
                raise
            rows.append(frame)
            progress(int(frame["n_input"].iloc[0]))
    except BaseException:
        client.cancel(futures)
        raise
    return pd.concat(rows, ignore_index=True).sort_values("part", ignore_index=True)


def score_partitioned(
    config: ScorerConfig,
    registry: Path,
    out_dir: Path,
    *,
    client: Any,
    scorer: Scorer | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    package_version: str = "",
) -> ScoreOutcome:
    """Score a folder of Parquet parts on a Dask cluster into ``out_dir/decisions/part-*.parquet``.

    ``client`` is a `distributed.Client` (see :func:`dask_client`); ``scorer`` the driver's own
    (built from ``config`` when not given), used for ranks and the table's description. Running the
    same call again on the same ``out_dir`` resumes a run that stopped.
    """
    import dask.dataframe as dd

    progress = progress or (lambda phase, done, total: None)
    registry = Path(registry)
    if not registry.exists():
        raise InputFileError(f"file not found: {registry}")
    if not registry.is_dir():
        raise InputFileError(f"{registry}: --engine dask scores a folder of Parquet parts (one per "
                             "partition); write one with `targeting generate --partitions` or split the file")
    parts = registry_parts(registry)
    spec = config.dataset_spec()
    if not streamable(spec):
        raise InputFileError(f"spec {spec.name!r} joins or aggregates files: it cannot be scored by "
                             "partition")
    scorer = scorer or config.build()
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _State(out_dir / STATE_DIR)
    manifest = _check_manifest(state, _manifest(scorer, spec, parts, chunk_rows))
    (out_dir / DECISIONS_DIR).mkdir(exist_ok=True)
    expected = int(sum(x["rows"] for x in manifest["inputs"]))
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    client.register_plugin(_plugin_class()(config), name=PLUGIN_NAME)

    # ---- pass 1 ------------------------------------------------------------------------------------
    done = [0]

    def step(phase: str, total: int) -> Callable[[int], None]:
        def report(n: int) -> None:
            done[0] += n
            progress(phase, done[0], total)
        return report

    first = dd.from_map(pass1_part, [str(p) for p in parts], list(range(len(parts))),
                        args=(str(state.root), chunk_rows), meta=_PASS1_META, enforce_metadata=True,
                        label="targeting-pass1")
    pass1 = _run_tasks(client, first, "pass 1 (validate, predict, explain)", step("pass1", expected))
    seconds["pass1"] = time.perf_counter() - start
    markers = [json.loads(state.marker("pass1", i).read_text(encoding="utf-8")) for i in range(len(parts))]
    n_input = sum(m["n_input"] for m in markers)
    n_rejected = sum(m["n_rejected"] for m in markers)
    n_excluded = sum(m["n_excluded"] for m in markers)
    n_households = sum(m["n_households"] for m in markers)
    effects: list[dict[str, Any]] = []
    for m in markers:
        _sum_effects(effects, m.get("effects", []))
    reports = {kind: _gather_rejects(state, len(parts), out_dir / name, kind)
               for kind, name in REPORT_FILES.items()}
    rejects_path = reports["rejects"]
    if n_households == 0:
        raise InputFileError(f"{registry}: no household was accepted ({n_input:,} rows read, {n_rejected:,} "
                             f"rejected, {n_excluded:,} excluded by the spec); see {out_dir / REJECTS_FILE}")

    # ---- ranks on the driver -----------------------------------------------------------------------
    t0 = time.perf_counter()
    todo = [i for i in range(len(parts)) if not state.marker("pass2", i).exists()]
    if todo:
        inputs = RankInputs(spec.region_column is not None)
        for i in range(len(parts)):
            t = pq.read_table(state.ranking(i))
            region = t.column("region").to_pandas() if "region" in t.column_names else None
            inputs.add_arrays(t.column("prediction").to_numpy(), t.column("population").to_numpy(), region,
                              t.column("id_hash").to_numpy())
        _check_unique_parts(inputs.hashes, parts, spec)
        inputs.hashes = []
        ranks = inputs.rank(scorer)
        offsets = np.cumsum([0] + [m["n_households"] for m in markers])
        for i in todo:
            _write_ranks(ranks.rows(slice(int(offsets[i]), int(offsets[i + 1]))), state.ranks(i))
        del ranks
    seconds["rank"] = time.perf_counter() - t0

    # ---- pass 2 ------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    meta = decisions_meta(scorer, spec, [registry], package_version).model_copy(update={
        "created": manifest["created"], "n_input": n_input, "n_rejected": n_rejected,
        "n_excluded": n_excluded, "n_households": n_households})
    done[0] = 0
    second = dd.from_map(pass2_part, list(range(len(parts))),
                         args=(str(state.root), str(out_dir), meta.model_dump_json()), meta=_PASS2_META,
                         enforce_metadata=True, label="targeting-pass2")
    pass2 = _run_tasks(client, second, "pass 2 (rank, decide, write)", step("pass2", n_input))
    seconds["pass2"] = time.perf_counter() - t0
    finals = [json.loads(state.marker("pass2", i).read_text(encoding="utf-8")) for i in range(len(parts))]
    counts = sum_tallies([f["counts"] for f in finals if f["counts"]])
    for sub in ("spill", "ranks"):
        shutil.rmtree(state.root / sub, ignore_errors=True)
    # Half-written files of attempts that died (a killed worker): every part is in place now.
    for stray in (out_dir / DECISIONS_DIR).glob(".part-*.tmp"):
        stray.unlink(missing_ok=True)
    seconds["total"] = time.perf_counter() - start
    partitions = {"partitions": len(parts), "pass1_skipped": int(pass1["skipped"].sum()),
                  "pass2_skipped": int(pass2["skipped"].sum())}
    summary = out_dir / SUMMARY_FILE
    payload = {"meta": meta.model_dump(mode="json"), "counts": counts, "seconds": seconds,
               "partitions": partitions, "engine": "dask", "spec_effects": effects,
               "files": {"decisions": f"{DECISIONS_DIR}/",
                         **{kind: None if path is None else path.name for kind, path in reports.items()}}}
    summary.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    outcome = ScoreOutcome(out_dir, out_dir / DECISIONS_DIR, rejects_path, summary, meta, n_input, n_rejected,
                           n_excluded, n_households, counts, seconds, effects=effects, partitions=partitions)
    outcome.extra_files.update({kind: path for kind, path in reports.items()
                                if path is not None and kind != "rejects"})
    return outcome


def _gather_rejects(state: _State, n_parts: int, out: Path, kind: str = "rejects") -> Path | None:
    """The parts' rejects (or another report, ``kind``) in part order, one header."""
    out.unlink(missing_ok=True)
    wrote = False
    with out.open("w", encoding="utf-8", newline="") as sink:
        for i in range(n_parts):
            path = state.rejects(i, kind)
            if not path.exists():
                continue
            with path.open(encoding="utf-8", newline="") as src:
                header = src.readline()
                if not wrote:
                    sink.write(header)
                shutil.copyfileobj(src, sink)
            wrote = True
    if not wrote:
        out.unlink()
        return None
    return out


def _check_unique_parts(hashes: list[np.ndarray], parts: list[Path], spec: DatasetSpec) -> None:
    """An id repeated in two parts (or two chunks of one) is a registry-level error, named by id."""
    allh = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    uniq, counts = np.unique(allh, return_counts=True)
    if not (counts > 1).any():
        return
    dup = uniq[counts > 1]
    seen: list[str] = []
    if len(spec.household_id) == 1:  # find the ids behind the repeated hashes, for the message
        for part in parts:
            ids = pq.read_table(part, columns=spec.household_id).column(0).to_pandas().astype(str).str.strip()
            seen += ids[np.isin(id_hashes(ids), dup)].tolist()
            if len(seen) >= 10:
                break
    example = f", e.g. {', '.join(sorted(set(seen))[:5])}" if seen else ""
    raise InputFileError(
        f"{parts[0].parent}: household_id values are not unique across the parts "
        f"({len(dup):,} repeated{example})"
    )
