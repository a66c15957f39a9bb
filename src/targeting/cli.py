"""The command line: one Typer app; every command is a thin call into the library.

Heavy libraries (pandas, lightgbm, shap, mlflow) are imported inside the commands so that
``targeting --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from targeting.errors import TargetingError

app = typer.Typer(
    name="targeting",
    help="Penargetan bantuan sosial: PMT, alasan keputusan, dan audit. "
    "(Social-assistance targeting: proxy-means test, explained decisions, audits.)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rules_app = typer.Typer(help="Aturan kelayakan (rule sets): check and explain.", no_args_is_help=True)
models_app = typer.Typer(help="Models: registry (list, promote) and signatures (keygen, sign, verify).",
                         no_args_is_help=True)
experiment_app = typer.Typer(help="Experiments defined in YAML.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(models_app, name="models")
app.add_typer(experiment_app, name="experiment")

_STATE = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")] = False,
) -> None:
    _STATE["verbose"] = verbose


# ---- survey ---------------------------------------------------------------------------------------


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel (.xlsx) file of households.")],
    spec: Annotated[
        str, typer.Option(help="Dataset spec name or YAML path (default: the Indonesian contract).")
    ] = "indonesia_household",
    out_dir: Annotated[
        Path | None, typer.Option(help="Where accepted/rejects files go (default: next to FILE).")
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="Excel: the sheet to read (needed when several hold data).")
    ] = None,
) -> None:
    """Periksa berkas rumah tangga / validate a household file; write accepted rows and rejects.

    Exit code 0: every row accepted; 1: some rows rejected (see the rejects file); 2: the file
    cannot be used at all (missing column, encoding, ragged rows, duplicate ids, several sheets).
    """
    from rich.console import Console
    from rich.table import Table

    from targeting.privacy import load_key
    from targeting.settings import get_settings
    from targeting.survey.load import load_dataset
    from targeting.survey.outputs import write_validation
    from targeting.survey.spec import load_spec

    spec_obj = load_spec(spec)
    if sheet is not None:
        first = spec_obj.files[0].model_copy(update={"sheet": sheet})
        spec_obj = spec_obj.model_copy(update={"files": [first, *spec_obj.files[1:]]})
    console = Console()
    with console.status(f"Membaca dan memeriksa / reading and validating {file.name} ..."):
        loaded = load_dataset(spec_obj, files={spec_obj.files[0].name: file})
    settings = get_settings()
    paths = write_validation(loaded, file, out_dir or file.parent, load_key(settings.home))
    table = Table(title=f"Validasi / validation: {file.name}")
    table.add_column("ukuran / measure")
    table.add_column("nilai / value", justify="right")
    table.add_row("baris dibaca / rows read", f"{loaded.n_input:,}")
    table.add_row("diterima / accepted", f"{len(loaded.data):,}")
    table.add_row("ditolak / rejected", f"{loaded.n_rejected_rows:,}")
    table.add_row("dikecualikan oleh spesifikasi / excluded by the spec", f"{loaded.n_excluded_rows:,}")
    from targeting.jobs.score import effect_row

    for effect in loaded.effects:
        table.add_row(*effect_row(effect))
    console.print(table)
    if len(loaded.rejects):
        from targeting.jobs.console import problems_table

        console.print(problems_table(loaded.rejects))
    if loaded.ignored_columns:
        console.print(_ignored(loaded.ignored_columns), markup=False, highlight=False)
    for kind, path in paths.items():
        console.print(f"{_WRITTEN.get(kind, kind)}: {path}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if loaded.n_rejected_rows else 0)


_WRITTEN = {"accepted": "diterima / accepted", "rejects": "ditolak / rejects",
            "excluded": "dikecualikan / excluded", "rejects_xlsx": "ditolak / rejects (Excel)"}


def _ignored(columns: list[str], shown: int = 10) -> str:
    """Unknown columns, once and compactly: a file may carry thousands."""
    names = [c if len(c) <= 40 else c[:40] + "…" for c in columns[:shown]]
    more = f" (+{len(columns) - shown:,} lagi / more)" if len(columns) > shown else ""
    return f"kolom diabaikan / ignored columns ({len(columns):,}): {', '.join(names)}{more}"


# ---- rules ----------------------------------------------------------------------------------------


def _read_households(path: Path):  # -> pandas.DataFrame (pandas is imported lazily)
    """Read and validate a household file with the survey contract (the same reader as `validate`).

    Rejected rows are written to ``<file>.rejects.csv`` and announced; rules run on the accepted rows.
    """
    from targeting.spreadsheet import write_csv
    from targeting.survey.load import load_dataset
    from targeting.survey.spec import load_spec

    spec = load_spec("indonesia_household")
    loaded = load_dataset(spec, files={spec.files[0].name: path})
    if loaded.n_rejected_rows:
        rejects = write_csv(loaded.rejects, path.with_name(f"{path.stem}.rejects.csv"))
        typer.echo(
            f"{loaded.n_rejected_rows:,} baris ditolak oleh kontrak data, tidak dinilai / rows rejected by "
            f"the contract, not evaluated: {rejects}",
            err=True,
        )
    return loaded.data.frame


def _as_of(text: str | None):  # -> datetime.date | None
    from datetime import date

    try:
        return None if text is None else date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from exc


_RulesetOpt = Annotated[str, typer.Option(help="Rule-set name (see `targeting rules list`) or YAML path.")]
_AsOfOpt = Annotated[
    str | None, typer.Option(help="Registry reference date YYYY-MM-DD: the thresholds in force then.")
]
_KOpt = Annotated[int | None, typer.Option("--k", help="Override the minimum number of criteria met.")]
_DeflateOpt = Annotated[
    int | None, typer.Option(help="Restate rupiah thresholds in this year's prices (BPS-14).")
]
_OutOfForceOpt = Annotated[
    bool, typer.Option(help="Apply a rule set outside its dates of validity (recorded in the trace).")
]
_MissingColsOpt = Annotated[
    bool, typer.Option(help="Treat a needed column that is absent as unknown for every household.")
]


@rules_app.command("list")
def rules_list() -> None:
    """Daftar aturan / list the shipped rule sets with their dates of validity."""
    from targeting.eligibility import list_rulesets, load_ruleset

    for name in list_rulesets():
        rs = load_ruleset(name)
        until = f"dicabut / revoked {rs.revoked_on}" if rs.revoked_on else "berlaku / in force"
        typer.echo(f"{name:<22} {rs.in_force_from} .. {until:<29} {rs.title_id}")
        typer.echo(f"{'':<22} {'':<10}    {'':<29} {rs.title_en}")


@rules_app.command("check")
def rules_check(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel (.xlsx) file of households.")],
    ruleset: _RulesetOpt = "kepmensos_262_2022",
    as_of: _AsOfOpt = None,
    k: _KOpt = None,
    deflate_to_year: _DeflateOpt = None,
    by: Annotated[str, typer.Option(help="Column to break the summary down by.")] = "kecamatan",
    out: Annotated[
        Path | None, typer.Option(help="Per-household trace (.csv or .parquet; default: next to FILE).")
    ] = None,
    allow_out_of_force: _OutOfForceOpt = False,
    allow_missing_columns: _MissingColsOpt = False,
) -> None:
    """Terapkan aturan / apply a rule set to every household: summary and per-household trace."""
    from targeting.eligibility import evaluate, format_summary, load_ruleset, summarize
    from targeting.spreadsheet import write_csv

    frame = _read_households(file)
    rs = load_ruleset(ruleset)
    trace = evaluate(
        frame, rs, as_of=_as_of(as_of), min_criteria_met=k, deflate_to_year=deflate_to_year,
        allow_out_of_force=allow_out_of_force,
        missing_columns="unknown" if allow_missing_columns else "error",
    )  # fmt: skip
    weight = frame["weight"] if "weight" in frame.columns else None
    summary = summarize(trace, frame, weight=weight, by=by if by in frame.columns else None)
    typer.echo(format_summary(summary, rs))
    path = out or file.with_name(f"{file.stem}.{rs.id}.trace.csv")
    if path.suffix.lower() == ".parquet":
        trace.to_parquet(path, index=False)
    else:
        write_csv(trace, path)
    typer.echo(f"\njejak per rumah tangga / per-household trace: {path}")


@rules_app.command("explain")
def rules_explain(
    household_id: Annotated[str, typer.Argument(help="The household's id (household_id).")],
    file: Annotated[Path, typer.Option(help="CSV, Parquet or Excel (.xlsx) file of households.")],
    ruleset: _RulesetOpt = "kepmensos_262_2022",
    as_of: _AsOfOpt = None,
    k: _KOpt = None,
    deflate_to_year: _DeflateOpt = None,
    lang: Annotated[str, typer.Option(help="id (Bahasa Indonesia) or en.")] = "id",
    json_out: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
    allow_out_of_force: _OutOfForceOpt = False,
    allow_missing_columns: _MissingColsOpt = False,
) -> None:
    """Jelaskan / explain which criteria one household met, and on which answers."""
    from targeting.eligibility import explain_household, format_explanation, load_ruleset

    if lang not in ("id", "en"):
        raise typer.BadParameter("use id or en", param_hint="--lang")
    expl = explain_household(
        household_id, _read_households(file), load_ruleset(ruleset), as_of=_as_of(as_of),
        min_criteria_met=k, deflate_to_year=deflate_to_year, allow_out_of_force=allow_out_of_force,
        missing_columns="unknown" if allow_missing_columns else "error",
    )  # fmt: skip
    typer.echo(expl.model_dump_json(indent=2) if json_out else format_explanation(expl, lang))  # type: ignore[arg-type]


@app.command()
def generate(
    out_dir: Annotated[
        Path | None, typer.Option(help="Output folder (default: <TARGETING_HOME>/data/kukar).")
    ] = None,
    n_survey: Annotated[int, typer.Option(help="Households in the survey sample.")] = 20_000,
    n_registry: Annotated[int, typer.Option(help="Households in the registry.")] = 260_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 2024,
    rounds: Annotated[
        int, typer.Option(min=1, max=8, help="Registry rounds: 2+ adds later rounds (shocks, splits...).")
    ] = 1,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Write the registry as this many Parquet parts "
                                 "(registry_parts/), one at a time: for registries of millions.")
    ] = None,
) -> None:
    """Buat data sintetis Kukar / generate the synthetic Kukar survey, registry and ground truth."""
    from targeting.jobs.demo import generate_kukar
    from targeting.settings import get_settings

    if partitions is not None and partitions > n_registry:
        raise typer.BadParameter(f"more parts than households ({n_registry:,})", param_hint="--partitions")
    generate_kukar(get_settings(), out_dir=out_dir, n_survey=n_survey, n_registry=n_registry, seed=seed,
                   rounds=rounds, partitions=partitions)


@app.command()
def demo(
    n_registry: Annotated[int, typer.Option(help="Households in the synthetic registry.")] = 260_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2024,
    lang: Annotated[str, typer.Option(help="Report language: id or en.")] = "id",
) -> None:
    """Jalankan seluruh alur / run the whole job on the embedded synthetic Kukar data.

    The same as `targeting run kukar_demo` (the shipped plan), with these overrides.
    """
    from targeting.jobs.demo import run_demo
    from targeting.settings import get_settings

    run_demo(get_settings(), n_registry=n_registry, seed=seed, lang=lang)


@app.command()
def run(
    plan: Annotated[
        str, typer.Argument(help="Plan YAML, or a shipped plan (kukar_demo, paraguay_2024, kukar_small).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: <TARGETING_HOME>/runs/<plan>-<time>).")
    ] = None,
) -> None:
    """Jalankan rencana / run a district's plan: train (or pick) a model, score the registry, audit, report.

    A plan (YAML) names the training survey or a trained model, the registry, the rule set and its
    k, the selection (programme, desil or quota per kecamatan), the audit and the report language.
    """
    from targeting.jobs.plan import load_plan, run_plan
    from targeting.settings import get_settings

    plan_obj, base = load_plan(plan)
    run_plan(get_settings(), plan_obj, base=base, out_dir=out)


# ---- score and audit --------------------------------------------------------------------------------


def _selection(program: str | None, desil_max: int | None, quota: Path | None):  # -> Selection
    from targeting.decide import Selection

    if sum(x is not None for x in (program, desil_max, quota)) > 1:
        raise typer.BadParameter("give at most one of --program, --desil-max, --quota")
    if quota is not None:
        return Selection.from_quota_file(quota)
    return Selection(program=program, desil_max=desil_max)


_ModelOpt = Annotated[
    str, typer.Option(help="champion or challenger (registry alias), default (shipped), or a model folder.")
]
_RankOpt = Annotated[
    str, typer.Option("--rank", help="within: desil among the file's own households (a registry); reference: "
                      "against the model's training population (as the API ranks one household).")
]
_ProgramOpt = Annotated[
    str | None, typer.Option(help="Select a programme's desil range (pkh, sembako, pbi_jk).")
]
_DesilOpt = Annotated[int | None, typer.Option(min=1, max=10, help="Select desil 1..K.")]
_UnsignedOpt = Annotated[
    bool, typer.Option(help="Use a model that is unsigned or signed by an untrusted key (recorded in every "
                       "decision as 'unsigned').")
]
_QuotaOpt = Annotated[
    Path | None, typer.Option(help="CSV kecamatan,households: the poorest N households of each kecamatan.")
]


@app.command()
def score(
    file: Annotated[
        Path | None, typer.Argument(help="Registry file (CSV, Parquet or Excel); default: the spec's own.")
    ] = None,
    spec: Annotated[str, typer.Option(help="Dataset spec name or YAML path.")] = "indonesia_household",
    model: _ModelOpt = "champion",
    ruleset: Annotated[
        str, typer.Option(help="Rule set (see `targeting rules list`), or 'none'.")
    ] = "kepmensos_262_2022",
    k: _KOpt = None,
    as_of: _AsOfOpt = None,
    rank: _RankOpt = "within",
    program: _ProgramOpt = None,
    desil_max: _DesilOpt = None,
    quota: _QuotaOpt = None,
    top_k: Annotated[int, typer.Option(min=0, max=10, help="Reasons per household.")] = 4,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: <TARGETING_HOME>/runs/score-<spec>-<time>).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet, plus csv and/or xlsx (comma-separated).")
    ] = "parquet",
    chunk_rows: Annotated[int, typer.Option(min=1000, help="Households per chunk (memory bound).")] = 32_768,
    data: _DataOpt = None,
    previous: Annotated[
        Path | None, typer.Option(help="The previous round's decisions.parquet: transitions, entries, exits.")
    ] = None,
    contributions: Annotated[
        bool, typer.Option(help="Keep every indicator's contribution (next round can explain who moved).")
    ] = False,
    allow_unsigned: _UnsignedOpt = False,
    engine: Annotated[
        str, typer.Option(help="local (this process, streaming) or dask (a folder of Parquet parts on a "
                          "Dask cluster; rerun the same command to resume).")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://host:8786); default: a LocalCluster.")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="LocalCluster worker processes.")] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Threads this process may use (default: its available cores).")
    ] = None,
) -> None:
    """Nilai registri / score a registry: desil, programmes, rule verdict, reasons for every household.

    FILE may be a folder of Parquet parts (a partitioned registry); with --engine dask it must be.

    Writes decisions.parquet (one row per household: predicted welfare, percentile, desil, programme
    flags, the selection, every criterion's flag, top reasons as codes and texts in Bahasa Indonesia and
    English, and the truth where the spec measures welfare), rejects.csv and summary.json.
    Exit 0: all rows accepted; 1: some rows rejected (see rejects.csv); 2: unusable input.
    """
    from rich.console import Console

    from targeting.jobs.score import score_job
    from targeting.settings import get_settings

    if rank not in ("within", "reference"):
        raise typer.BadParameter("use within or reference", param_hint="--rank")
    settings = get_settings()
    formats = tuple(dict.fromkeys(["parquet", *[f.strip() for f in fmt.split(",") if f.strip()]]))
    outcome = score_job(
        settings, file, spec=spec, model=model, ruleset=None if ruleset == "none" else ruleset,
        min_criteria_met=k, as_of=_as_of(as_of), ranking=rank,
        selection=_selection(program, desil_max, quota), top_k=top_k, out_dir=out, formats=formats,
        chunk_rows=chunk_rows, data_dir=None if data is None else _data_dir(data, settings),
        previous=previous, keep_contributions=contributions or previous is not None,
        allow_unsigned=allow_unsigned, console=Console(stderr=True), engine=engine, scheduler=scheduler,
        workers=workers, threads=threads,
    )  # fmt: skip
    typer.echo(str(outcome.decisions))
    raise typer.Exit(1 if outcome.n_rejected else 0)


def _data_dir(data: str, settings):  # -> Path
    from targeting.survey.load import default_data_dir

    if data not in ("home", "shared"):
        raise typer.BadParameter("use home (generated data) or shared (real surveys)", param_hint="--data")
    return settings.data_dir if data == "home" else default_data_dir()


@app.command()
def verify(
    decisions: Annotated[Path, typer.Argument(help="decisions.parquet from `targeting score`.")],
    visits: Annotated[int, typer.Option(min=1, help="Enumerator visits the office can make.")],
    per_kecamatan: Annotated[
        bool, typer.Option(help="Share visits across kecamatan (a floor each, then where they count most).")
    ] = False,
    exclusion_weight: Annotated[
        float, typer.Option(min=0.0, help="Count a corrected exclusion as this many corrected inclusions.")
    ] = 1.0,
    out: Annotated[Path | None, typer.Option(help="Workbook path (default: beside DECISIONS).")] = None,
) -> None:
    """Daftar verifikasi lapangan / the field-verification list: the visits that correct the most errors.

    Households in order of the expected persons a visit sets right (probability the decision is
    wrong x persons), within the visit budget; each with its reasons and the indicators to check on
    the spot. An Excel workbook for enumerators (pseudonymised ids, Bahasa Indonesia first), with the
    model–rules disagreements on a second sheet.
    """
    from targeting.audit.decisions import read_decisions
    from targeting.decide.schema import P_OTHER_SIDE
    from targeting.errors import InputFileError
    from targeting.privacy import load_key
    from targeting.settings import get_settings
    from targeting.verify import write_verification_list
    from targeting.verify._columns import EXPECTED

    frame, meta = read_decisions(decisions)
    if P_OTHER_SIDE not in frame.columns:
        raise InputFileError(
            f"{decisions}: no {P_OTHER_SIDE} column: the model that scored it has no calibrated welfare "
            "intervals (intervals.json); retrain it (`targeting train`) and score again"
        )
    about = []
    if meta is not None:
        about = [("Pilihan / selection", str(meta.selection.get("text_id", ""))),
                 ("Model", str(meta.model.get("version", ""))), ("Data", meta.dataset_title or meta.spec)]
    path, chosen = write_verification_list(
        frame, out or decisions.with_name("verifikasi_lapangan.xlsx"), visits,
        key=load_key(get_settings().home), per_kecamatan=per_kecamatan, exclusion_weight=exclusion_weight,
        about=about,
    )
    expected = float(chosen[EXPECTED].sum())
    typer.echo(f"{len(chosen):,} kunjungan / visits; perkiraan jiwa yang keputusannya dibetulkan / expected "
               f"persons whose decision is corrected: {expected:,.0f}")
    typer.echo(str(path))


@app.command()
def drift(
    reference: Annotated[str, typer.Argument(help="Training survey: a file, year=2022, or spec[year=2022].")],
    current: Annotated[str, typer.Argument(help="Registry or later round: a file, year=2024, spec[...].")],
    spec: Annotated[str, typer.Option(help="Dataset spec of both sides.")] = "indonesia_household",
    current_spec: Annotated[str | None, typer.Option(help="Another spec for the current side.")] = None,
    model: Annotated[
        Path | None, typer.Option(help="A model folder: adds the predicted-welfare distribution.")
    ] = None,
    unit: Annotated[str, typer.Option(help="household (default) or person shares.")] = "household",
    out: Annotated[Path | None, typer.Option(help="CSV of the table (default: TARGETING_HOME/runs).")] = None,
    track: Annotated[bool, typer.Option(help="Also log the drift metrics as an MLflow run.")] = False,
) -> None:
    """Pergeseran data / drift: weighted PSI and tests per indicator, training survey vs registry or round.

    Thresholds are data (targeting/drift/thresholds.yaml); a band is a flag only when the weighted
    test also finds the shift after the multiple-testing correction.
    """
    from rich.console import Console

    from targeting.drift.command import drift_command
    from targeting.jobs.score import run_dir
    from targeting.settings import get_settings

    if unit not in ("household", "person"):
        raise typer.BadParameter("use household or person", param_hint="--unit")
    settings = get_settings()
    folder = run_dir(settings, "drift", "".join(ch if ch.isalnum() else "_" for ch in current)[:40])
    result = drift_command(reference, current, spec, current_spec=current_spec, model=model,
                           out=out or folder / "drift.csv", unit=unit,  # type: ignore[arg-type]
                           console=Console(width=max(140, Console().width)))
    if track:
        import tempfile

        from targeting import tracking

        with tempfile.TemporaryDirectory() as empty:
            run_id = tracking.log_training_run(
                settings, run_name=f"drift {reference} -> {current}", experiment="drift",
                params={"reference": reference, "current": current, "spec": spec, "unit": unit},
                metrics=result.flat_metrics(), model_dir=Path(empty), tables={"drift": result.to_frame()},
                tags={"kind": "drift"})
        typer.echo(f"run MLflow / MLflow run: {run_id}")


@app.command()
def audit(
    decisions: Annotated[
        Path, typer.Argument(help="decisions.parquet from `targeting score` (or a .csv with its .meta.json).")
    ],
    model_card: Annotated[
        Path | None, typer.Option(help="Model card JSON (default: the card of the model that scored).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Output folder (default: an 'audit' folder beside DECISIONS).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Report language: id (default) or en.")] = "id",
    unit: Annotated[str, typer.Option(help="What rates count: person (default) or household.")] = "person",
    program: Annotated[str | None, typer.Option(help="Programme and cut-off, e.g. 'PKH, desil 1-4'.")] = None,
    selection: Annotated[
        str | None, typer.Option(help="How the model selected (default: the table's own), e.g. 'desil 1-2'.")
    ] = None,
    data_source: Annotated[str | None, typer.Option(help="Where the households come from.")] = None,
    synthetic: Annotated[bool, typer.Option(help="Mark the report as built on synthetic data.")] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = 200,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 2024,
    no_pdf: Annotated[
        bool, typer.Option("--no-pdf", help="Write the HTML only (no Chromium needed).")
    ] = False,
    pseudonymize_ids: Annotated[
        bool, typer.Option(help="Also replace household ids by keyed pseudonyms in every output.")
    ] = False,
    previous: Annotated[
        Path | None, typer.Option(help="The previous round's decisions.parquet: programme entries and exits "
                                  "by kecamatan and group in the report.")
    ] = None,
    grievances: Annotated[
        bool, typer.Option(help="Show the grievances in the service's decision store (when it has any).")
    ] = True,
    drift: Annotated[
        Path | None, typer.Option(help="The CSV `targeting drift` wrote (training survey vs this registry): "
                                  "a drift section in the report.")
    ] = None,
    current_beneficiaries: Annotated[
        Path | None, typer.Option(help="Current beneficiaries (KPM): CSV/xlsx/Parquet with household_id, "
                                       "head_nik (pseudonymised as read) or head_nik_pseudonym.")
    ] = None,
    visit_capacity: Annotated[
        int | None, typer.Option(help="Households per visit batch in the field workbook (default 300).")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(help="Rp per year for the budget scenarios (default: the model's cost).")
    ] = None,
    no_simulation: Annotated[
        bool, typer.Option("--no-simulation", help="Leave out the budget and poverty-impact section.")
    ] = False,
) -> None:
    """Audit model vs rules vs measured welfare / tulis laporan audit (HTML, PDF, daftar verifikasi).

    With a truth column (measured welfare or a poverty flag, from the registry's spec) the audit is
    three-way; without one it compares the model with the rules only, and the report says so.
    Exit code 0: report written. 2: unusable input, or the PDF could not be printed (the HTML and
    lists are still written; the message says where): pass --no-pdf on machines without Chromium.
    """
    from rich.console import Console

    from targeting.jobs.audit import audit_job
    from targeting.jobs.console import step_with_progress
    from targeting.settings import get_settings

    settings = get_settings()
    stored, keys = _stored_grievances(settings) if grievances else (None, [])
    with step_with_progress(Console(stderr=True), "Audit dan laporan / audit and report") as progress:
        paths = audit_job(
            settings, decisions, model_card=model_card, out_dir=out_dir, lang=lang, unit=unit,
            program=program, selection=selection, data_source=data_source, synthetic=synthetic, n_boot=n_boot,
            seed=seed,
            pdf=not no_pdf, pseudonymize_ids=pseudonymize_ids, current_beneficiaries=current_beneficiaries,
            visit_capacity=visit_capacity, simulate=not no_simulation, budget=budget, progress=progress,
            previous=previous, grievances=stored, grievance_keys=keys, drift=drift,
        )  # fmt: skip
    for name, path in paths.as_dict().items():
        if path is not None:
            typer.echo(f"{name}: {path}")


@app.command()
def simulate(
    decisions: Annotated[Path, typer.Argument(help="decisions.parquet from `targeting score` or `run`.")],
    program: Annotated[
        list[str] | None, typer.Option("--program", help="Programme of benefits.yaml (repeat): sembako, pkh, "
                                                          "pbi_jk. Default: sembako and pkh.")
    ] = None,
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Targeting method (repeat): model, rules, "
                                                        "model_within_rules, quota_kecamatan, perfect.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(help="Rp per year for the equal-budget rows (default: the model's cost).")
    ] = None,
    benefits: Annotated[
        Path | None, typer.Option(help="A benefits YAML instead of the shipped benefits.yaml.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Where simulation.csv and the figure go (default: beside DECISIONS).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the table and figure: id (default) or en.")] = "id",
) -> None:
    """Anggaran dan dampak kemiskinan / budget and poverty-impact scenarios of each targeting method.

    For each programme and method: households and persons reached, yearly cost, leakage (money to the
    non-poor) and, where welfare was measured, the poverty headcount and gap after transfers, at the
    programme's cut-off and at an equal budget. Writes simulation.csv and simulation.svg.
    """
    from targeting.jobs.simulate import simulate_job

    simulate_job(decisions, programs=program, methods=method, budget=budget, benefits=benefits,
                 out_dir=out_dir, lang=lang)


# ---- scoring service (api/) -------------------------------------------------------------------------

keys_app = typer.Typer(help="Kunci API layanan penilaian / scoring-service API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1 behind a proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model_dir: Annotated[
        Path | None, typer.Option(help="Serve this saved model folder instead of the registry champion.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the model).")] = 1,
    allow_unsigned: Annotated[
        bool, typer.Option(help="Serve a model that is unsigned or not signed by a trusted key (recorded).")
    ] = False,
) -> None:
    """Jalankan layanan penilaian / run the scoring service (OpenAPI docs at /docs).

    Serves the MLflow registry's @champion, else the shipped default model (models/default);
    refuses to start when neither exists. Decisions go to the decision store
    (TARGETING_DATABASE_URL, default SQLite in the state folder).
    """
    import logging
    import os

    import uvicorn

    from api.config import get_api_settings
    from api.main import create_app
    from api.scoring import load_scorer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if model_dir is not None:
        os.environ["TARGETING_API_MODEL_DIR"] = str(model_dir.resolve())
    if allow_unsigned:  # through the environment, so that every worker process sees it
        os.environ["TARGETING_API_ALLOW_UNSIGNED"] = "true"
    settings = get_api_settings()
    # Load before the port opens: a service without a model must not start.
    scorer = load_scorer(settings)
    info = scorer.info
    signer = info.components.get("model_signing_key", "unsigned")
    typer.echo(f"model {info.model_name} {info.model_version} ({info.source}); aturan / rules "
               f"{info.ruleset_id}; ditandatangani / signed by {signer}", err=True)
    from api.server import HeadTimeoutH11Protocol

    # No uvicorn access log: its lines hold raw paths (household ids); the service logs route templates.
    # The protocol closes connections whose request head never arrives (slowloris; api.server).
    if workers == 1:
        uvicorn.run(create_app(settings, scorer), host=host, port=port, access_log=False,
                    http=HeadTimeoutH11Protocol)
    else:
        uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                    access_log=False, http=HeadTimeoutH11Protocol)


def _stored_grievances(settings: Any) -> tuple[Any, list[bytes]]:
    """The decision store's grievances and pseudonym keys; nothing when there is no store or none."""
    if settings.database_url is None and not (settings.home / "decisions.db").is_file():
        return None, []
    from sqlalchemy import func, select

    from api.grievances import grievance_frame
    from api.store import GrievanceRow, bind_pseudonym_keys, make_engine, session_factory

    engine = make_engine(settings.decision_db_url())
    try:
        with session_factory(engine)() as session:
            if not session.scalar(select(func.count()).select_from(GrievanceRow)):
                return None, []
            return grievance_frame(session), bind_pseudonym_keys(session, settings.home)
    finally:
        engine.dispose()


@app.command()
def grievance(
    file: Annotated[Path, typer.Argument(help="Grievance file (CSV or Excel): one row per grievance.")],
    lang: Annotated[str, typer.Option(help="Language of the re-scored reasons: id or en.")] = "id",
    top_k: Annotated[int, typer.Option(min=0, max=10, help="Reasons per household.")] = 4,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: <TARGETING_HOME>/runs/grievance-<file>-<time>)."),
    ] = None,
) -> None:
    """Ajukan sanggahan dari berkas / file grievances from a file, into the service's decision store.

    Columns: household_id, reported_by, reported_on (YYYY-MM-DD), channel (desa, kecamatan, dinsos,
    cek_bansos, other), optional revisits (a decision id; default the household's latest) and evidence,
    and the survey fields to correct (a blank cell corrects nothing). Each row is checked, re-scored
    and stored as POST /v1/grievances does, by the model the service uses. Writes grievances.csv
    (what each filed row did and why) and rejects.csv (row, column, value, reason).
    Exit 0: all rows filed; 1: some rows refused (see rejects.csv, nothing stored for them).
    """
    import getpass
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import pandas as pd

    from api.config import get_api_settings
    from api.grievances import file_grievance_table
    from api.scoring import load_scorer
    from api.store import bind_pseudonym_keys, make_engine, session_factory
    from targeting.jobs.score import run_dir
    from targeting.spreadsheet import write_csv
    from targeting.survey.read import read_raw

    if lang not in ("id", "en"):
        raise typer.BadParameter("use id or en", param_hint="--lang")
    frame = read_raw(file)
    settings = get_api_settings()
    scorer = load_scorer(settings)
    engine = make_engine(settings.project.decision_db_url())
    try:
        with session_factory(engine)() as session:
            keys = bind_pseudonym_keys(session, settings.project.home)
            table = file_grievance_table(
                session, scorer, frame, lang=lang, top_k=top_k, pseudonym_keys=keys,
                as_of=datetime.now(ZoneInfo(settings.timezone)).date(),
                filed_by=f"cli:{getpass.getuser()}"[:32])
    finally:
        engine.dispose()
    folder = out or run_dir(settings.project, "grievance", file.stem)
    folder.mkdir(parents=True, exist_ok=True)
    filed_cols = ["row", "household_id", "grievance_id", "status", "upheld", "revisits_decision_id",
                  "decision_id", "changed_fields", "changed_outcome", "penjelasan", "explanation"]
    reject_cols = ["row", "household_id", "column", "value", "reason", "reason_en"]
    write_csv(pd.DataFrame(table.filed, columns=filed_cols), folder / "grievances.csv")
    write_csv(pd.DataFrame(table.rejects, columns=reject_cols), folder / "rejects.csv")
    upheld = sum(bool(r["upheld"]) for r in table.filed)
    refused = len({r["row"] for r in table.rejects})
    typer.echo(f"{len(table.filed)} sanggahan dicatat ({upheld} diterima), {refused} baris ditolak / "
               f"{len(table.filed)} grievances filed ({upheld} upheld), {refused} rows refused: {folder}",
               err=True)
    typer.echo(str(folder / "grievances.csv"))
    raise typer.Exit(1 if refused else 0)


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option(help="scorer (may score, file grievances), inspector (reads decisions), "
                    "analyst (reads models), officer (files grievances, reads decisions).")
    ],
    label: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
) -> None:
    """Buat kunci API / create an API key: printed once on stdout, only its hash is stored."""
    from api.security import ROLES, create_key
    from api.store import make_engine, session_factory
    from targeting.settings import get_settings

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    engine = make_engine(get_settings().decision_db_url())
    with session_factory(engine)() as session:
        key_id, key = create_key(session, role, label=label)
    engine.dispose()
    typer.echo(f"kunci / key id {key_id}, peran / role {role}: salin kunci sekarang, tidak dapat ditampilkan "
               "lagi / copy the key now, it cannot be shown again", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """Daftar kunci API / list API keys (ids, roles, dates; never the keys)."""
    from api.store import list_api_keys, make_engine, session_factory
    from targeting.settings import get_settings

    engine = make_engine(get_settings().decision_db_url())
    with session_factory(engine)() as session:
        for row in list_api_keys(session):
            state = (f"dicabut / revoked {row.revoked_at:%Y-%m-%d}" if row.revoked and row.revoked_at
                     else "aktif / active")
            typer.echo(f"{row.id}\t{row.role}\t{row.created_at:%Y-%m-%d %H:%M}Z\t{state}\t{row.label}")
    engine.dispose()


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the 8 hex digits after tgk_).")],
) -> None:
    """Cabut kunci API / revoke an API key (refused from the next request on)."""
    from api.store import make_engine, revoke_api_key, session_factory
    from targeting.errors import TargetingError
    from targeting.settings import get_settings

    engine = make_engine(get_settings().decision_db_url())
    with session_factory(engine)() as session:
        found = revoke_api_key(session, key_id)
    engine.dispose()
    if not found:
        raise TargetingError(f"no API key with id {key_id!r} (see `targeting keys list`)")
    typer.echo(f"kunci / key {key_id} dicabut / revoked")


