"""The flagged households: a CSV for analysts and a field workbook for the verification teams.

* ``flagged_households.csv`` keeps the audit's column names and codes (stable for analysts), with the
  visit ``priority`` first.
* ``flagged_households.xlsx`` is the workbook an enumerator team works in: one sheet per kecamatan,
  its households cut into visit batches of at most ``visit_capacity`` (batch 1 = the most urgent;
  inside a batch, by desa, then priority), kecamatan and desa by name, what the visit must check,
  rupiah as whole
  numbers, frozen header, filters, empty columns for the visit's result (drop-down lists), and only
  the reasons a household can check at the door (context such as the kecamatan is left out). A first
  sheet lists the batches; the last ones explain every column and criterion.

Neither ever holds NIK or family card numbers: only the keyed pseudonym.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.audit.compare import FLAGS, LOCATION_COLUMNS
from targeting.audit.decisions import GROUP_ATTRIBUTES, PERSONAL_COLUMNS, VERDICTS
from targeting.eligibility import RuleSet
from targeting.report.context import group_label
from targeting.report.i18n import Translator
from targeting.report.priority import main_flag, visit_priority
from targeting.spreadsheet import SheetLayout, write_csv, write_xlsx

#: Households per sheet: what one team visits in one round (3 enumerators x ~10 visits a day x 10 days).
DEFAULT_VISIT_CAPACITY = 300

#: Columns of the analysts' CSV, in order (those present are written).
EXPORT_COLUMNS: tuple[str, ...] = (
    "priority",
    "household_id",
    "head_nik_pseudonym",
    "kecamatan",
    *LOCATION_COLUMNS,
    "weight",
    "household_size",
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
    "reasons_checkable_id",
    "reasons_checkable_en",
    "reasons_context_id",
    "reasons_context_en",
    *GROUP_ATTRIBUTES[1:],
)

#: Columns of the field workbook (keys of ``export.field.*`` in the translations), in order.
FIELD_COLUMNS: tuple[str, ...] = (
    "priority", "batch", "household_id", "head_nik_pseudonym", "kecamatan", *LOCATION_COLUMNS, "purpose",
    "other_flags", "household_size", "desil", "predicted_welfare", "weight", "rule_verdict",
    "criteria_met", "criteria_unknown", "reasons_checkable",
)  # fmt: skip
#: Empty columns the team fills in at the visit.
VISIT_COLUMNS: tuple[str, ...] = ("visit_date", "enumerator", "visit_result", "data_match", "visit_note")


def export_frame(flagged: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows restricted to :data:`EXPORT_COLUMNS`, with ``priority`` (never a personal column)."""
    frame = flagged.copy()
    frame["priority"] = visit_priority(frame)
    cols = [c for c in EXPORT_COLUMNS if c in frame.columns]
    out = frame[cols]
    leaked = set(PERSONAL_COLUMNS) & set(out.columns)
    if leaked:  # compare() never keeps them; refuse loudly if a caller passed another frame
        raise ValueError(f"refusing to export personal column(s) {sorted(leaked)}")
    return out


def _labels(values: pd.Series, t: Translator, attr: str) -> pd.Series:
    text = values.astype("string")
    labels = {v: group_label(t, attr, v) for v in text.dropna().unique()}
    return text.map(labels).astype("string")


def _yes_no(values: pd.Series, t: Translator) -> pd.Series:
    b = values.astype("boolean")
    out = pd.Series(
        np.where(b.fillna(False), t("common.yes"), t("common.no")), index=values.index, dtype="string"
    )
    out[b.isna()] = pd.NA
    return out


