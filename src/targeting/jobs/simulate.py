"""`targeting simulate`: a decisions table in, the budget and poverty-impact table and figure out."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from targeting.errors import InputFileError


def simulate_job(
    decisions: Path,
    *,
    programs: list[str] | None = None,
    methods: list[str] | None = None,
    budget: float | None = None,
    benefits: Path | None = None,
    out_dir: Path | None = None,
    lang: str = "id",
    console: Any = None,
) -> dict[str, Path]:
    """Run the scenarios, print the table (Bahasa Indonesia first) and write ``simulation.csv``/``.svg``."""
    import pandas as pd
    from rich.console import Console

    from targeting.audit.decisions import read_decisions
    from targeting.jobs.console import print_frame
    from targeting.report.context import ReportInfo, simulation_context
    from targeting.report.i18n import Translator
    from targeting.simulate import METHODS, load_benefits, simulate
    from targeting.spreadsheet import write_csv

    if lang not in ("id", "en"):
        raise InputFileError(f"--lang {lang!r}: use id or en")
    console = console or Console(width=max(150, Console().width))
    frame, meta = read_decisions(decisions)
    cutoffs = {k: (v["desil_min"], v["desil_max"]) for k, v in (meta.programs if meta else {}).items()}
    sim = simulate(
        frame,
        programs=programs or ["sembako", "pkh"],
        methods=methods or METHODS,
        budget=budget,
        benefits=load_benefits(benefits) if benefits else None,
        cutoffs=cutoffs or None,
        line=meta.truth.line if meta is not None and meta.truth is not None else None,
    )
    out = out_dir or decisions.parent
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(sim.table, out / "simulation.csv")
    t = Translator(lang, unit="person")
    info = ReportInfo(programs=dict(meta.programs) if meta else {})
    ctx = simulation_context(sim, t, info)
    written = {"csv": csv_path}
    for p in ctx.get("programs", []):
        rows = pd.DataFrame(p["rows"]).rename(
            columns={
                k: t(f"budget.col.{k}")
                for k in (
                    "method",
                    "basis",
                    "households",
                    "persons",
                    "cost",
                    "leakage",
                    "headcount",
                    "gap",
                    "lifted",
                )
            }
        )
        rows = rows.drop(columns=[c for c in ("unspent",) if c in rows.columns])
        print_frame(console, rows, f"{p['label']} — {p['amount']}")
    console.print(ctx.get("note", ""))
    fig = ctx.get("figure")
    if fig is not None:
        svg = out / "simulation.svg"
        svg.write_bytes(base64.b64decode(fig.uri.split(",", 1)[1]))
        written["figure"] = svg
    for name, path in written.items():
        console.print(f"  {name}: {path}")
    return written