pseudonym_app = typer.Typer(help="Kunci samaran / the pseudonymisation key (UU 27/2022).",
                            no_args_is_help=True)
app.add_typer(pseudonym_app, name="pseudonym-key")


@pseudonym_app.command("show")
def pseudonym_key_show() -> None:
    """Sidik kunci / the current key's fingerprint and the store's key history (never the key)."""
    from api.store import make_engine, pseudonym_key_history, session_factory
    from targeting.privacy import key_fingerprint, load_key
    from targeting.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.decision_db_url())
    with session_factory(engine)() as session:
        history = pseudonym_key_history(session)
    engine.dispose()
    typer.echo(f"kunci kini / current key {key_fingerprint(load_key(settings.home, create=False))}")
    typer.echo("kunci penyimpanan keputusan, terlama dulu / decision store keys, oldest first: "
               f"{', '.join(history) or '(belum ada / none recorded)'}")


@pseudonym_app.command("rotate")
def pseudonym_key_rotate() -> None:
    """Ganti kunci samaran / rotate the key: new pseudonyms use a new key; histories stay whole.

    The old key moves to <TARGETING_HOME>/pseudonym_keys/ (0600) and is still used to look up the
    decisions made with it; the decision store records the new key. Back up the state folder's
    keys before and after. Files written earlier (rejects, audits) keep their old pseudonyms.
    """
    from api.store import bind_pseudonym_keys, make_engine, record_pseudonym_key, session_factory
    from targeting.privacy import key_fingerprint, rotate_key
    from targeting.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.decision_db_url())
    with session_factory(engine)() as session:
        bind_pseudonym_keys(session, settings.home)  # the current key must be the store's
        old, new = rotate_key(settings.home)
        record_pseudonym_key(session, key_fingerprint(new))
    engine.dispose()
    typer.echo(f"kunci samaran diganti / pseudonymisation key rotated: {key_fingerprint(old)} -> "
               f"{key_fingerprint(new)}; kunci lama disimpan untuk pencarian / the old key is kept for "
               f"lookups in {settings.home / 'pseudonym_keys'}")


