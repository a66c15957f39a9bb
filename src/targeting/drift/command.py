"""The body of ``targeting drift REFERENCE CURRENT``: load both sides, compare, print, write CSV.

REFERENCE and CURRENT are each a file (read under ``spec``; a spec with one file only), or the spec's
variables (``year=2022``), or a spec name with variables (``paraguay_ephc[year=2022]``), read from the
data folder. The CLI registers this function; it holds no Typer code so the library stays testable.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path
from typing import Any

from targeting.drift._table import DriftResult, Unit, survey_drift
from targeting.drift._thresholds import load_thresholds
from targeting.errors import InputFileError
from targeting.spreadsheet import write_csv

LEVEL_TEXT = {"stable": "stabil / stable", "moderate": "sedang / moderate", "major": "besar / major"}
KIND_TEXT = {
    "categorical": "kode / codes", "binary": "ya-tidak / yes-no", "numeric": "angka / number",
    "prediction": "prediksi / predicted", "welfare": "kesejahteraan / measured",
}
_NAMED = re.compile(r"^(?P<spec>[^\[\]]+)\[(?P<vars>[^\[\]]*)\]$")


@dataclasses.dataclass(frozen=True)
class _Source:
    spec: str
    variables: dict[str, Any]
    file: Path | None
    label: str


def _parse_variables(text: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputFileError(f"{where}: {part!r} is not key=value (e.g. year=2024)")
        v = value.strip()
        out[key.strip()] = int(v) if re.fullmatch(r"-?\d+", v) else v
    return out


def _source(arg: str, spec: str) -> _Source:
    """What one command-line argument names: a file, variables, or spec[variables]."""
    named = _NAMED.match(arg)
    if named:
        variables = _parse_variables(named["vars"], arg)
        return _Source(named["spec"], variables, None, arg)
    path = Path(arg)
    if path.exists():
        return _Source(spec, {}, path, path.name)
    if "=" in arg:
        variables = _parse_variables(arg, arg)
        label = ",".join(f"{k}={v}" for k, v in sorted(variables.items()))
        return _Source(spec, variables, None, f"{spec}[{label}]")
    raise InputFileError(
        f"{arg}: no such file, and not the spec's variables (year=2024) nor spec[variables] "
        "(paraguay_ephc[year=2024])"
    )


def _load(source: _Source, data_dir: Path | None) -> tuple[Any, int]:
    from targeting.survey.load import load_dataset
    from targeting.survey.spec import load_spec

    spec = load_spec(source.spec)
    files = None
    if source.file is not None:
        if len(spec.files) != 1:
            raise InputFileError(
                f"{source.file}: spec {spec.name!r} joins {len(spec.files)} files "
                f"({', '.join(f.name for f in spec.files)}); name the data by its variables instead"
            )
        files = {spec.files[0].name: source.file}
    loaded = load_dataset(spec, data_dir=data_dir, variables=source.variables, files=files)
    data = dataclasses.replace(loaded.data, name=source.label)
    return data, loaded.n_rejected_rows


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "data"


def drift_command(
    reference: str,
    current: str,
    spec: str = "indonesia_household",
    *,
    current_spec: str | None = None,
    model: Path | None = None,
    data_dir: Path | None = None,
    out: Path | None = None,
    unit: Unit = "household",
    thresholds: Path | None = None,
    as_of: date | None = None,
    console: Any | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference``; print the table (Indonesian first) and write CSV files.

    ``current_spec`` reads the current side under another spec (a registry against its training
    survey). ``model`` is a saved PMT directory: adds the predicted-welfare row. ``out`` is the CSV
    of the per-indicator table (default ``drift_<reference>__<current>.csv`` here); the shares per
    bin go next to it as ``<out>_bins.csv``. Returns the result (for MLflow: ``flat_metrics()``).
    """
    from rich.console import Console

    console = console or Console()
    t = load_thresholds(thresholds, as_of=as_of)
    ref_src, cur_src = _source(reference, spec), _source(current, current_spec or spec)
    ref, ref_rej = _load(ref_src, data_dir)
    cur, cur_rej = _load(cur_src, data_dir)
    fitted = None
    if model is not None:
        from targeting.pmt import load_model

        fitted, _card = load_model(model)
    result = survey_drift(ref, cur, model=fitted, thresholds=t, unit=unit)

    out = out or Path(f"drift_{_slug(ref_src.label)}__{_slug(cur_src.label)}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(result.to_frame(), out)
    bins_path = out.with_name(f"{out.stem}_bins.csv")
    write_csv(result.bins, bins_path)

    print_drift(console, result)
    for label, n in ((ref_src.label, ref_rej), (cur_src.label, cur_rej)):
        if n:
            console.print(f"[yellow]{label}: {n:,} rumah tangga ditolak validasi, tidak dibandingkan / "
                          f"households rejected by validation, not compared")
    if result.only_reference:
        console.print(f"Hanya di acuan / only in the reference: {', '.join(result.only_reference)}")
    if result.only_current:
        console.print(f"Hanya di data kini / only in the current data: {', '.join(result.only_current)}")
    for note in result.notes:
        console.print(f"[dim]{note}")
    console.print(f"Tabel / table: {out}\nBin: {bins_path}")
    return result


def print_drift(console: Any, result: DriftResult) -> None:
    """The drift table as a rich table: most-shifted indicators first, welfare rows last."""
    from rich.table import Table

    t = result.thresholds
    title = (f"Pergeseran data / drift: {result.reference} → {result.current} "
             f"(PSI {t.psi_moderate:g} / {t.psi_major:g}; p {t.correction.upper()} < {t.alpha:g})")
    table = Table(title=title)
    columns = (("Indikator / indicator", "left"), ("Jenis / kind", "left"), ("PSI", "right"),
               ("PSI derau / noise", "right"), ("Uji / test", "left"), ("p (koreksi / adj.)", "right"),
               ("Tanda / flag", "left"), ("Bin terbesar / largest bin", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    frame = result.table
    welfare = frame["kind"].isin(["prediction", "welfare"])
    ordered = [frame[~welfare].sort_values("psi", ascending=False, kind="stable"), frame[welfare]]
    style = {"major": "bold red", "moderate": "yellow", "stable": ""}
    for part in ordered:
        for r in part.itertuples():
            table.add_row(
                str(r.indicator), KIND_TEXT.get(str(r.kind), str(r.kind)), f"{r.psi:.3f}",
                f"{r.psi_null:.4f}",
                f"{r.test} {r.statistic:.3g}", f"{r.p_adjusted:.2g}",
                LEVEL_TEXT[str(r.flag)] + ("" if r.flag == r.level
                                           else f" (PSI {r.level}, tidak signifikan / not significant)"),
                f"{r.top_bin}: {100 * r.top_bin_reference:.1f}% → {100 * r.top_bin_current:.1f}%",
                style=style[str(r.flag)],
            )
    console.print(table)
    n_mod = len(result.flagged("moderate"))
    n_major = len(result.flagged("major"))
    console.print(f"Indikator bergeser / flagged indicators: {n_mod} dari / of {int((~welfare).sum())} "
                  f"(besar / major: {n_major})")
