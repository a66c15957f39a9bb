"""Grievances (sanggahan): a household's corrected indicators re-scored, linked to the decision they revisit.

A grievance names the household, the decision it revisits (default: the household's latest), the
corrected indicators, who reported them, on what day, through which channel and with what evidence.
The corrected household is the revisited decision's stored input with the corrections laid over it,
validated by the same contract validation as a new survey (`api.intake.validate_households`), so a
correction is accepted or refused exactly as the same value in a survey file would be.

Three outcomes, all stored (append-only, with the request that filed them):

* ``no_change``: the corrected input is the stored one (same canonical SHA-256): nothing to re-score;
  the grievance is recorded as changing nothing.
* ``outcome_unchanged``: re-scored; the new decision's programmes, selection, desil and rule verdict
  are those of the revisited one.
* ``outcome_changed``: re-scored and some of those changed. The grievance is ``upheld`` when the
  household gains a programme or the selection it did not have.

``why`` lists the indicators whose exact contributions changed, both versions explained by the
current model (so the change comes from the corrections, not from a newer model; a model change
since the revisited decision is stated apart).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.decisions import Conflict, household_pseudonyms, pseudonym_of, scoped_idempotency_key
from api.intake import cell_text, sha256_json, validate_households
from api.scoring import Scorer
from api.store import (
    DecisionRow,
    GrievanceRow,
    RequestRow,
    find_request,
    get_decision,
    latest_decision,
    request_grievance,
    save_grievance,
    utc_now,
)
from targeting.survey.contract import load_contract

CHANNELS = ("desa", "kecamatan", "dinsos", "cek_bansos", "other")
STATUSES = ("no_change", "outcome_unchanged", "outcome_changed")


class GrievanceRefused(Exception):
    """A grievance that cannot be filed: every problem listed (field, value, reason in both languages)."""

    def __init__(self, message: str, problems: list[dict[str, Any]], *, not_found: bool = False) -> None:
        super().__init__(message)
        self.problems = problems
        self.not_found = not_found


@dataclass(frozen=True)
class GrievanceOutcome:
    grievance: GrievanceRow
    revisited: DecisionRow
    decision: DecisionRow | None
    replayed: bool


def _problem(field: str, value: object, reason: str, reason_en: str) -> dict[str, Any]:
    return {"index": 0, "household_id": None, "field": field, "value": cell_text(value),
            "reason": reason, "reason_en": reason_en}


def _check_corrections(corrections: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fields a correction may not touch: the id (the link), personal numbers, unknown names."""
    contract = load_contract()
    problems = []
    if not corrections:
        problems.append(_problem("corrections", "", "tidak ada koreksi", "no corrections given"))
    for name, value in corrections.items():
        spec = contract.fields.get(name)
        if spec is None:
            problems.append(_problem(name, value, "kolom tidak dikenal dalam kontrak data",
                                     "unknown field (not in the survey contract)"))
        elif spec.role in ("id", "personal"):
            problems.append(_problem(name, "<disamarkan>" if spec.role == "personal" else value,
                                     "bukan indikator: tidak dapat dikoreksi lewat sanggahan",
                                     "not an indicator: a grievance cannot correct it"))
    return problems


def _outcome(outputs: Mapping[str, Any]) -> dict[str, Any]:
    rules = outputs.get("rules") or {}
    return {"desil": int(outputs["national"]["desil"]), "programs": dict(outputs.get("programs", {})),
            "selected": bool(outputs.get("selected", False)), "rule_verdict": rules.get("verdict"),
            "predicted_welfare_pc": float(outputs["predicted_welfare_pc"])}


def _compare(before: dict[str, Any], after: dict[str, Any]) -> tuple[list[str], bool]:
    """What changed between two outcomes, and whether the household gained assistance."""
    changed = []
    if before["desil"] != after["desil"]:
        changed.append("desil")
    changed += [f"programs.{p}" for p in sorted(set(before["programs"]) | set(after["programs"]))
                if before["programs"].get(p) != after["programs"].get(p)]
    if before["selected"] != after["selected"]:
        changed.append("selected")
    if before["rule_verdict"] != after["rule_verdict"]:
        changed.append("rule_verdict")
    gained = (after["selected"] and not before["selected"]) or any(
        v and not before["programs"].get(p, False) for p, v in after["programs"].items())
    return changed, bool(gained)


