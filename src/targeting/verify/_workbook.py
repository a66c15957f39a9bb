"""The enumerators' workbook: the visit list and the model–rules disagreements, Bahasa Indonesia first.

Pseudonymised household ids only (keyed HMAC, :func:`targeting.privacy.pseudonymize`): NIK and family
card numbers never reach the file. Every text cell is written as an explicit string so that a value
starting with ``=``, ``+``, ``-``, ``@``, a tab or a line break can never become a formula. The
cell-writing is kept in :func:`_text_cell` (the same rules as ``targeting.spreadsheet``, which can
replace it once both are on one branch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.privacy import pseudonymize
from targeting.verify._checks import indicators_to_check
from targeting.verify._columns import (
    DESA,
    DESIL,
    EXPECTED,
    HOUSEHOLD_ID,
    KECAMATAN,
    P_ELIGIBLE,
    P_WRONG,
    PERSONAL_COLUMNS,
    PERSONS,
    RANK,
    RANK_IN_KECAMATAN,
    RULE_N_MET,
    RULE_VERDICT,
    SELECTED,
    STATUS,
    reason_column,
    reason_slots,
)
from targeting.verify._order import Rule, p_wrong

VISITS_SHEET = "Daftar kunjungan"
DISAGREEMENTS_SHEET = "Beda model dan kriteria"
ABOUT_SHEET = "Keterangan"

_DECISION = {True: "terpilih", False: "tidak terpilih"}
_STATUS = {"clearly_in": "jelas masuk", "borderline": "di batas", "clearly_out": "jelas tidak masuk"}
_VERDICT = {"eligible": "memenuhi kriteria", "not_eligible": "tidak memenuhi", "unknown": "tidak diketahui"}

# Header of every column: Bahasa Indonesia first, then English.
_HEADERS: dict[str, str] = {
    RANK: "Urutan / Rank",
    RANK_IN_KECAMATAN: "Urutan di kecamatan / Rank in sub-district",
    "pseudonym": "ID rumah tangga (samaran) / Household pseudonym",
    KECAMATAN: "Kecamatan / Sub-district",
    DESA: "Desa / Village",
    PERSONS: "Jumlah anggota / Persons",
    "decision": "Keputusan model / Model decision",
    DESIL: "Desil",
    STATUS: "Status",
    "p_wrong": "Peluang keputusan salah / Probability the decision is wrong",
    EXPECTED: "Perkiraan orang terkoreksi / Expected persons corrected",
    RULE_VERDICT: "Kriteria Kepmensos / Rule verdict",
    RULE_N_MET: "Jumlah kriteria terpenuhi / Criteria met",
    "reasons": "Alasan keputusan / Reasons",
    "check": "Indikator yang perlu diperiksa / Indicators to check",
    "result": "Hasil kunjungan (diisi petugas) / Visit result (enumerator)",
    "notes": "Catatan / Notes",
}
_WIDTHS = {"pseudonym": 22, "reasons": 70, "check": 55, "result": 28, "notes": 30, KECAMATAN: 20, DESA: 24}


def _reasons_text(frame: pd.DataFrame, lang: str = "id") -> pd.Series:
    """The decision's reasons joined into one text (the listed rows only, never a whole registry)."""
    slots = [s for s in reason_slots(frame.columns) if reason_column(s, f"text_{lang}") in frame.columns]
    if not slots and f"reasons_{lang}" in frame.columns:
        return frame[f"reasons_{lang}"].astype("string").fillna("")
    out = np.full(len(frame), "", dtype=object)
    for slot in slots:
        part = frame[reason_column(slot, f"text_{lang}")].astype("string")
        has = (part.notna() & (part != "")).to_numpy(dtype=bool)
        glue = np.where(out != "", "; ", "")
        out = np.where(has, out + glue + part.fillna("").to_numpy(dtype=object), out)
    return pd.Series(out, index=frame.index, dtype="string")


