"""The end-to-end job on the embedded default: survey -> model -> explanations -> rules/audit -> report.

The CLI's ``generate`` and ``demo`` commands are thin calls into these functions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

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


def run_demo(settings: Settings, *, n_registry: int = 260_000, seed: int = 2024, lang: str = "id",
             console: Console | None = None) -> dict[str, Path]:
    """Run the whole pipeline on fresh synthetic data and return the paths it wrote."""
    from targeting.survey.load import load_dataset

    console = console or Console()
    start = time.perf_counter()
    paths = generate_kukar(settings, n_registry=n_registry, seed=seed, console=console)
    with step(console, "Validasi survei dan registri / validating survey and registry"):
        survey = load_dataset("kukar_survey", data_dir=settings.data_dir)
        registry = load_dataset("kukar_registry", data_dir=settings.data_dir)
    for name, loaded in (("survey", survey), ("registry", registry)):
        console.print(f"  {name}: {len(loaded.data):,} diterima / accepted, "
                      f"{loaded.n_rejected_rows:,} ditolak / rejected")
    console.print(f"[bold]Selesai / done[/bold] in {time.perf_counter() - start:.0f} s")
    return paths