# ---- models and experiments ---------------------------------------------------------------------


def _run_with_spinner(exp, *, track: bool = True):
    """Run an experiment behind a spinner that shows what is being validated."""
    from rich.console import Console

    from targeting.experiment import run_experiment
    from targeting.jobs.console import step_with_progress
    from targeting.settings import get_settings

    what = f"Validasi / {exp.validation.kind} validation of {', '.join(exp.backends)} on {exp.dataset.spec}"
    with step_with_progress(Console(stderr=True), what) as progress:
        return run_experiment(exp, get_settings(), track=track, progress=progress)


def _print_outcome(outcome, console: Any = None) -> None:
    from rich.console import Console

    from targeting.jobs.console import metric_label, print_frame, validation_table

    console = console or Console(width=max(160, Console().width))
    exp = outcome.experiment
    print_frame(console, validation_table(outcome.comparison),
                f"{exp.name}: {outcome.result.dataset} (tingkat kemiskinan / poverty rate "
                f"{outcome.result.poverty_rate:.3f}; nilai [rentang kepercayaan 95 %] / estimate [95% CI]; "
                f"Δ = metode − {exp.baseline} / backend − {exp.baseline})")
    console.print(f"kurva penargetan / targeting curve: {outcome.curve_png}", soft_wrap=True)
    if outcome.community is not None:
        metrics = ["community_recall", "exclusion_error_20", "exclusion_error_30", "spearman"]
        table = outcome.community.table([m for m in metrics if m in set(outcome.community.summary["metric"])])
        table = table.rename(columns=metric_label).reset_index().rename(columns={"method": "metode / method"})
        print_frame(console, table, "PMT, desa dan gabungan / PMT, community and hybrid (di luar sampel "
                    "menurut desa / out of sample by community; rentang kepercayaan 95 % / 95% CI)")
    if outcome.n_rejected:
        console.print(f"[yellow]{outcome.n_rejected:,} rumah tangga ditolak oleh spesifikasi / households "
                      "rejected by the spec (lihat / see the rejects)")
    if outcome.run_id:
        console.print(f"run MLflow / MLflow run: {outcome.run_id}")
    if outcome.model_version:
        console.print(f"model versi / model version {outcome.model_version} terdaftar / registered (alias "
                      f"challenger); jadikan juara / promote with: targeting models promote "
                      f"{outcome.model_version}")


