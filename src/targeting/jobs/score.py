"""`targeting score`: a district's registry file in, the decisions table and its summary out."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from targeting.decide.runner import DEFAULT_CHUNK_ROWS, ScoreOutcome
from targeting.decide.selection import Selection
from targeting.eligibility import verdict_text
from targeting.errors import TargetingError
from targeting.jobs.console import problems_table
from targeting.settings import Settings

EXPORT_FORMATS = ("parquet", "csv", "xlsx")
ENGINES = ("local", "dask")


def run_dir(settings: Settings, kind: str, name: str) -> Path:
    """A fresh output folder under ``<TARGETING_HOME>/runs`` (never next to an input file)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = settings.home / "runs" / f"{kind}-{name}-{stamp}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("targeting")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "dev"


def score_job(
    settings: Settings,
    file: Path | None,
    *,
    spec: Any = "indonesia_household",
    model: str = "champion",
    model_choice: Any = None,
    ruleset: str | None = "kepmensos_262_2022",
    min_criteria_met: int | None = None,
    as_of: date | None = None,
    ranking: str = "within",
    selection: Selection | None = None,
    top_k: int = 4,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = ("parquet",),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    data_dir: Path | None = None,
    variables: dict[str, Any] | None = None,
    console: Console | None = None,
    previous: Path | None = None,
    keep_contributions: bool = False,
    allow_unsigned: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> ScoreOutcome:
    """Validate, rank, decide and explain every household of ``file`` (or of the spec's own files).

    ``engine="local"`` scores in this process, streaming the file (or a folder of Parquet parts) in
    chunks; ``engine="dask"`` scores a folder of parts on a Dask cluster: the scheduler at
    ``scheduler``, else a LocalCluster of ``workers`` processes (`targeting.decide.partitioned`).
    ``threads`` caps the threads of this process (default: the cores it may use).
    """
    from targeting.decide import Scorer
    from targeting.decide.runner import score_dataset
    from targeting.jobs.console import RowProgress
    from targeting.jobs.models import resolve_model
    from targeting.privacy import load_key
    from targeting.survey.spec import DatasetSpec, load_spec

    console = console or Console(stderr=True)
    if engine not in ENGINES:
        raise TargetingError(f"--engine {engine}: choose from {', '.join(ENGINES)}")
    if engine == "local" and (scheduler is not None or workers is not None):
        raise TargetingError("--scheduler and --workers need --engine dask")
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad:
        raise TargetingError(f"--format {','.join(bad)}: choose from {', '.join(EXPORT_FORMATS)}")
    spec_obj = spec if isinstance(spec, DatasetSpec) else load_spec(spec)
    if data_dir is None and spec_obj.data_root == "home":
        data_dir = settings.data_dir  # this job's state folder, not the environment's
    chosen = model_choice if model_choice is not None else resolve_model(settings, model)
    if chosen.note:
        console.print(f"[yellow]{chosen.note}[/yellow]")
    from targeting.pmt.threads import resolve_threads

    scorer = Scorer(chosen.path, model_name=chosen.name, label=chosen.label, source=chosen.source,
                    ruleset=ruleset, as_of=as_of, min_criteria_met=min_criteria_met, selection=selection,
                    ranking=ranking, top_k=top_k, key=load_key(settings.home), spec=spec_obj,  # type: ignore[arg-type]
                    keep_contributions=keep_contributions, allow_unsigned=allow_unsigned,
                    threads=resolve_threads(threads))
    console.print(f"model {scorer.info.model_version} ({chosen.source}; "
                  f"ditandatangani / signed by {scorer.info.components['model_signing_key']}); "
                  f"aturan / rules: {scorer.info.ruleset_id or '-'}; peringkat / ranking: {ranking}")
    files = {spec_obj.files[0].name: Path(file)} if file is not None else None
    out = out_dir or run_dir(settings, "score", spec_obj.name)
    if engine == "dask":
        if file is None:
            raise TargetingError("--engine dask needs the folder of Parquet parts to score")
        if previous is not None:
            raise TargetingError("--previous needs --engine local (compare the rounds on one process)")
        if any(f != "parquet" for f in formats):
            raise TargetingError("--engine dask writes partitioned Parquet only: export one part at a time")
        outcome = _score_dask(settings, scorer, spec_obj, Path(file), out, ruleset=ruleset,
                              scheduler=scheduler, workers=workers, chunk_rows=chunk_rows, console=console)
        print_summary(console, outcome)
        return outcome
    with RowProgress(console) as progress:
        outcome = score_dataset(scorer, spec_obj, out, files=files, data_dir=data_dir, variables=variables,
                                chunk_rows=chunk_rows, progress=progress, package_version=package_version())
    for fmt in formats:
        if fmt != "parquet":
            outcome.extra_files[fmt] = export_decisions(outcome.decisions, fmt)
    print_summary(console, outcome)
    if previous is not None:
        outcome.extra_files.update(compare_with_previous(previous, outcome, scorer, console))
    return outcome


def compare_with_previous(previous: Path, outcome: ScoreOutcome, scorer: Any,
                          console: Console) -> dict[str, Path]:
    """The re-ranking round against the previous one: transitions, programme flows, movers' reasons."""
    import json

    from targeting.audit.decisions import read_decisions
    from targeting.drift import compare_rounds

    before, _ = read_decisions(previous)
    now, _ = read_decisions(outcome.decisions)
    rounds = compare_rounds(before, now, catalogue=scorer.explainer.catalogue)
    folder = outcome.out_dir / "rounds"
    folder.mkdir(exist_ok=True)
    files = {
        "transitions": folder / "desil_transitions.csv", "flows": folder / "programme_flows.csv",
        "leavers": folder / "leavers.csv", "entrants": folder / "entrants.csv",
    }
    from targeting.spreadsheet import write_csv

    write_csv(rounds.transitions.reset_index(), files["transitions"])
    write_csv(rounds.flows, files["flows"])
    write_csv(rounds.leavers, files["leavers"])
    write_csv(rounds.entrants, files["entrants"])
    metrics = rounds.flat_metrics()
    (folder / "rounds.json").write_text(json.dumps({"previous": str(previous), **metrics}, indent=1),
                                        encoding="utf-8")
    presence = rounds.presence_counts()
    console.print(f"Putaran sebelumnya / previous round {previous.name}: {presence['both']:,} rumah tangga "
                  f"tertaut / linked, {presence['current_only']:,} baru / new, "
                  f"{presence['previous_only']:,} hilang / gone; desil sama / same desil "
                  f"{100 * metrics.get('rounds.share_same_desil', float('nan')):.1f}%")
    for key, value in sorted(metrics.items()):
        if key.endswith((".entered", ".left")):
            console.print(f"  {key.removeprefix('rounds.')}: {value:,.0f}")
    return {f"rounds_{k}": v for k, v in files.items()}


def _score_dask(settings: Settings, scorer: Any, spec: Any, registry: Path, out: Path, *,
                ruleset: str | None, scheduler: str | None, workers: int | None, chunk_rows: int,
                console: Console) -> ScoreOutcome:
    """The Dask engine: a folder of parts, scored by partition on a cluster (resumable)."""
    from targeting.decide.partitioned import ScorerConfig, dask_client, score_partitioned
    from targeting.jobs.console import RowProgress

    config = ScorerConfig.of(scorer, spec, ruleset=ruleset, key_home=settings.home)
    where = scheduler or f"LocalCluster ({workers or 'default'} workers)"
    console.print(f"Dask: {where}; keluaran / output {out}")
    with dask_client(scheduler, n_workers=workers) as client, RowProgress(console) as progress:
        return score_partitioned(config, registry, out, client=client, scorer=scorer, chunk_rows=chunk_rows,
                                 progress=progress, package_version=package_version())


def export_decisions(decisions: Path, fmt: str) -> Path:
    """The decisions table as CSV or Excel beside the Parquet file (text cells safe to open)."""
    from targeting.audit.decisions import read_decisions
    from targeting.spreadsheet import write_csv, write_xlsx

    frame, meta = read_decisions(decisions)
    out = decisions.with_suffix(f".{fmt}")
    if fmt == "csv":
        write_csv(frame, out)
        if meta is not None:
            sidecar = out.with_name(f"{out.stem}.meta.json")
            sidecar.write_text(meta.model_dump_json(indent=1), encoding="utf-8")
    else:
        write_xlsx(out, {"keputusan - decisions": frame})
    return out


def effect_row(e: dict[str, Any]) -> tuple[str, str]:
    """One thing the spec did, as a summary line (every effect counted, nothing silent)."""
    kind = e["effect"]
    if kind == "filter":
        return f"dikecualikan / excluded: {e['rule']} ({e['because']})", f"{e['n']:,}"
    if kind == "recode":
        return f"diubah kodenya / recoded {e['column']}: {e['from']!r} → {e['to']!r}", f"{e['n']:,}"
    if kind == "treated_as_missing":
        return f"dianggap kosong / treated as missing: {e['column']} ({e['reason']})", f"{e['n']:,}"
    if kind == "persons_aggregated":
        return "anggota → rumah tangga / persons → households", f"{e['persons']:,} → {e['households']:,}"
    return kind.replace("_", " "), f"{e.get('n', '')}"


def print_summary(console: Console, outcome: ScoreOutcome) -> None:
    """The run's counts, in Bahasa Indonesia first."""
    c = outcome.counts
    t = Table(title=f"Ringkasan / summary: {outcome.meta.spec}")
    t.add_column("ukuran / measure")
    t.add_column("nilai / value", justify="right")
    t.add_row("baris dibaca / rows read", f"{outcome.n_input:,}")
    t.add_row("ditolak / rejected (lihat / see rejects.csv)", f"{outcome.n_rejected:,}")
    t.add_row("dikecualikan oleh spesifikasi / excluded by the spec", f"{outcome.n_excluded:,}")
    t.add_row("rumah tangga dinilai / households scored", f"{outcome.n_households:,}")
    t.add_row("jiwa terwakili / persons represented", f"{c.get('weighted_persons', 0):,.0f}")
    sel = outcome.meta.selection.get("text_id", "")
    t.add_row(f"terpilih / selected ({sel})", f"{c.get('selected', 0):,} rumah tangga / households, "
              f"{c.get('selected_persons', 0):,.0f} jiwa / persons")
    for pid, n in c.get("programs", {}).items():
        name = outcome.meta.programs.get(pid, {}).get("id", pid)
        t.add_row(f"layak {name} / eligible", f"{n:,}")
    for verdict, n in sorted(c.get("verdicts", {}).items()):
        t.add_row(f"putusan aturan / rule verdict: {verdict_text(verdict)}", f"{n:,}")
    desil = c.get("desil", {})
    t.add_row("rumah tangga per desil / households by desil",
              " ".join(f"{d}:{desil.get(str(d), 0):,}" for d in range(1, 11)))
    for e in outcome.effects:
        t.add_row(*effect_row(e))
    if outcome.partitions:
        p = outcome.partitions
        t.add_row("partisi / partitions (sudah selesai / already done: pass 1, pass 2)",
                  f"{p['partitions']:,} ({p['pass1_skipped']:,}, {p['pass2_skipped']:,})")
    t.add_row("waktu / wall time", f"{outcome.seconds.get('total', 0):.1f} s")
    console.print(t)
    if outcome.rejects is not None:
        rejects = pd.read_csv(outcome.rejects, usecols=["column", "reason", "reason_en"], dtype="string")
        console.print(problems_table(rejects))
    console.print(f"keputusan / decisions: {outcome.decisions}")
    if outcome.rejects is not None:
        console.print(f"ditolak / rejects: {outcome.rejects}")
    for fmt, path in outcome.extra_files.items():
        console.print(f"{fmt}: {path}")
    console.print(f"ringkasan / summary: {outcome.summary}")