def field_frame(flagged: pd.DataFrame, t: Translator) -> pd.DataFrame:
    """The field workbook's rows (priority order), values in the team's language; headers are keys."""
    f = flagged.copy()
    f["priority"] = visit_priority(f)
    f = f.sort_values("priority", kind="stable")
    out = pd.DataFrame(index=f.index)
    purpose = main_flag(f)
    flag_cols = [x for x in FLAGS if x in f.columns]
    for col in FIELD_COLUMNS:
        if col == "priority":
            out[col] = f["priority"].astype("int64")
        elif col in ("household_id", "head_nik_pseudonym", *LOCATION_COLUMNS):
            if col in f.columns:
                out[col] = f[col].astype("string")
        elif col == "kecamatan" and col in f.columns:
            out[col] = _labels(f[col], t, "kecamatan")
        elif col == "purpose":
            out[col] = purpose.map({x: t(f"export.purpose.{x}") for x in FLAGS}).astype("string")
        elif col == "other_flags" and flag_cols:
            hits = np.column_stack([f[x].to_numpy(dtype=bool, na_value=False) for x in flag_cols])
            names = [t(f"flags.{x}") for x in flag_cols]
            first = purpose.to_numpy(dtype=object)
            out[col] = pd.Series(
                [
                    "; ".join(n for n, x, h in zip(names, flag_cols, row, strict=True) if h and x != p)
                    for row, p in zip(hits, first, strict=True)
                ],
                index=f.index,
                dtype="string",
            ).replace("", pd.NA)
        elif col == "predicted_welfare" and col in f.columns:
            out[col] = f[col].astype(float).round(0)
        elif col == "weight" and col in f.columns:
            w = f[col].astype(float)
            if not np.allclose(w.to_numpy(), 1.0):  # a registry's weights are all 1: no column then
                out[col] = w
        elif col in ("household_size", "desil") and col in f.columns:
            out[col] = f[col].astype("Int64")
        elif col == "rule_verdict" and col in f.columns:
            out[col] = f[col].astype("string").map({v: t(f"verdicts.{v}") for v in VERDICTS}).astype("string")
        elif col in ("criteria_met", "criteria_unknown") and col in f.columns:
            out[col] = f[col].astype("string").replace("", pd.NA)
        elif col == "reasons_checkable":
            src = (
                f"reasons_checkable_{t.lang}"
                if f"reasons_checkable_{t.lang}" in f.columns
                else f"reasons_{t.lang}"
            )
            if src in f.columns:
                out[col] = f[src].astype("string").replace("", pd.NA)
    for col in VISIT_COLUMNS:
        out[col] = pd.Series(pd.NA, index=out.index, dtype="string")
    return out.reset_index(drop=True)