def _common(frame: pd.DataFrame, key: bytes) -> dict[str, Any]:
    cols: dict[str, Any] = {"pseudonym": pseudonymize(frame[HOUSEHOLD_ID].astype("string"), key, prefix="h")}
    for c in (KECAMATAN, DESA, PERSONS):
        if c in frame.columns:
            cols[c] = frame[c]
    if SELECTED in frame.columns:
        cols["decision"] = frame[SELECTED].astype(bool).map(_DECISION)
    if DESIL in frame.columns:
        cols[DESIL] = frame[DESIL]
    return cols


def visit_sheet(visits: pd.DataFrame, *, key: bytes, checks: int = 3) -> pd.DataFrame:
    """The visit list as the enumerators read it (columns named in Bahasa Indonesia / English)."""
    cols: dict[str, Any] = {RANK: visits[RANK]} if RANK in visits.columns else {}
    if RANK_IN_KECAMATAN in visits.columns:
        cols[RANK_IN_KECAMATAN] = visits[RANK_IN_KECAMATAN]
    cols |= _common(visits, key)
    if STATUS in visits.columns:
        cols[STATUS] = visits[STATUS].astype("string").map(_STATUS)
    cols["p_wrong"] = np.round(p_wrong(visits), 3)
    if EXPECTED in visits.columns:
        cols[EXPECTED] = np.round(visits[EXPECTED].to_numpy(dtype=np.float64), 2)
    if RULE_VERDICT in visits.columns:
        cols[RULE_VERDICT] = visits[RULE_VERDICT].astype("string").map(_VERDICT)
    cols["reasons"] = _reasons_text(visits)
    cols["check"] = indicators_to_check(visits, checks)
    cols["result"] = ""
    cols["notes"] = ""
    return _headed(pd.DataFrame(cols, index=visits.index))


def disagreement_sheet(frame: pd.DataFrame, *, key: bytes) -> pd.DataFrame:
    """Households the model selects and the rules do not, or the other way round."""
    sel = frame[SELECTED].to_numpy(dtype=bool)
    verdict = frame[RULE_VERDICT].astype("string").fillna("unknown").to_numpy(dtype=object)
    hit = (sel & (verdict == "not_eligible")) | (~sel & (verdict == "eligible"))
    sub = frame.loc[hit]
    cols = _common(sub, key)
    cols[RULE_VERDICT] = sub[RULE_VERDICT].astype("string").map(_VERDICT)
    if RULE_N_MET in sub.columns:
        cols[RULE_N_MET] = sub[RULE_N_MET]
    if P_WRONG in sub.columns or P_ELIGIBLE in sub.columns:
        cols["p_wrong"] = np.round(p_wrong(sub), 3)
    cols["reasons"] = _reasons_text(sub)
    out = pd.DataFrame(cols, index=sub.index)
    if "p_wrong" in out.columns:
        out = out.sort_values("p_wrong", ascending=False, kind="stable")
    return _headed(out.reset_index(drop=True))