@experiment_app.command("run")
def experiment_run(
    file: Annotated[str, typer.Argument(help="Experiment YAML, or a shipped one's name (e.g. kukar_kfold).")],
    n_bootstrap: Annotated[int | None, typer.Option(help="Override bootstrap replicates.")] = None,
    unit: _UnitOpt = None,
    poor_share: _PoorShareOpt = None,
    coverages: _CoveragesOpt = None,
    seed: _SeedOpt = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not record in MLflow.")] = False,
    threads: _ThreadsOpt = None,
) -> None:
    """Jalankan eksperimen / run an experiment: validation table per backend vs OLS, MLflow run."""
    from targeting.experiment import load_experiment
    from targeting.shipped import find

    exp = load_experiment(find("experiments", file))
    if n_bootstrap is not None:
        exp = exp.model_copy(update={"n_bootstrap": n_bootstrap})
    exp = _with_options(exp, unit=unit, poor_share=poor_share, coverages=coverages, seed=seed,
                        threads=threads)
    _print_outcome(_run_with_spinner(exp, track=not no_track))


_UnitOpt = Annotated[str | None, typer.Option(help="What rates count: person (default) or household.")]
_PoorShareOpt = Annotated[
    float | None, typer.Option(help="Poor = this bottom share of welfare (instead of the spec's truth).")
]
_CoveragesOpt = Annotated[
    str | None, typer.Option(help="Comma-separated: poverty_rate, poverty_line and shares, e.g. 0.2,0.3.")
]
_SeedOpt = Annotated[int | None, typer.Option(help="Seed of the folds and the bootstrap.")]
_ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="LightGBM threads (default: the cores this process may use; "
                             "1 is fastest on a busy shared machine). The model does not depend on it.")
]


