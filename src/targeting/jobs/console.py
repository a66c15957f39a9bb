"""Console helpers of the jobs: a step with its wall time, a table, a progress bar with rows per second.

On a terminal, rich draws spinners and bars; elsewhere (a log file, CI) each step prints one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table


@contextmanager
def step(console: Console, title: str) -> Iterator[None]:
    """A spinner while a step runs, then its wall time (one line on a non-terminal)."""
    start = time.perf_counter()
    if console.is_terminal:
        with console.status(f"[bold]{title}[/bold] ..."):
            yield
    else:
        console.print(f"… {title}")
        yield
    console.print(f"[green]✓[/green] {title} [dim]({time.perf_counter() - start:.1f} s)[/dim]")


@contextmanager
def step_with_progress(console: Console, title: str) -> Iterator[Callable[[str], None]]:
    """`step`, giving the work a callback for what it is doing now (fold 3 of 5, the bootstrap...).

    On a terminal the spinner's text follows the callback and each message also stays as a line;
    elsewhere each message is one line (a log file shows where a long step is).
    """
    start = time.perf_counter()

    def elapsed() -> str:
        return f"[dim]{time.perf_counter() - start:.0f} s[/dim]"

    if console.is_terminal:
        with console.status(f"[bold]{title}[/bold] ...") as status:

            def tell(message: str) -> None:
                console.print(f"  · {message} {elapsed()}")
                status.update(f"[bold]{title}[/bold]: {message}")

            yield tell
    else:
        console.print(f"… {title}")
        # soft_wrap: a log line is never broken at the console's width
        yield lambda message: console.print(f"  · {message} ({time.perf_counter() - start:.0f} s)",
                                            soft_wrap=True)
    console.print(f"[green]✓[/green] {title} [dim]({time.perf_counter() - start:.1f} s)[/dim]")


def print_frame(console: Console, frame: pd.DataFrame, title: str) -> None:
    """A DataFrame as a rich table (numbers right-aligned, floats to 4 significant digits).

    The title is text, not markup: "[rentang kepercayaan 95 %]" is shown as it is written.
    """
    table = Table(title=escape(title))
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "if" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


#: Coverages of the validation table that are words, not shares.
_COVERAGE = {"poverty rate": "tingkat kemiskinan / poverty rate",
             "poverty line": "garis kemiskinan / poverty line"}
#: Metrics of the community comparison that the report's model card does not name.
_COMMUNITY_METRICS = {
    "community_recall": "Cakupan yang termiskin menurut desa / Recall of the community-poorest",
}


def metric_label(metric: str) -> str:
    """A validation metric as a reader says it, Bahasa Indonesia first (as the model card names it).

    ``exclusion_error``: "Kesalahan eksklusi / Exclusion error"; the community comparison's
    ``exclusion_error_20``: the same, "@ 20%". An unknown name is kept as it is.
    """
    from targeting.report.i18n import messages

    name, _, share = metric.rpartition("_")
    if not share.isdigit():  # exclusion_error_20: at 20 % coverage
        name, share = metric, ""
    key = f"card.comparison.metrics.{name}"
    ids, ens = messages("id"), messages("en")
    if key not in ids or key not in ens:
        return _COMMUNITY_METRICS.get(metric, metric)
    return f"{ids[key]} / {ens[key]}" + (f" @ {share}%" if share else "")


def validation_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """`targeting.pmt.compare_backends`' table for a terminal: metrics and coverages named in both languages.

    Columns: ``metrik / metric``, ``cakupan / coverage``, then each backend and its difference to the
    baseline (Δ) as they are. The CSV files and MLflow tables keep the machine names.
    """
    rows = []
    for key in comparison.index:
        metric, _, coverage = str(key).partition(" @ ")
        rows.append((metric_label(metric), _COVERAGE.get(coverage, coverage)))
    names = pd.DataFrame(rows, columns=["metrik / metric", "cakupan / coverage"])
    return pd.concat([names, comparison.reset_index(drop=True)], axis=1)


def problems_table(rejects: pd.DataFrame, top: int = 10) -> Table:
    """The most frequent problems of a rejects table: column, reason in Bahasa Indonesia then English, n.

    ``rejects`` has the survey contract's reject columns (``column``, ``reason``, ``reason_en``).
    """
    counts = rejects.groupby(["column", "reason", "reason_en"], dropna=False).size()
    counts = counts.sort_values(ascending=False, kind="stable").head(top)
    table = Table(title="Masalah terbanyak / most frequent problems")
    table.add_column("kolom / column")
    table.add_column("alasan / reason")
    table.add_column("n", justify="right")
    for (column, reason, reason_en), n in counts.items():
        table.add_row(str(column), f"{reason} / {reason_en}", f"{n:,}")
    return table


class RowProgress:
    """Rows done per phase, with rows per second; a phase's total may be unknown.

    Call it as ``progress(phase, done, total)`` (the signature `targeting.decide.runner` uses).
    """

    LABELS = {
        "pass1": "Membaca dan memeriksa / reading, validating, predicting",
        "pass2": "Keputusan dan alasan / deciding and explaining",
    }

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started: dict[str, float] = {}
        self.tasks: dict[str, TaskID] = {}
        self.last: dict[str, int] = {}
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console, transient=False,
            )

    def __enter__(self) -> RowProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        for phase, done in self.last.items():
            if self.bar is None:
                seconds = time.perf_counter() - self.started[phase]
                rate = done / max(seconds, 1e-9)
                self.console.print(f"✓ {self.LABELS.get(phase, phase)}: {done:,} baris / rows, "
                                   f"{seconds:.1f} s ({rate:,.0f} baris/detik / rows/s)")

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        self.started.setdefault(phase, now)
        self.last[phase] = done
        if self.bar is None:
            return
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(self.LABELS.get(phase, phase), total=total, rate="")
        rate = done / max(now - self.started[phase], 1e-9)
        self.bar.update(self.tasks[phase], completed=done, total=total,
                        rate=f"{rate:,.0f} baris/detik / rows/s")
