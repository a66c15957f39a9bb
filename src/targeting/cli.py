"""The command line: one Typer app; every command is a thin call into the library.

Heavy libraries (pandas, lightgbm, shap, mlflow) are imported inside the commands so that
``targeting --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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
models_app = typer.Typer(help="Model registry (MLflow): list and promote.", no_args_is_help=True)
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
) -> None:
    """Periksa berkas rumah tangga / validate a household file; write accepted rows and rejects.

    Exit code 0: every row accepted; 1: some rows rejected (see the rejects file); 2: the file
    cannot be used at all (missing column, encoding, duplicate ids).
    """
    from rich.console import Console
    from rich.table import Table

    from targeting.privacy import load_key
    from targeting.settings import get_settings
    from targeting.survey.load import load_dataset
    from targeting.survey.outputs import write_validation
    from targeting.survey.spec import load_spec

    spec_obj = load_spec(spec)
    loaded = load_dataset(spec_obj, files={spec_obj.files[0].name: file})
    settings = get_settings()
    paths = write_validation(loaded, file, out_dir or file.parent, load_key(settings.home))
    console = Console()
    table = Table(title=f"Validasi / validation: {file.name}")
    table.add_column("ukuran / measure")
    table.add_column("nilai / value", justify="right")
    table.add_row("baris dibaca / rows read", f"{loaded.n_input:,}")
    table.add_row("diterima / accepted", f"{len(loaded.data):,}")
    table.add_row("ditolak / rejected", f"{loaded.n_rejected_rows:,}")
    console.print(table)
    if len(loaded.rejects):
        top = (
            loaded.rejects.groupby(["column", "reason_en"]).size().sort_values(ascending=False).head(10)
        )
        problems = Table(title="Masalah terbanyak / most frequent problems")
        for col in ("kolom / column", "alasan / reason", "n"):
            problems.add_column(col)
        for (col, reason), n in top.items():
            problems.add_row(str(col), str(reason), str(n))
        console.print(problems)
    if loaded.ignored_columns:
        console.print(f"kolom diabaikan / ignored columns: {', '.join(loaded.ignored_columns)}")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    raise typer.Exit(1 if loaded.n_rejected_rows else 0)


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    try:
        app()
    except TargetingError as exc:
        if _STATE["verbose"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