def _explanation(status: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
                 changes: list[dict[str, Any]], why: list[dict[str, Any]], model_changed: bool
                 ) -> dict[str, str]:
    """One sentence in each language: what the correction changed and why the outcome moved or not."""
    if status == "no_change":
        return {"id": "Koreksi tidak mengubah data yang tersimpan; keputusan tidak dihitung ulang.",
                "en": "The correction changes no stored indicator; the decision was not recomputed."}
    assert before is not None and after is not None
    fields = ", ".join(c["field"] for c in changes)
    top = why[:3]
    drivers_id = "; ".join(f"{w['name_id']} {w['effect_pct']:+.1f}%" for w in top) or "-"
    drivers_en = "; ".join(f"{w['name_en']} {w['effect_pct']:+.1f}%" for w in top) or "-"
    move_id = (f"desil {before['desil']} → {after['desil']}, perkiraan kesejahteraan Rp"
               f"{before['predicted_welfare_pc']:,.0f} → Rp{after['predicted_welfare_pc']:,.0f}")
    move_en = (f"desil {before['desil']} → {after['desil']}, predicted welfare Rp"
               f"{before['predicted_welfare_pc']:,.0f} → Rp{after['predicted_welfare_pc']:,.0f}")
    gain = [p for p, v in after["programs"].items() if v and not before["programs"].get(p, False)]
    lose = [p for p, v in before["programs"].items() if v and not after["programs"].get(p, False)]
    prog_id = ((f"; masuk {', '.join(gain)}" if gain else "")
               + (f"; keluar {', '.join(lose)}" if lose else "")) or "; program tidak berubah"
    prog_en = ((f"; enters {', '.join(gain)}" if gain else "")
               + (f"; leaves {', '.join(lose)}" if lose else "")) or "; programmes unchanged"
    model_id = " Model telah berganti sejak keputusan lama." if model_changed else ""
    model_en = " The model changed since the revisited decision." if model_changed else ""
    return {
        "id": f"Dikoreksi: {fields}. {move_id}{prog_id}. Penyebab utama: {drivers_id}.{model_id}",
        "en": f"Corrected: {fields}. {move_en}{prog_en}. Main drivers: {drivers_en}.{model_en}",
    }


def grievance_body(household_id: str, revisits: str | None, corrections: Mapping[str, Any],
                   reported_by: str, reported_on: date, channel: str, evidence: str, lang: str
                   ) -> dict[str, Any]:
    """The parts of a grievance that decide its answer (hashed to recognise a retried request)."""
    return {"grievance": True, "household_id": household_id, "revisits": revisits,
            "corrections": dict(corrections), "reported_by": reported_by,
            "reported_on": reported_on.isoformat(), "channel": channel, "evidence": evidence, "lang": lang}


