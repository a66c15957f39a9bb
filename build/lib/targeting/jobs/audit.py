"""`targeting audit`: a decisions table (from `targeting score`) in, the inspector's report out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from targeting.decide.schema import DecisionsMeta
from targeting.errors import InputFileError
from targeting.settings import Settings


def model_card_for(meta: DecisionsMeta | None, given: Path | None) -> dict[str, Any]:
    """The card of the model that scored: ``given``, else the one in the model folder it names."""
    if given is not None:
        try:
            return dict(json.loads(given.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputFileError(f"--model-card {given}: not a readable JSON model card ({exc})") from exc
    if meta is None:
        return {}
    folder = meta.model.get("dir")
    card = Path(folder) / "model_card.json" if folder else None
    if card is not None and card.is_file():
        out = dict(json.loads(card.read_text(encoding="utf-8")))
        out.setdefault("name", meta.model.get("name"))
        out.setdefault("version", meta.model.get("version"))
        return out
    return {"name": meta.model.get("name"), "version": meta.model.get("version"),
            "backend": meta.model.get("backend")}


def report_info(meta: DecisionsMeta | None, *, program: str | None, data_source: str | None,
                synthetic: bool, decisions: Path, lang: str, selection: str | None = None) -> Any:
    """What the report says the audit is about, from the table's own metadata where it has it."""
    from targeting.report import ReportInfo

    if meta is None:
        return ReportInfo(program=program, selection=selection, data_source=data_source or decisions.name,
                          synthetic=synthetic, poverty_line=None)
    truth = meta.truth
    rs = meta.ruleset or {}
    text = selection or meta.selection.get(f"text_{lang}") or meta.selection.get("text_id")
    return ReportInfo(
        program=program or text,
        selection=text,
        poverty_line=truth.line if truth is not None else None,
        truth=(truth.source or None) if truth is not None and truth.kind != "line" else None,
        data_source=data_source or f"{meta.dataset_title or meta.spec} ({', '.join(meta.source_files)})",
        min_criteria_met=rs.get("min_criteria_met"),
        synthetic=synthetic or meta.spec.startswith("kukar"),
    )


def audit_job(settings: Settings, decisions: Path, *, model_card: Path | None = None,
              out_dir: Path | None = None, lang: str = "id", unit: str = "person", program: str | None = None,
              selection: str | None = None,
              data_source: str | None = None, synthetic: bool = False, n_boot: int = 200, seed: int = 2024,
              pdf: Any = True, pseudonymize_ids: bool = False) -> Any:
    """Audit a decisions table and write the report, the flagged lists and the tables."""
    from targeting.audit import run_audit
    from targeting.audit.decisions import read_decisions
    from targeting.pmt.design import check_unit
    from targeting.privacy import load_key
    from targeting.report import write_audit_report

    if lang not in ("id", "en"):
        raise InputFileError(f"--lang {lang!r}: use id or en")
    try:
        unit = check_unit(unit)
    except ValueError as exc:
        raise InputFileError(f"--unit: {exc}") from exc
    frame, meta = read_decisions(decisions)
    cluster = meta.cluster if meta is not None and meta.cluster in frame.columns else None
    result = run_audit(frame, meta=meta, unit=unit, key=load_key(settings.home), n_boot=n_boot, seed=seed,
                       cluster=cluster, pseudonymize_household_id=pseudonymize_ids)
    ruleset = (meta.ruleset or {}).get("id") if meta is not None else "kepmensos_262_2022"
    if meta is None and "rule_verdict" not in frame.columns:
        ruleset = None
    info = report_info(meta, program=program, data_source=data_source, synthetic=synthetic,
                       decisions=decisions, lang=lang, selection=selection)
    return write_audit_report(result, model_card=model_card_for(meta, model_card), ruleset=ruleset,
                              out_dir=out_dir or decisions.parent / "audit", lang=lang, pdf=pdf, info=info)