def _with_options(exp, *, unit: str | None, poor_share: float | None, coverages: str | None,
                  seed: int | None, threads: int | None = None):  # -> Experiment
    """Command-line choices on top of an experiment, checked as the YAML is (one-line errors)."""
    from targeting.experiment import Experiment
    from targeting.yaml_models import merged

    update: dict = {}
    if unit is not None:
        update["unit"] = unit
    if poor_share is not None:
        update["poor_share"] = poor_share
    if coverages is not None:
        update["coverages"] = [c if c in ("poverty_rate", "poverty_line") else _share(c)
                               for c in (x.strip() for x in coverages.split(",")) if c]
    if seed is not None:
        update["validation"] = {"seed": seed}
    if threads is not None:
        update["params"] = {"n_jobs": threads}
    if not update:
        return exp
    return _checked(Experiment, merged(exp.model_dump(by_alias=True), update), "command-line options")


def _share(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not poverty_rate, poverty_line or a share like 0.2",
                                 param_hint="--coverages") from None


def _checked(model, raw, where: str):  # -> the model instance
    """Validate into a typed model; a problem is one line naming the option."""
    import json

    from targeting.yaml_models import load_yaml_model

    return load_yaml_model("", model, where, raw=json.loads(json.dumps(raw, default=str)))