def file_grievance(
    session: Session,
    scorer: Scorer,
    *,
    household_id: str,
    corrections: Mapping[str, Any],
    reported_by: str,
    reported_on: date,
    channel: str,
    evidence: str,
    revisits: str | None,
    lang: str,
    top_k: int,
    request_id: str,
    api_key_id: str,
    pseudonym_keys: list[bytes],
    as_of: date,
    idempotency_key: str | None = None,
) -> GrievanceOutcome:
    """Validate, re-score and store one grievance (or return the stored answer to a retried one).

    Raises `GrievanceRefused` (nothing stored) for an unknown household or decision, a decision of
    another household, corrections of the id or personal numbers, and values the contract refuses;
    `api.decisions.Conflict` when the idempotency key was used with another body.
    """
    household_id = household_id.strip()
    body_sha256 = sha256_json(grievance_body(household_id, revisits, corrections, reported_by, reported_on,
                                             channel, evidence, lang), allow_nan=True)
    scoped = scoped_idempotency_key(api_key_id, idempotency_key)
    replay = _replay(session, scoped, body_sha256)
    if replay is not None:
        return replay
    if channel not in CHANNELS:
        raise GrievanceRefused("unknown channel", [_problem(
            "channel", channel, "saluran tidak dikenal", f"unknown channel (one of {', '.join(CHANNELS)})")])
    problems = _check_corrections(corrections)
    if problems:
        raise GrievanceRefused(f"{len(problems)} problem(s) in the corrections", problems)
    pseudonyms = [pseudonym_of(household_id, key) for key in pseudonym_keys]
    if revisits is None:
        revisited = latest_decision(session, pseudonyms)
        if revisited is None:
            raise GrievanceRefused("no decision about this household", [_problem(
                "household_id", household_id, "belum ada keputusan untuk rumah tangga ini",
                "no stored decision about this household")], not_found=True)
    else:
        revisited = get_decision(session, revisits)
        if revisited is None or revisited.household_pseudonym not in pseudonyms:
            # The same answer for an unknown decision and another household's: ids are not probed.
            raise GrievanceRefused("no such decision for this household", [_problem(
                "revisits", revisits, "keputusan tidak ditemukan untuk rumah tangga ini",
                "no such decision about this household")], not_found=True)

    # The revisited input with the corrections laid over it, judged as a new survey row would be.
    stored = dict(revisited.inputs)
    corrected = {**stored, **dict(corrections), "household_id": household_id}
    intake = validate_households([corrected])
    if intake.problems:
        raise GrievanceRefused("the corrected household is invalid", intake.problems)
    new_inputs = intake.inputs[0]
    new_sha = sha256_json(new_inputs)
    changes = [{"field": k, "before": stored.get(k), "after": new_inputs.get(k)}
               for k in sorted(set(stored) | set(new_inputs)) if stored.get(k) != new_inputs.get(k)]
    info = scorer.info
    before = _outcome(revisited.outputs)
    model_changed = revisited.model_version != info.model_version
    decision: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    why: list[dict[str, Any]] = []
    changed: list[str]
    if new_sha == revisited.input_sha256:
        status, changed, upheld = "no_change", [], False
    else:
        outputs = scorer.score(intake.data, lang=lang, top_k=top_k, as_of=as_of)[0]
        after = _outcome(outputs)
        changed, upheld = _compare(before, after)
        status = "outcome_changed" if changed else "outcome_unchanged"
        explain = getattr(scorer, "contribution_changes", None)
        if explain is not None:
            old = validate_households([{**stored, "household_id": household_id}])
            if not old.problems:
                why = explain(old.data, intake.data)
        decision = {
            "id": uuid.uuid4().hex, "request_id": request_id, "position": 0, "idempotency_key": scoped,
            "household_pseudonym": household_pseudonyms(intake.data.household_id, pseudonym_keys[0])[0],
            "input_sha256": new_sha, "inputs": new_inputs, "model_name": info.model_name,
            "model_version": info.model_version, "ruleset_id": info.ruleset_id,
            "ruleset_version": info.ruleset_version, "outputs": outputs, "created_at": None,
        }
    now = utc_now()
    if decision is not None:
        decision["created_at"] = now
    record = {
        "changes": changes, "before": before, "after": after, "changed": changed, "why": why,
        "model_changed": model_changed,
        "models": {"revisited": revisited.model_version, "current": info.model_version},
        "explanation": _explanation(status, before, after, changes, why, model_changed),
    }
    request = RequestRow(
        request_id=request_id, idempotency_key=scoped, body_sha256=body_sha256, api_key_id=api_key_id,
        n_households=1, n_decisions=int(decision is not None), rejected=[], model_name=info.model_name,
        model_version=info.model_version, ruleset_id=info.ruleset_id, ruleset_version=info.ruleset_version,
        as_of=as_of.isoformat(), created_at=now,
    )
    grievance = GrievanceRow(
        id=uuid.uuid4().hex, request_id=request_id, household_pseudonym=revisited.household_pseudonym,
        revisits_decision_id=revisited.id, decision_id=None if decision is None else decision["id"],
        status=status, upheld=upheld, channel=channel, reported_by=reported_by,
        reported_on=reported_on.isoformat(), evidence=evidence, record=record, api_key_id=api_key_id,
        created_at=now,
    )
    try:
        save_grievance(session, request, decision, grievance)
    except IntegrityError:
        session.rollback()
        replay = _replay(session, scoped, body_sha256)
        if replay is None:
            raise
        return replay
    return GrievanceOutcome(grievance, revisited, None if decision is None else DecisionRow(**decision),
                            replayed=False)


def _replay(session: Session, scoped: str | None, body_sha256: str) -> GrievanceOutcome | None:
    if scoped is None:
        return None
    stored = find_request(session, scoped)
    if stored is None:
        return None
    grievance = request_grievance(session, stored.request_id)
    if stored.body_sha256 != body_sha256 or grievance is None:
        raise Conflict(scoped)
    revisited = get_decision(session, grievance.revisits_decision_id)
    assert revisited is not None
    decision = None if grievance.decision_id is None else get_decision(session, grievance.decision_id)
    return GrievanceOutcome(grievance, revisited, decision, replayed=True)


