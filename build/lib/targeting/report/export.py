"""The flagged-household list for field verification, as CSV (machine-readable) and Excel.

The CSV keeps the audit's column names and codes (stable for analysts); the Excel workbook is for
field teams: headers and values in the report's language, plus a sheet of the rule set's criteria
and a legend. Neither ever holds NIK or family card numbers: only the keyed pseudonym.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from targeting.audit.compare import FLAGS
from targeting.audit.decisions import GROUP_ATTRIBUTES, PERSONAL_COLUMNS, VERDICTS
from targeting.eligibility import RuleSet
from targeting.report.context import group_label
from targeting.report.i18n import Translator
from targeting.spreadsheet import write_csv, write_xlsx

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
    """Values and headers in the report's language, for people in the field (vectorised)."""
    out = pd.DataFrame(index=frame.index)
    reason_col = "reasons_id" if t.lang == "id" else "reasons_en"
    yes, no = t("common.yes"), t("common.no")
    for col in frame.columns:
        if col in FLAGS or (col in ("reasons_id", "reasons_en") and col != reason_col):
            continue
        values = frame[col]
        if col in ("kecamatan", "size_band"):
            text = values.astype("string")
            labels = {v: group_label(t, col, v) for v in text.dropna().unique()}
            values = text.map(labels)
        elif col == "rule_verdict":
            values = values.astype("string").map({v: t(f"verdicts.{v}") for v in VERDICTS})
        elif col == "flags":
            values = values.astype("string")
            for flag in FLAGS:  # four flag names, each replaced in one vectorised pass
                values = values.str.replace(flag, t(f"flags.{flag}"), regex=False)
        elif col in ("selected", "poor_true", *GROUP_ATTRIBUTES[1:5]):
            b = values.astype("boolean")
            values = pd.Series(np.where(b.fillna(False), yes, no), index=frame.index, dtype="string")
            values[b.isna()] = pd.NA
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
    """Write ``<stem>.csv`` and ``<stem>.xlsx``; return their paths (no cell is ever a formula)."""
    t = Translator(lang)
    frame = export_frame(flagged)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{stem}.csv"
    xlsx_path = out_dir / f"{stem}.xlsx"
    write_csv(frame, csv_path)
    # Legend: each Excel header with its CSV column name, then what each flag means.
    cols = [c for c in frame.columns if c not in FLAGS]
    legend = pd.DataFrame(
        {
            t("export.legend_column"): [t.get(f"export.columns.{c}") or c for c in cols]
            + [t(f"flags.{f}") for f in FLAGS],
            t("export.legend_meaning"): [f"{t('export.csv_column')}: {c}" for c in cols]
            + [t(f"flags_def.{f}") for f in FLAGS],
        }
    )
    sheets = {t("export.sheet_flagged"): _localised(frame, t)}
    if ruleset is not None:
        crit = pd.DataFrame(
            {
                t("ruleset.id"): [c.id for c in ruleset.criteria],
                t("ruleset.text_id"): [c.text_id for c in ruleset.criteria],
                t("ruleset.text_en"): [c.text_en for c in ruleset.criteria],
            }
        )
        sheets[t("export.sheet_criteria")] = crit
    sheets[t("export.sheet_legend")] = legend
    write_xlsx(xlsx_path, sheets)
    return csv_path, xlsx_path