def _adhoc(spec: str, backends: str, backend: str | None, folds: int, data: str | None,
           train_year: int | None, test_year: int | None, n_bootstrap: int):
    from targeting.experiment import Experiment
    from targeting.survey.spec import load_spec

    validation: dict = {"kind": "kfold", "folds": folds}
    if train_year is not None or test_year is not None:
        if train_year is None or test_year is None:
            raise typer.BadParameter("temporal validation needs both --train-year and --test-year")
        validation = {"kind": "temporal", "train_variables": {"year": train_year},
                      "test_variables": {"year": test_year}}
    names = [b.strip() for b in backends.split(",") if b.strip()]
    if backend and backend not in names:
        names.append(backend)
    # Named after the spec's own name (never its path): outputs go under TARGETING_HOME/experiments.
    raw = {"name": f"{load_spec(spec).name}-{validation['kind']}", "dataset": {"spec": spec, "data": data},
           "validation": validation, "backends": names, "n_bootstrap": n_bootstrap,
           "final": {"backend": backend, "register": True} if backend else None}
    return _checked(Experiment, raw, "--backends/--backend")


_SpecOpt = Annotated[str, typer.Option(help="Dataset spec name or YAML path.")]
_DataOpt = Annotated[
    str | None, typer.Option(help="home (generated data) or shared (real surveys); default: the spec's own.")
]