def grievance_out(g: GrievanceRow, household_id: str | None) -> dict[str, Any]:
    """A stored grievance as the API shows it."""
    r = g.record
    return {
        "grievance_id": g.id, "household_id": household_id, "household_pseudonym": g.household_pseudonym,
        "revisits_decision_id": g.revisits_decision_id, "decision_id": g.decision_id, "status": g.status,
        "upheld": g.upheld, "channel": g.channel, "reported_by": g.reported_by,
        "reported_on": g.reported_on, "evidence": g.evidence, "created_at": g.created_at,
        "changes": r["changes"], "before": r["before"], "after": r["after"], "changed": r["changed"],
        "why": r["why"], "model_changed": r["model_changed"], "explanation": r["explanation"],
    }


# ---- a file of grievances (the command line's face) --------------------------------------------------

#: Columns of a grievance file that describe the grievance; every other column is a correction.
FILE_COLUMNS = ("household_id", "revisits", "reported_by", "reported_on", "channel", "evidence")
REQUIRED_COLUMNS = ("household_id", "reported_by", "reported_on", "channel")


@dataclass(frozen=True)
class FiledTable:
    """What a grievance file gave: one row per filed grievance, one per refused problem."""

    filed: list[dict[str, Any]]
    rejects: list[dict[str, Any]]


def file_grievance_table(
    session: Session,
    scorer: Scorer,
    frame: Any,
    *,
    lang: str,
    top_k: int,
    pseudonym_keys: list[bytes],
    as_of: date,
    filed_by: str,
) -> FiledTable:
    """File every row of a grievance file (`targeting.survey.read.read_raw` output), one at a time.

    A row is one grievance: the columns of `FILE_COLUMNS` and any survey fields to correct (a blank
    cell corrects nothing). A refused row is listed with its file row, column, value and reason and
    stores nothing; the others are stored exactly as ``POST /v1/grievances`` would store them.
    """
    from targeting.survey.read import ROW

    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        from targeting.errors import InputFileError

        raise InputFileError(f"kolom wajib tidak ada / required columns missing: {', '.join(missing)} "
                             f"(a grievance file has {', '.join(FILE_COLUMNS)} and the fields to correct)")
    fields = [c for c in frame.columns if c not in (*FILE_COLUMNS, ROW)]
    filed: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for record in frame.to_dict("records"):
        row = int(record[ROW])
        text = {c: cell_text(record.get(c)).strip() for c in FILE_COLUMNS}
        problems = [_problem(c, "", "wajib diisi", "required value is empty")
                    for c in REQUIRED_COLUMNS if not text[c]]
        try:
            reported_on = date.fromisoformat(text["reported_on"]) if text["reported_on"] else None
        except ValueError:
            problems.append(_problem("reported_on", text["reported_on"], "bukan tanggal (TTTT-BB-HH)",
                                     "not a date (YYYY-MM-DD)"))
        corrections = {c: record[c] for c in fields if cell_text(record.get(c)).strip()}
        outcome = None
        if not problems:
            assert reported_on is not None
            try:
                outcome = file_grievance(
                    session, scorer, household_id=text["household_id"], corrections=corrections,
                    reported_by=text["reported_by"], reported_on=reported_on, channel=text["channel"],
                    evidence=text["evidence"], revisits=text["revisits"] or None, lang=lang, top_k=top_k,
                    request_id=uuid.uuid4().hex, api_key_id=filed_by, pseudonym_keys=pseudonym_keys,
                    as_of=as_of)
            except GrievanceRefused as exc:
                problems = exc.problems
        if outcome is None:
            for p in problems:
                rejects.append({"row": row, "household_id": text["household_id"], "column": p["field"],
                                "value": p["value"], "reason": p["reason"], "reason_en": p["reason_en"]})
            continue
        g = outcome.grievance
        explanation = g.record.get("explanation") or {}
        filed.append({
            "row": row, "household_id": text["household_id"], "grievance_id": g.id, "status": g.status,
            "upheld": g.upheld, "revisits_decision_id": g.revisits_decision_id, "decision_id": g.decision_id,
            "changed_fields": ", ".join(c["field"] for c in g.record.get("changes", [])),
            "changed_outcome": ", ".join(g.record.get("changed", [])),
            "penjelasan": explanation.get("id", ""), "explanation": explanation.get("en", ""),
        })
    return FiledTable(filed, rejects)