def field_batches(rows: pd.DataFrame, t: Translator, capacity: int) -> list[tuple[str, pd.DataFrame]]:
    """(sheet title, rows) per kecamatan, its households cut into visit batches of at most ``capacity``.

    Batches follow priority (batch 1 of a kecamatan holds its most urgent households) and are numbered
    in the column ``batch``; inside a batch the rows are grouped by desa (a team's route), then by
    priority. One sheet per kecamatan (not per batch) keeps the workbook quick to open: a spreadsheet
    pays for every sheet, and a team filters its batch with the header's filter button.
    """
    if capacity < 1:
        raise ValueError(f"visit capacity must be at least 1 household, not {capacity}")
    if rows.empty:
        return [(t("export.sheet_empty"), rows.assign(batch=pd.Series(dtype="int64")))]
    kec = (
        rows["kecamatan"].fillna(t("groups.missing"))
        if "kecamatan" in rows
        else pd.Series("", index=rows.index)
    )
    out: list[tuple[str, pd.DataFrame]] = []
    for name in sorted(kec.unique()):
        part = rows[kec == name].sort_values("priority", kind="stable").reset_index(drop=True)
        part.insert(1, "batch", (np.arange(len(part)) // capacity + 1).astype("int64"))
        keys = ["batch", *[c for c in ("desa", "priority") if c in part.columns]]
        out.append((str(name)[:31], part.sort_values(keys, kind="stable").reset_index(drop=True)))
    return out


def _header(t: Translator, key: str) -> str:
    return t.get(f"export.field.{key}") or key


def _layout(frame: pd.DataFrame, t: Translator) -> SheetLayout:
    widths = {"priority": 9, "batch": 9, "household_id": 14, "head_nik_pseudonym": 19, "kecamatan": 16,
              "desa": 24,
              "address": 30, "purpose": 30, "other_flags": 26, "household_size": 9, "desil": 7,
              "predicted_welfare": 16, "weight": 9, "rule_verdict": 15, "criteria_met": 14,
              "criteria_unknown": 14, "reasons_checkable": 60, "visit_date": 12, "enumerator": 16,
              "visit_result": 20, "data_match": 14, "visit_note": 40}  # fmt: skip
    formats = {"priority": "integer", "batch": "integer", "household_size": "integer", "desil": "integer",
               "predicted_welfare": "integer", "weight": "decimal"}  # fmt: skip
    return SheetLayout(
        widths={_header(t, k): w for k, w in widths.items()},
        formats={_header(t, k): v for k, v in formats.items()},
        choices={
            _header(t, "visit_result"): [
                t(f"export.visit_result.{k}") for k in ("found", "not_found", "moved", "died", "refused")
            ],
            _header(t, "data_match"): [
                t("export.data_match.yes"),
                t("export.data_match.partly"),
                t("export.data_match.no"),
            ],
        },
        wrap=[_header(t, k) for k in ("purpose", "other_flags", "reasons_checkable", "visit_note")],
    )


def _headed(frame: pd.DataFrame, t: Translator) -> pd.DataFrame:
    return frame.rename(columns={c: _header(t, c) for c in frame.columns})


def _overview(batches: Sequence[tuple[str, pd.DataFrame]], t: Translator) -> pd.DataFrame:
    rows = []
    for title, b in batches:
        desa = b["desa"].dropna().astype(str).unique().tolist() if "desa" in b else []
        purpose = b["purpose"] if "purpose" in b else pd.Series(dtype="string")
        left = purpose.isin([t("export.purpose.exclusion_error"), t("export.purpose.rules_not_model")])
        rows.append({
            t("export.overview.sheet"): title,
            t("export.overview.households"): len(b),
            t("export.overview.batches"): int(b["batch"].max()) if len(b) else 0,
            t("export.overview.priority"): (f"{int(b['priority'].min())}–{int(b['priority'].max())}"
                                            if len(b) else ""),
            t("export.overview.left_out"): int(left.sum()),
            t("export.overview.selected"): int(len(b) - left.sum()),
            t("export.overview.desa"): ", ".join(sorted(desa)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _legend(columns: Sequence[str], t: Translator) -> pd.DataFrame:
    """Each column actually in the batch sheets, with what it means; then what each visit purpose means."""
    keys = [c for c in (*FIELD_COLUMNS, *VISIT_COLUMNS) if c in columns]
    return pd.DataFrame({
        t("export.legend_column"): [_header(t, k) for k in keys] + [t(f"export.purpose.{f}") for f in FLAGS],
        t("export.legend_meaning"): [t(f"export.field_def.{k}") for k in keys]
        + [t(f"flags_def.{f}") for f in FLAGS],
    })  # fmt: skip


def write_flagged(
    flagged: pd.DataFrame,
    out_dir: Path,
    *,
    lang: str,
    ruleset: RuleSet | None = None,
    stem: str = "flagged_households",
    visit_capacity: int = DEFAULT_VISIT_CAPACITY,
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (analysts) and ``<stem>.xlsx`` (field teams); return their paths.

    No cell is ever a formula (:mod:`targeting.spreadsheet`).
    """
    t = Translator(lang)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{stem}.csv"
    xlsx_path = out_dir / f"{stem}.xlsx"
    write_csv(export_frame(flagged), csv_path)
    rows = field_frame(flagged, t)
    batches = field_batches(rows, t, visit_capacity)
    sheets: dict[str, pd.DataFrame] = {t("export.sheet_overview"): _overview(batches, t)}
    layouts = {
        t("export.sheet_overview"): SheetLayout(
            widths={t("export.overview.desa"): 80}, wrap=[t("export.overview.desa")]
        )
    }
    for title, batch in batches:
        headed = _headed(batch, t)
        sheets[title] = headed
        layouts[title] = _layout(batch, t)
    if ruleset is not None:
        sheets[t("export.sheet_criteria")] = pd.DataFrame({
            t("ruleset.id"): [c.id for c in ruleset.criteria],
            t("ruleset.text_id"): [c.text_id for c in ruleset.criteria],
            t("ruleset.text_en"): [c.text_en for c in ruleset.criteria],
        })  # fmt: skip
        layouts[t("export.sheet_criteria")] = SheetLayout(
            widths={t("ruleset.text_id"): 70, t("ruleset.text_en"): 70},
            wrap=[t("ruleset.text_id"), t("ruleset.text_en")],
        )
    sheets[t("export.sheet_legend")] = _legend(batches[0][1].columns, t)
    layouts[t("export.sheet_legend")] = SheetLayout(
        widths={t("export.legend_column"): 34, t("export.legend_meaning"): 90},
        wrap=[t("export.legend_meaning")],
        autofilter=False,
    )
    write_xlsx(xlsx_path, sheets, layouts)
    return csv_path, xlsx_path