@app.command()
def train(
    spec: _SpecOpt = "kukar_survey",
    backend: Annotated[str, typer.Option(help="ols, lightgbm, quantile or ensemble.")] = "ensemble",
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    data: _DataOpt = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the CIs.")] = 200,
    unit: _UnitOpt = None,
    poor_share: _PoorShareOpt = None,
    coverages: _CoveragesOpt = None,
    seed: _SeedOpt = None,
    threads: _ThreadsOpt = None,
) -> None:
    """Latih model PMT / train a PMT: cross-validate against OLS, fit on all data, register (challenger)."""
    exp = _adhoc(spec, "ols", backend, folds, data, None, None, n_bootstrap)
    exp = _with_options(exp, unit=unit, poor_share=poor_share, coverages=coverages, seed=seed,
                        threads=threads)
    _print_outcome(_run_with_spinner(exp))


@app.command()
def evaluate(
    spec: _SpecOpt = "kukar_survey",
    backends: Annotated[str, typer.Option(help="Comma-separated.")] = "ols,lightgbm,quantile,ensemble",
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    data: _DataOpt = None,
    train_year: Annotated[int | None, typer.Option(help="Temporal validation: training round.")] = None,
    test_year: Annotated[int | None, typer.Option(help="Temporal validation: test round.")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the CIs.")] = 200,
    unit: _UnitOpt = None,
    poor_share: _PoorShareOpt = None,
    coverages: _CoveragesOpt = None,
    seed: _SeedOpt = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not record in MLflow.")] = False,
    threads: _ThreadsOpt = None,
) -> None:
    """Evaluasi model / compare backends out of sample (K-fold or temporal); nothing is registered."""
    exp = _adhoc(spec, backends, None, folds, data, train_year, test_year, n_bootstrap)
    exp = _with_options(exp, unit=unit, poor_share=poor_share, coverages=coverages, seed=seed,
                        threads=threads)
    _print_outcome(_run_with_spinner(exp, track=not no_track))


@models_app.command("list")
def models_list(name: Annotated[str | None, typer.Option(help="Registered model name.")] = None) -> None:
    """Daftar versi model / list registered model versions and their aliases."""
    from targeting import tracking
    from targeting.settings import get_settings

    settings = get_settings()
    rows = tracking.list_models(settings, name)
    if not rows:
        typer.echo(f"belum ada versi terdaftar / no registered versions of {name or settings.model_name!r} "
                   f"in {settings.tracking_uri()}")
        return
    for m in rows:
        typer.echo(f"{m.name}  v{m.version:<4} {','.join(m.aliases) or '-':<22} {m.created}  run {m.run_id}")


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version to promote.")],
    name: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
    alias: Annotated[str, typer.Option(help="Alias to set.")] = "champion",
) -> None:
    """Jadikan juara / point the champion alias (used by `serve`) at a version."""
    from targeting import tracking
    from targeting.settings import get_settings

    settings = get_settings()
    tracking.promote(settings, version, name=name, alias=alias)
    typer.echo(f"{name or settings.model_name} v{version} kini / is now @{alias}")