def _headed(frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs["widths"] = [_WIDTHS.get(c, 14) for c in frame.columns]
    return frame.rename(columns=_HEADERS)


# ---- writing ----------------------------------------------------------------------------------------------

_FORMULA = re.compile(r"^ *[=+\-@\t\r\n]")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ERROR_CODES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


def _text_cell(ws: Any, text: str) -> Any:
    """One text cell: always a string cell; formula-like text also gets Excel's quote prefix."""
    from openpyxl.cell import WriteOnlyCell

    text = _ILLEGAL_XML.sub(lambda m: chr(0x2400 + ord(m.group())), text)[:32_767]
    cell = WriteOnlyCell(ws, value=None)
    cell.value = text
    cell.data_type = "s"  # never "f" (formula) or "e" (error), whatever the text says
    if _FORMULA.match(text) or text in _ERROR_CODES:
        cell.quotePrefix = True
    return cell


def _value(ws: Any, value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return _text_cell(ws, str(value))


def _column_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(i))


def write_workbook(
    path: str | Path,
    sheets: Mapping[str, pd.DataFrame],
    *,
    about: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write sheets (frozen header row, filters, column widths) and an "about" sheet; return the path."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, frame in sheets.items():
        leaked = set(PERSONAL_COLUMNS) & {str(c) for c in frame.columns}
        if leaked or HOUSEHOLD_ID in frame.columns:
            raise ValueError(f"sheet {title!r} holds identifiers that must not leave the office: {leaked}")
        ws = wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        n_cols = max(1, frame.shape[1])
        ws.auto_filter.ref = f"A1:{_column_letter(n_cols)}{len(frame) + 1}"
        for i, width in enumerate(frame.attrs.get("widths", [14] * frame.shape[1]), start=1):
            ws.column_dimensions[_column_letter(i)].width = width
        header = []
        for c in frame.columns:
            cell = _text_cell(ws, str(c))
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(cell)
        ws.append(header)
        values = frame.astype(object).where(frame.notna(), None)
        for row in values.itertuples(index=False, name=None):
            ws.append([_value(ws, v) for v in row])
    if about:
        ws = wb.create_sheet(title=ABOUT_SHEET)
        ws.column_dimensions["A"].width = 34
        ws.column_dimensions["B"].width = 110
        for k, v in about:
            ws.append([_text_cell(ws, k), _text_cell(ws, v)])
    wb.save(path)
    return path


def write_verification_list(
    decisions: pd.DataFrame,
    path: str | Path,
    visits: int,
    *,
    key: bytes,
    per_kecamatan: bool = False,
    floor: int | None = None,
    rule: Rule = "greedy",
    exclusion_weight: float = 1.0,
    about: Sequence[tuple[str, str]] = (),
) -> tuple[Path, pd.DataFrame]:
    """Select the visits and write the enumerators' workbook; return its path and the visit list.

    Sheets: the visit list (best first; by kecamatan, then rank, with ``per_kecamatan``), the
    model–rules disagreements (if the decisions carry a rule verdict) and an explanation sheet.
    """
    from targeting.verify._order import select_visits

    chosen = select_visits(decisions, visits, per_kecamatan=per_kecamatan, floor=floor, rule=rule,
                           exclusion_weight=exclusion_weight)
    listed = chosen
    if per_kecamatan:
        listed = chosen.sort_values([KECAMATAN, RANK_IN_KECAMATAN], kind="stable")
    sheets = {VISITS_SHEET: visit_sheet(listed.reset_index(drop=True), key=key)}
    if RULE_VERDICT in decisions.columns and SELECTED in decisions.columns:
        sheets[DISAGREEMENTS_SHEET] = disagreement_sheet(decisions, key=key)
    budget = f"{visits:,} kunjungan / visits".replace(",", ".")
    if per_kecamatan:
        least = floor if floor is not None else "otomatis / automatic"
        budget += (f"; dibagi per kecamatan (aturan {rule}, minimal {least} per kecamatan) / "
                   "allocated across sub-districts")
    notes = [
        ("Cara daftar ini dibuat / How this list was made",
         "Rumah tangga diurutkan menurut perkiraan jumlah orang yang keputusannya dikoreksi oleh satu "
         "kunjungan: peluang keputusan salah × jumlah anggota. / Households are ordered by the expected "
         "number of persons whose decision one visit corrects: probability the decision is wrong × persons."),
        ("Anggaran / Budget", budget),
        ("Status", "jelas masuk: seluruh selang kesejahteraan di bawah batas program; jelas tidak masuk: "
         "seluruhnya di atas; di batas: selang memotong batas. / clearly in, clearly out, borderline "
         "(the welfare interval straddles the programme's cut-off)."),
        ("ID samaran / Pseudonyms",
         "ID rumah tangga disamarkan dengan kunci Dinas Sosial; pemegang kunci mencocokkan alamat. NIK tidak "
         "pernah dicantumkan. / Keyed pseudonyms; the key holder finds the address. NIK never appears."),
        ("Hasil kunjungan / Visit result",
         "Diisi petugas: keadaan sebenarnya dan indikator yang berbeda dari data. / Filled in by the "
         "enumerator: the household's situation and any indicator that differs from the record."),
        *about,
    ]
    return write_workbook(path, sheets, about=notes), chosen
