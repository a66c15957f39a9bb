"""`targeting audit`: a decisions table (from `targeting score`) in, the inspector's report out."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
              pdf: Any = True, pseudonymize_ids: bool = False, previous: Path | None = None,
              grievances: Any = None, grievance_keys: Sequence[bytes] = (), drift: Path | None = None) -> Any:
    """Audit a decisions table and write the report, the flagged lists and the tables.

    ``previous`` (the last round's decisions) adds programme flows by kecamatan and group;
    ``grievances`` (the decision store's, `targeting.report.rounds.GRIEVANCE_COLUMNS`, linked by
    pseudonyms made with ``grievance_keys``) adds grievances filed and upheld by kecamatan and group;
    ``drift`` (the table `targeting drift` wrote) adds the drift section. Community ranks in the
    decisions add "Model, rules and the village".
    """
    from targeting.audit import run_audit
    from targeting.audit.decisions import read_decisions
    from targeting.pmt.design import check_unit
    from targeting.privacy import load_key
    from targeting.report import write_audit_report
    from targeting.report.village import read_drift_table, village_view

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
    out = out_dir or decisions.parent / "audit"
    rounds, labels = _rounds(frame, meta, previous, grievances, grievance_keys, out)
    return write_audit_report(result, model_card=model_card_for(meta, model_card), ruleset=ruleset,
                              out_dir=out, lang=lang, pdf=pdf, info=info, rounds=rounds, group_labels=labels,
                              verification=_verification(frame, meta, out), village=village_view(frame),
                              drift=None if drift is None else read_drift_table(drift))


def _verification(frame: Any, meta: DecisionsMeta | None, out: Path) -> Any:
    """Borderline counts and, with the truth, the visit curve (its table as verification_curve.csv)."""
    from targeting.audit.decisions import as_audit_data
    from targeting.report.verification import verification_view
    from targeting.spreadsheet import write_csv

    data = as_audit_data(frame, meta=meta)
    poor = data.poor if data.truth_known.all() else None
    view = verification_view(data.frame, poor=poor, region=meta.region if meta is not None else None)
    if view is not None and view.curve is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(view.curve, out / "verification_curve.csv")
    return view


def _rounds(frame: Any, meta: DecisionsMeta | None, previous: Path | None, grievances: Any,
            keys: Sequence[bytes], out: Path) -> tuple[Any, dict[str, str]]:
    """The rounds-and-grievances view (and its CSV tables in ``out``), or None without either."""
    import pandas as pd

    from targeting.audit.decisions import read_decisions
    from targeting.report.rounds import RoundsView, grievance_counts, round_flows
    from targeting.spreadsheet import write_csv

    region = meta.region if meta is not None and meta.region else "kecamatan"
    labels = {region: "Kecamatan", **(meta.groups if meta is not None else {})}
    by = [region, *labels]
    flows: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    if previous is not None:
        before, _ = read_decisions(previous)
        flows = round_flows(before, frame, by)
    if grievances is not None and len(grievances):
        counts = grievance_counts(grievances, frame, keys, by)
    if not flows and not counts:
        return None, labels
    out.mkdir(parents=True, exist_ok=True)
    for name, tables in (("round_flows.csv", flows), ("grievances_by_group.csv", counts)):
        if tables:
            write_csv(pd.concat([t.rename(columns={b or "all": "group"}).assign(by=b or "all")
                                 for b, t in tables.items()], ignore_index=True), out / name)
    view = RoundsView(previous=None if previous is None else str(previous), flows=flows, grievances=counts,
                      n_grievances=0 if grievances is None else len(grievances))
    return view, labels
