"""The flagged-household list for field verification, as CSV (machine-readable) and Excel.

The CSV keeps the audit's column names and codes (stable for analysts); the Excel workbook is for
field teams: headers and values in the report's language, plus a sheet of the rule set's criteria
and a legend. Neither ever holds NIK or family card numbers: only the keyed pseudonym.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from targeting.audit.compare import FLAGS
from targeting.audit.decisions import GROUP_ATTRIBUTES, PERSONAL_COLUMNS
from targeting.eligibility import RuleSet
from targeting.report.i18n import Translator

#: Columns of the exported list, in order (those present are written).
EXPORT_COLUMNS: tuple[str, ...] = (
    "household_id",
    "head_nik_pseudonym",
    "kecamatan",
    "weight",
    "desil",
    "predicted_welfare",
    "selected",
    "rule_verdict",
    "poor_true",
    "welfare_true",
    "flags",
    *FLAGS,
    "n_criteria_met",
    "criteria_met",
    "criteria_not_met",
    "criteria_unknown",
    "reasons_id",
    "reasons_en",
    *GROUP_ATTRIBUTES[1:],
)


def export_frame(flagged: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows restricted to :data:`EXPORT_COLUMNS` (never a personal column)."""
    cols = [c for c in EXPORT_COLUMNS if c in flagged.columns]
    out = flagged[cols].copy()
    leaked = set(PERSONAL_COLUMNS) & set(out.columns)
    if leaked:  # compare() never keeps them; refuse loudly if a caller passed another frame
        raise ValueError(f"refusing to export personal column(s) {sorted(leaked)}")
    return out


def _localised(frame: pd.DataFrame, t: Translator) -> pd.DataFrame:
    """Values and headers in the report's language, for people in the field."""
    out = pd.DataFrame(index=frame.index)
    flag_names = {f: t(f"flags.{f}") for f in FLAGS}
    reason_col = "reasons_id" if t.lang == "id" else "reasons_en"
    for col in frame.columns:
        if col in FLAGS or (col in ("reasons_id", "reasons_en") and col != reason_col):
            continue
        values = frame[col]
        if col == "rule_verdict":
            values = values.astype(str).map(lambda v: t(f"verdicts.{v}"))
        elif col == "flags":
            values = values.astype(str).map(
                lambda v: "; ".join(flag_names.get(x, x) for x in v.split("; ") if x)
            )
        elif col in ("selected", "poor_true", *GROUP_ATTRIBUTES[1:5]):
            values = values.map(
                lambda v: "" if v is None or v is pd.NA else t("common.yes" if v else "common.no")
            )
        header = t.get(f"export.columns.{'reasons' if col == reason_col else col}") or col
        out[header] = values
    return out


def write_flagged(
    flagged: pd.DataFrame,
    out_dir: Path,
    *,
    lang: str,
    ruleset: RuleSet | None = None,
    stem: str = "flagged_households",
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.xlsx``; return their paths."""
    t = Translator(lang)
    frame = export_frame(flagged)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{stem}.csv"
    xlsx_path = out_dir / f"{stem}.xlsx"
    frame.to_csv(csv_path, index=False, encoding="utf-8")
    legend = pd.DataFrame(
        {
            t("export.legend_column"): [
                t.get(f"export.columns.{c}") or c for c in frame.columns if c not in FLAGS
            ],
            t("export.legend_meaning"): [c for c in frame.columns if c not in FLAGS],
        }
    )
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as xl:
        _localised(frame, t).to_excel(xl, sheet_name=t("export.sheet_flagged")[:31], index=False)
        if ruleset is not None:
            crit = pd.DataFrame(
                {
                    t("ruleset.id"): [c.id for c in ruleset.criteria],
                    t("ruleset.text_id"): [c.text_id for c in ruleset.criteria],
                    t("ruleset.text_en"): [c.text_en for c in ruleset.criteria],
                }
            )
            crit.to_excel(xl, sheet_name=t("export.sheet_criteria")[:31], index=False)
        legend.to_excel(xl, sheet_name=t("export.sheet_legend")[:31], index=False)
    return csv_path, xlsx_path
