"""The end-to-end job on the embedded default: survey -> model -> explanations -> rules/audit -> report.

The CLI's ``generate`` and ``demo`` commands are thin calls into these functions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pandas as pd
from rich.console import Console
from rich.table import Table

from targeting.errors import TargetingError
from targeting.settings import Settings


@contextmanager
def step(console: Console, title: str) -> Iterator[None]:
    """A spinner while a step runs, then its wall time."""
    start = time.perf_counter()
    with console.status(f"[bold]{title}[/bold] ..."):
        yield
    console.print(f"[green]✓[/green] {title} [dim]({time.perf_counter() - start:.1f} s)[/dim]")


def print_frame(console: Console, frame: pd.DataFrame, title: str) -> None:
    """A DataFrame as a rich table (numbers right-aligned, floats to 4 significant digits)."""
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "if" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


def generate_kukar(settings: Settings, *, out_dir: Path | None = None, n_survey: int = 20_000,
                   n_registry: int = 260_000, seed: int = 2024,
                   console: Console | None = None) -> dict[str, Path]:
    """Generate and write the synthetic Kukar tables; print the calibration table."""
    from targeting.survey import synthetic

    console = console or Console()
    out_dir = out_dir or settings.data_dir / "kukar"
    title = f"Membuat data sintetis / generating survey ({n_survey:,}), registry ({n_registry:,})"
    with step(console, title):
        data = synthetic.generate(n_survey=n_survey, n_registry=n_registry, seed=seed)
    with step(console, f"Menulis / writing {out_dir}"):
        paths = synthetic.write(data, out_dir)
    print_frame(console, synthetic.calibration_table(data), "Kalibrasi / calibration (target vs achieved)")
    return paths


def run_demo(settings: Settings, *, n_registry: int = 260_000, n_survey: int = 20_000, seed: int = 2024,
             lang: str = "id",
             desil_max: int = 1, pdf: bool | Literal["if_available"] = "if_available", n_bootstrap: int = 100,
             console: Console | None = None) -> dict[str, Path]:
    """Run the whole pipeline on fresh synthetic data and return the paths it wrote.

    generate -> validate -> cross-validate, train and register (MLflow) -> load the champion ->
    score and explain the registry -> Kepmensos 262/2022 rules -> audit against the synthetic truth ->
    HTML/PDF report and field-verification lists.
    """
    from targeting import tracking
    from targeting.audit import run_audit
    from targeting.eligibility import evaluate as evaluate_rules
    from targeting.eligibility import load_ruleset
    from targeting.experiment import load_experiment, run_experiment
    from targeting.pmt import load_model
    from targeting.privacy import load_key
    from targeting.report import ReportInfo, write_audit_report
    from targeting.scoring import decisions_frame, score_registry
    from targeting.shipped import find
    from targeting.survey.load import load_dataset
    from targeting.survey.outputs import export_frame

    console = console or Console(width=max(140, Console().width))
    start = time.perf_counter()
    paths = generate_kukar(settings, n_survey=n_survey, n_registry=n_registry, seed=seed, console=console)
    with step(console, "Validasi survei dan registri / validating survey and registry"):
        survey = load_dataset("kukar_survey", data_dir=settings.data_dir)
        registry = load_dataset("kukar_registry", data_dir=settings.data_dir)
    for name, loaded in (("survey", survey), ("registry", registry)):
        console.print(f"  {name}: {len(loaded.data):,} diterima / accepted, "
                      f"{loaded.n_rejected_rows:,} ditolak / rejected")

    exp = load_experiment(find("experiments", "kukar_kfold"))
    # The demo validates the default backend against OLS only; `make bench` compares every backend.
    final = exp.final.backend if exp.final else "ensemble"
    exp = exp.model_copy(update={"n_bootstrap": n_bootstrap, "backends": [exp.baseline, final]})
    title = (f"Validasi silang dan pelatihan / {exp.validation.folds}-fold CV of {', '.join(exp.backends)}; "
             f"fit and register {final}")
    with step(console, title):
        outcome = run_experiment(exp, settings)
    print_frame(console, outcome.comparison.reset_index(),
                f"Validasi di luar sampel / out-of-sample validation (Δ = backend − {exp.baseline})")
    # The model is scored from the registry (as `serve` would), downloaded once.
    found = tracking.download_alias(settings, alias=tracking.CHAMPION)
    if found is None and outcome.model_version is not None:
        tracking.promote(settings, outcome.model_version)
        console.print(f"  model v{outcome.model_version} dipromosikan / promoted to @champion (first model)")
        found = tracking.download_alias(settings, alias=tracking.CHAMPION)
    else:
        console.print(f"  model v{outcome.model_version} terdaftar / registered as @challenger; "
                      "@champion unchanged (promote with `targeting models promote`)")
    if found is None:
        raise TargetingError("no @champion model in the registry and none was registered")
    model_dir, _version = found
    model, card = load_model(model_dir)

    with step(console, f"Skor dan alasan / scoring and explaining {len(registry.data):,} households"):
        scored = score_registry(model, registry.data, desil_max=desil_max)
    ruleset = load_ruleset("kepmensos_262_2022")
    with step(console, f"Kriteria / {ruleset.id} rules"):
        trace = evaluate_rules(registry.data.frame, ruleset)
    truth = pd.read_parquet(paths["truth"])
    decisions = decisions_frame(registry.data, scored, trace, truth, poverty_line=settings.poverty_line)
    key = load_key(settings.home)
    out_dir = settings.reports_dir / f"audit-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    decisions_path = out_dir / "decisions.parquet"
    export_frame(decisions, key).to_parquet(decisions_path, index=False)
    info = ReportInfo(
        program=f"Desil 1–{desil_max} (model PMT) / desil 1–{desil_max}" if desil_max > 1
        else "Desil 1: 10% penduduk termiskin menurut model / the model's poorest 10%",
        selection=f"desil <= {desil_max}",
        poverty_line=settings.poverty_line,
        data_source="Registri sintetis Kutai Kartanegara (targeting generate) / synthetic Kukar registry",
        synthetic=True,
    )
    with step(console, "Audit dan laporan / audit and report (HTML, PDF, flagged lists)"):
        result = run_audit(decisions, key=key, n_boot=n_bootstrap, seed=seed)
        report = write_audit_report(result, model_card=card, ruleset=ruleset, out_dir=out_dir,
                                    lang=lang, pdf=pdf, info=info)
    console.print(f"[bold]Selesai / done[/bold] in {time.perf_counter() - start:.0f} s")
    written = {"decisions": decisions_path, **{k: Path(v) for k, v in vars(report).items()
                                                 if isinstance(v, Path)}}
    for name, path in written.items():
        console.print(f"  {name}: {path}")
    return written


def build_default_model(out_dir: Path, *, seed: int = 2024, n_bootstrap: int = 200,
                        console: Console | None = None) -> Path:
    """Train the model shipped in ``models/default``.

    The kukar_kfold experiment on a fresh synthetic survey (seed ``seed``): validated, fitted on all
    20,000 households, saved with its reference ranks.
    """
    import shutil
    import tempfile

    from targeting.experiment import load_experiment, run_experiment
    from targeting.settings import get_settings
    from targeting.shipped import find

    console = console or Console()
    with tempfile.TemporaryDirectory() as home:
        settings = get_settings(home=Path(home), seed=seed)
        exp = load_experiment(find("experiments", "kukar_kfold"))
        exp = exp.model_copy(update={"n_bootstrap": n_bootstrap})
        with step(console, "Melatih model bawaan / training the shipped default model"):
            outcome = run_experiment(exp, settings, track=False)
        assert outcome.model_dir is not None
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(outcome.model_dir, out_dir)
    print_frame(console, outcome.comparison.reset_index(), "Validasi / validation of the default model")
    return out_dir
