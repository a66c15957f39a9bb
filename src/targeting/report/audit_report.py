"""Write the inspector's report: HTML (self-contained), PDF, flagged lists, tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import jinja2
from markupsafe import Markup

from targeting.audit.result import AuditResult
from targeting.eligibility import RuleSet, load_ruleset
from targeting.report.context import ReportInfo, build_context, number_html
from targeting.report.export import write_flagged
from targeting.report.pdf import PdfError, find_chromium, print_pdf
from targeting.spreadsheet import write_csv

HTML_NAME = "audit_report.html"
PDF_NAME = "audit_report.pdf"
PdfMode = bool | Literal["if_available"]


@dataclass(frozen=True)
class ReportPaths:
    """Files one report run wrote; ``pdf`` is None when skipped (``pdf_skipped`` says why)."""

    html: Path
    pdf: Path | None
    flagged_csv: Path
    flagged_xlsx: Path
    metrics_csv: Path
    groups_csv: Path
    json: Path
    pdf_skipped: str | None = None
    simulation_csv: Path | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _version() -> str:
    try:
        return metadata.version("targeting")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "dev"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("targeting.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )
    env.globals["number_html"] = number_html
    return env


def render_audit_html(
    result: AuditResult,
    *,
    model_card: Mapping[str, Any] | Any,
    ruleset: RuleSet | None,
    info: ReportInfo | None = None,
    lang: str = "id",
    generated: date | None = None,
    files: Mapping[str, str] | None = None,
    simulation: Any = None,
    rounds: Any = None,
    group_labels: Mapping[str, str] | None = None,
    verification: Any = None,
    village: Mapping[str, Any] | None = None,
    drift: Any = None,
) -> str:
    """The report as one self-contained HTML string (inline CSS, figures as data URIs, no script).

    ``rounds`` (a `targeting.report.rounds.RoundsView`) adds the section on programme flows since
    the previous round and on grievances; ``group_labels`` names its breakdowns.
    """
    info = info or ReportInfo()
    ctx = build_context(
        result, model_card=model_card, ruleset=ruleset, info=info, lang=lang, generated=generated,
        files=files, simulation=simulation,
    )
    css = resources.files("targeting.report").joinpath("templates").joinpath("report.css").read_text("utf-8")
    title = info.title or ctx.t("report.title", district=info.district)
    template = _environment().get_template("audit.html.j2")
    rounds_ctx = None
    if rounds:
        from targeting.report.rounds import rounds_context

        rounds_ctx = rounds_context(rounds, ctx.t, group_labels or {})
    verification_ctx = None
    if verification is not None:
        from targeting.report.verification import verification_context

        region_label = (group_labels or {}).get(verification.region or "", "")
        verification_ctx = verification_context(verification, ctx.t, region_label)
    from targeting.report.village import drift_rows, village_rows

    return template.render(c=ctx, css=Markup(css), title=title, version=_version(), rounds=rounds_ctx,
                           verification=verification_ctx,
                           village=None if village is None else village_rows(village, ctx.t),
                           drift=None if drift is None else drift_rows(drift, ctx.t))


def write_audit_report(
    result: AuditResult,
    *,
    model_card: Mapping[str, Any] | Any,
    ruleset: RuleSet | str | None,
    out_dir: Path,
    lang: str = "id",
    pdf: PdfMode = True,
    info: ReportInfo | None = None,
    generated: date | None = None,
    simulation: Any = None,
    visit_capacity: int | None = None,
    rounds: Any = None,
    group_labels: Mapping[str, str] | None = None,
    verification: Any = None,
    village: Mapping[str, Any] | None = None,
    drift: Any = None,
) -> ReportPaths:
    """Render an audit result (`targeting.audit.run_audit`) and write every output into ``out_dir``.

    The report never computes a number itself: what it shows is what ``result`` (and ``simulation``)
    hold. The PDF prints in Chromium while the lists and tables are written.

    Parameters
    ----------
    result : the audit (its flagged list already pseudonymised: NIK never leaves in clear).
    model_card : the PMT's card (dict, or the pydantic ``ModelCard``).
    ruleset : a :class:`RuleSet`, or its name / path for :func:`load_ruleset`; None without rules.
    pdf : True prints the PDF and raises :class:`PdfError` if Chromium is missing or fails
        (after the HTML and lists are written); ``"if_available"`` skips it with a reason in
        ``ReportPaths.pdf_skipped``; False never prints.
    info : what the audit is about (programme, selection, poverty line, data source...).
    simulation : a :class:`targeting.simulate.Simulation` for the budget section (None: no section).
    visit_capacity : households per sheet of the field workbook (default
        :data:`targeting.report.export.DEFAULT_VISIT_CAPACITY`).

    Returns
    -------
    ReportPaths
        ``audit_report.html``, ``audit_report.pdf``, ``flagged_households.csv/.xlsx``,
        ``audit_metrics.csv``, ``audit_groups.csv``, ``audit.json`` (and ``simulation.csv``) in ``out_dir``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from targeting.report.export import DEFAULT_VISIT_CAPACITY

    info = info or ReportInfo()
    rs = load_ruleset(ruleset) if isinstance(ruleset, str | Path) else ruleset
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = out_dir / "flagged_households.csv", out_dir / "flagged_households.xlsx"
    metrics_csv = out_dir / "audit_metrics.csv"
    groups_csv = out_dir / "audit_groups.csv"
    json_path = out_dir / "audit.json"
    sim_csv = out_dir / "simulation.csv" if simulation is not None else None
    html = render_audit_html(
        result, model_card=model_card, ruleset=rs, info=info, lang=lang, generated=generated,
        files={"csv": csv_path.name, "xlsx": xlsx_path.name, "groups": groups_csv.name},
        simulation=simulation,
        rounds=rounds, group_labels=group_labels, verification=verification, village=village, drift=drift,
    )  # fmt: skip
    html_path = out_dir / HTML_NAME
    html_path.write_text(html, encoding="utf-8")
    printing = None
    pool = ThreadPoolExecutor(max_workers=1)
    pdf_skipped: str | None = None
    if pdf is False:
        pdf_skipped = "not requested (--no-pdf)"
    elif pdf == "if_available" and find_chromium() is None:
        pdf_skipped = "Chromium not found"
    else:  # Chromium works in its own process while Python writes the lists below
        printing = pool.submit(print_pdf, html_path, out_dir / PDF_NAME)
    try:
        write_flagged(result.flagged, out_dir, lang=lang, ruleset=rs,
                      visit_capacity=visit_capacity or DEFAULT_VISIT_CAPACITY)
        write_csv(result.metrics, metrics_csv)
        write_csv(result.groups, groups_csv)
        payload = {
            "info": info.model_dump(mode="json"),
            "ruleset": rs.id if rs is not None else None,
            "lang": lang,
            **result.to_dict(),
        }
        if simulation is not None and sim_csv is not None:
            payload["simulation"] = simulation.to_dict()
            write_csv(simulation.table, sim_csv)
        # No indent: json writes indented output in pure Python (3 MB of groups: ~0.5 s), compact in C.
        json_path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        paths = ReportPaths(html_path, None, csv_path, xlsx_path, metrics_csv, groups_csv, json_path,
                            pdf_skipped=pdf_skipped, simulation_csv=sim_csv)
        if printing is None:
            return paths
        try:
            pdf_path = printing.result()
        except PdfError as exc:
            if pdf == "if_available":
                return ReportPaths(**{**paths.__dict__, "pdf_skipped": str(exc)})
            raise PdfError(
                f"{exc}. The HTML report was written to {html_path}; pass --no-pdf to skip the PDF"
            ) from exc
        return ReportPaths(**{**paths.__dict__, "pdf": pdf_path})
    finally:
        pool.shutdown(wait=True)