@models_app.command("keygen")
def models_keygen(
    out: Annotated[
        Path | None, typer.Option(help="Private key file (default: <TARGETING_HOME>/keys/model_signing.key).")
    ] = None,
    if_missing: Annotated[bool, typer.Option(help="Keep an existing key instead of refusing.")] = False,
) -> None:
    """Buat kunci penandatangan model / create an Ed25519 model-signing key (and its .pub).

    Keep the private key (0600) on the machine that trains and releases models; give the .pub to
    every machine that serves or scores them: copy it into <TARGETING_HOME>/keys/trusted/ there
    (or list it in TARGETING_MODEL_TRUSTED_KEYS). Models saved on a machine with a signing key are
    signed when saved; sign others with `targeting models sign DIR`.
    """
    from targeting.pmt.signing import fingerprint, generate_signing_key, keys_dir, load_private_key
    from targeting.settings import get_settings

    home = get_settings().home
    existing = out or keys_dir(home) / "model_signing.key"
    if if_missing and existing.exists():
        typer.echo(f"kunci penandatangan / signing key {fingerprint(load_private_key(existing))}: {existing} "
                   "(sudah ada, dipertahankan / exists, kept)")
        return
    key_path, pub_path = generate_signing_key(out, home=home)
    typer.echo(f"kunci penandatangan / signing key {fingerprint(load_private_key(key_path))}: {key_path} "
               f"(pribadi / private, 0600); kunci publik untuk dibagikan / public key to share: {pub_path}")


@models_app.command("sign")
def models_sign(
    directory: Annotated[Path, typer.Argument(help="Saved model folder (model_card.json, ...).")],
    key: Annotated[
        Path | None, typer.Option(help="Private key (default: $TARGETING_MODEL_SIGNING_KEY or the state's)")
    ] = None,
    rehash: Annotated[
        bool, typer.Option(help="Accept files that changed since the card was written (you changed them).")
    ] = False,
) -> None:
    """Tandatangani model / sign a model folder: the card lists every file's sha256 and is signed."""
    from targeting.errors import ModelIntegrityError
    from targeting.pmt.persistence import sign_model
    from targeting.pmt.signing import default_signing_key

    private = key or default_signing_key()
    if private is None:
        raise ModelIntegrityError("no signing key: create one with `targeting models keygen`, or pass --key")
    integrity, added = sign_model(directory, private, rehash=rehash)
    if added:
        typer.echo(f"ditambahkan ke kartu / added to the card: {', '.join(added)}")
    typer.echo(f"{directory}: ditandatangani / signed by {integrity.key_fingerprint} "
               f"(kartu / card sha256 {integrity.card_sha256[:16]})")


@models_app.command("verify")
def models_verify(
    directory: Annotated[Path, typer.Argument(help="Saved model folder.")],
) -> None:
    """Periksa tanda tangan model / check a model folder's signature and file hashes (exit 2 if bad)."""
    from targeting.pmt.persistence import verify_model

    integrity = verify_model(directory)
    typer.echo(f"{directory}: OK, ditandatangani / signed by {integrity.key_fingerprint}")


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    try:
        app()
    except TargetingError as exc:
        if _STATE["verbose"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
