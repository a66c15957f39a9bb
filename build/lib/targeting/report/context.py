"""What the report template shows: audit results turned into labelled, formatted rows.

All the formatting and wording decisions live here (tested in Python); the template only lays
them out. Every number the summary shows carries its key and raw value so the browser test can
compare it with the library's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict

from targeting.audit.compare import FLAGS
from targeting.audit.decisions import GROUP_ATTRIBUTES, SUBJECTS
from targeting.audit.result import AuditResult
from targeting.eligibility import RuleSet
from targeting.report import figures
from targeting.report.i18n import MISSING, Translator

MAX_FLAGGED_ROWS = 100
TOP_INTERSECTIONS = 15


class ReportInfo(BaseModel):
    """What the audit is about, as the reader should be told (free text in the report's language).

    Attributes
    ----------
    district : the district audited.
    program : the programme and its cut-off (e.g. "Sembako/BPNT, desil 1-5").
    selection : how the model selects (desil cut-off, coverage or quota).
    poverty_line : Rp per capita per month used for the truth (None if the truth is a bottom share).
    truth : what "truly poor" means here (below the poverty line, or in the target bottom share).
    data_source : where the households and their measured welfare come from.
    reference_date : the data's reference date.
    min_criteria_met : k used for the rule verdicts if not the rule set's default.
    synthetic : the data are synthetic (a banner says so).
    """

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    district: str = "Kutai Kartanegara"
    program: str | None = None
    selection: str | None = None
    poverty_line: float | None = None
    truth: str | None = None
    data_source: str | None = None
    reference_date: date | None = None
    min_criteria_met: int | None = None
    synthetic: bool = False


@dataclass(frozen=True)
class Figure:
    uri: str
    alt: str


@dataclass
class Number:
    """A summary number: its key in ``AuditResult.summary()``, raw value and display text."""

    key: str
    value: float
    text: str


@dataclass
class ReportContext:
    """Everything the template renders."""

    lang: str
    t: Translator
    info: ReportInfo
    generated: str
    has_truth: bool
    numbers: dict[str, Number]
    findings: list[dict[str, Any]]
    settings: dict[str, Any]
    metrics_rows: list[dict[str, Any]]
    curve_figure: Figure | None
    group_sections: list[dict[str, Any]]
    group_figure: Figure | None
    intersections: list[dict[str, Any]]
    deciles: dict[str, Any]
    kecamatan: dict[str, Any]
    crosstab: list[dict[str, Any]]
    criteria_rows: list[dict[str, Any]]
    model_card: dict[str, Any]
    ruleset: dict[str, Any]
    flagged: dict[str, Any]
    metrics_ci: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)
    has_rules: bool = True


# ---- labels -------------------------------------------------------------------------------------


def group_label(t: Translator, attr: str, value: str) -> str:
    """Human label of a group value (kecamatan names from the survey contract)."""
    if value == "NA":
        return t("groups.missing")
    if attr == "kecamatan":
        from targeting.survey.contract import load_contract

        contract = load_contract()
        codes = contract.codes[contract.fields["kecamatan"].codes or "kecamatan"]
        return getattr(codes[value], t.lang) if value in codes else value
    return t.get(f"groups.values.{attr}.{value}") or t.get(f"groups.values.bool.{value}") or value


def attr_label(t: Translator, attr: str) -> str:
    return t.get(f"groups.attrs.{attr}") or attr


def _ci(t: Translator, low: float, high: float, kind: str = "pct") -> str:
    return t.interval(low, high, kind)


def _fmt(t: Translator, metric: str, x: float) -> str:
    return t.num(x, 2) if metric in ("cgh", "spearman", "auc") else t.pct(x)


# ---- sections -----------------------------------------------------------------------------------


def _numbers(result: AuditResult, t: Translator) -> dict[str, Number]:
    out: dict[str, Number] = {}
    for key, value in result.summary().items():
        metric = key.split(".")[-1]
        counts = ("households", "weighted_households", "households_with_truth", "flagged", "rules_unknown")
        if key in counts or key.startswith("flagged."):
            text = t.num(value)
        else:
            text = _fmt(t, metric, value)
        out[key] = Number(key, float(value), text)
    return out


def _metric_row(metrics: pd.DataFrame, subject: str, metric: str) -> pd.Series | None:
    hit = metrics[(metrics["subject"] == subject) & (metrics["metric"] == metric)]
    return hit.iloc[0] if len(hit) else None


def _disjoint(a: pd.Series | None, b: pd.Series | None) -> int:
    """+1 if a's interval lies above b's, −1 if below, 0 if they overlap or are unknown."""
    if a is None or b is None or not all(np.isfinite([a.ci_low, a.ci_high, b.ci_low, b.ci_high])):
        return 0
    if a.ci_low > b.ci_high:
        return 1
    if a.ci_high < b.ci_low:
        return -1
    return 0


def number_html(n: Number) -> Markup:
    """A summary number as a span carrying its key and raw value (read by the browser test)."""
    return Markup('<span class="num" data-metric="{}" data-value="{}">{}</span>').format(
        n.key, repr(float(n.value)), n.text
    )


def finding_html(t: Translator, numbers: Mapping[str, Number], finding: Mapping[str, Any]) -> Markup:
    """A finding's sentence, its numbers as :func:`number_html` spans (other values escaped)."""
    values: dict[str, Any] = dict(finding["extra"])
    for key in finding["numbers"]:
        values[key.replace(".", "_")] = number_html(numbers[key])
    return Markup(escape(t(finding["key"]))).format(**values)


def _findings(result: AuditResult, t: Translator, numbers: dict[str, Number]) -> list[dict[str, Any]]:
    """Plain-language findings for the one-page summary: message key + the numbers it quotes."""
    m = result.metrics
    out: list[dict[str, Any]] = []
    if result.has_truth:
        ee = _metric_row(m, "model", "exclusion_error")
        ie = _metric_row(m, "model", "inclusion_error")
        if ee is not None and ie is not None:
            out.append({"key": "summary.finding_exclusion", "numbers": ["model.exclusion_error"],
                        "extra": {"ci": _ci(t, ee.ci_low, ee.ci_high)}})  # fmt: skip
            out.append({"key": "summary.finding_inclusion", "numbers": ["model.inclusion_error"],
                        "extra": {"ci": _ci(t, ie.ci_low, ie.ci_high)}})  # fmt: skip
        rules_ee = _metric_row(m, "rules", "exclusion_error")
        if rules_ee is not None:
            side = _disjoint(ee, rules_ee)
            key = {1: "summary.finding_rules_better", -1: "summary.finding_model_better",
                   0: "summary.finding_no_clear_winner"}[side]  # fmt: skip
            out.append({"key": key, "numbers": ["model.exclusion_error", "rules.exclusion_error"],
                        "extra": {}})
        worst = _worst_group(result, t)
        if worst is None:
            out.append({"key": "summary.finding_no_group_gap", "numbers": [], "extra": {}})
        else:
            out.append({"key": "summary.finding_group_gap", "numbers": [], "extra": worst})
    else:
        out.append({"key": "summary.finding_no_truth", "numbers": [], "extra": {}})
    if result.settings.get("has_rules", True):
        out.append({"key": "summary.finding_agreement",
                    "numbers": ["model_vs_rules.agreement", "model_vs_rules.model_not_rules",
                                "model_vs_rules.rules_not_model"], "extra": {}})  # fmt: skip
    else:
        out.append({"key": "summary.finding_no_rules", "numbers": [], "extra": {}})
    out.append({"key": "summary.finding_flagged", "numbers": ["flagged"], "extra": {}})
    for f in out:
        f["html"] = finding_html(t, numbers, f)
    return out


def _worst_group(result: AuditResult, t: Translator) -> dict[str, str] | None:
    """The single-attribute group whose model exclusion error is most clearly above the overall."""
    g = result.groups
    sel = g[
        g["feature_2"].isna()
        & (g["subject"] == "model")
        & (g["metric"] == "exclusion_error")
        & g["reportable"]
        & (g["diff_ci_low"] > 0)
    ]
    if sel.empty:
        return None
    row = sel.sort_values("difference", ascending=False).iloc[0]
    return {
        "group": f"{attr_label(t, row.feature_1)}: {group_label(t, row.feature_1, row.value_1)}",
        "value": t.pct(row.estimate),
        "overall": t.pct(row.overall),
        "diff": t.points(row.difference),
        "ci": _ci(t, row.diff_ci_low, row.diff_ci_high, "points"),
    }


METRIC_ORDER: tuple[str, ...] = (
    "coverage",
    "exclusion_error",
    "inclusion_error",
    "inclusion_error_nonpoor",
    "poor_coverage",
    "targeting_differential",
    "cgh",
    "spearman",
    "auc",
)


def _metrics_rows(result: AuditResult, t: Translator) -> list[dict[str, Any]]:
    rows = []
    for metric in METRIC_ORDER:
        cells = {}
        for subject in SUBJECTS:
            r = _metric_row(result.metrics, subject, metric)
            cells[subject] = (
                None
                if r is None
                else {
                    "value": _fmt(t, metric, r.estimate),
                    "ci": _ci(
                        t, r.ci_low, r.ci_high, "num" if metric in ("cgh", "spearman", "auc") else "pct"
                    ),
                }  # fmt: skip
            )
        if any(cells.values()):
            rows.append({"metric": metric, "name": t(f"metrics.{metric}.name"),
                         "definition": t(f"metrics.{metric}.definition"), "cells": cells})  # fmt: skip
    for metric in ("agreement", "model_not_rules", "rules_not_model", "rules_unknown"):
        r = _metric_row(result.metrics, "model_vs_rules", metric)
        if r is not None:
            rows.append({"metric": metric, "name": t(f"metrics.{metric}.name"),
                         "definition": t(f"metrics.{metric}.definition"),
                         "cells": {"model_vs_rules": {"value": t.pct(r.estimate),
                                                      "ci": _ci(t, r.ci_low, r.ci_high)}}})  # fmt: skip
    return rows


def _cell(row: pd.Series | None, t: Translator) -> dict[str, Any]:
    if row is None:
        return {"value": MISSING, "ci": "", "small": False}
    if not row.reportable:
        return {"value": t("groups.too_small"), "ci": "", "small": True}
    return {"value": t.pct(row.estimate), "ci": _ci(t, row.ci_low, row.ci_high), "small": False,
            "diff": t.points(row.difference), "raw": float(row.estimate),
            "significant": bool(row.diff_ci_low > 0 or row.diff_ci_high < 0)}  # fmt: skip


def _group_columns(has_truth: bool) -> list[tuple[str, str]]:
    if has_truth:
        return [("model", "exclusion_error"), ("rules", "exclusion_error"), ("model", "inclusion_error"),
                ("rules", "inclusion_error"), ("model", "coverage"), ("rules", "coverage")]  # fmt: skip
    return [("model", "coverage"), ("rules", "coverage"), ("model_vs_rules", "agreement"),
            ("model_vs_rules", "model_not_rules"), ("model_vs_rules", "rules_not_model")]  # fmt: skip


def _group_sections(result: AuditResult, t: Translator) -> tuple[list[dict[str, Any]], Figure | None]:
    g = result.groups
    single = g[g["feature_2"].isna()]
    cols = _group_columns(result.has_truth)
    sections = []
    bars: list[figures.GroupBar] = []
    chart_metric = "exclusion_error" if result.has_truth else "coverage"
    overall: dict[str, float] = {}
    for attr in GROUP_ATTRIBUTES:
        part = single[single["feature_1"] == attr]
        if part.empty:
            continue
        indexed = part.set_index(["value_1", "subject", "metric"])
        rows = []
        for value in part["value_1"].drop_duplicates().tolist():
            any_row = part[part["value_1"] == value].iloc[0]
            cells = []
            for subject, metric in cols:
                key = (value, subject, metric)
                cells.append(_cell(indexed.loc[key] if key in indexed.index else None, t))
            rows.append({"label": group_label(t, attr, value), "n": t.num(any_row.n_households),
                         "n_poor": t.num(any_row.n_poor) if result.has_truth else MISSING,
                         "weighted": t.num(any_row.weighted_households), "cells": cells})  # fmt: skip
            vals = {}
            for s in ("model", "rules"):
                key = (value, s, chart_metric)
                if key in indexed.index:
                    r = indexed.loc[key]
                    vals[s] = (float(r.estimate), float(r.ci_low), float(r.ci_high))
                    overall[s] = float(r.overall)
            bars.append(figures.GroupBar(attr_label(t, attr), group_label(t, attr, value), vals))
        sections.append({"attr": attr, "label": attr_label(t, attr), "rows": rows,
                         "columns": [t(f"groups.col.{s}.{m}") for s, m in cols]})  # fmt: skip
    fig = None
    # The kecamatan breakdown has its own section; chart the other attributes here.
    bars_other = [b for b in bars if b.section != attr_label(t, "kecamatan")]
    if bars_other:
        fig = Figure(
            figures.group_rate_figure(
                bars_other, overall, t, axis_label=t(f"fig.group_axis.{chart_metric}")
            ),  # fmt: skip
            t(f"fig.group_alt.{chart_metric}"),
        )
    return sections, fig


def _intersections(result: AuditResult, t: Translator) -> list[dict[str, Any]]:
    """Pairs of attributes with the largest reportable gaps in the model's exclusion error."""
    metric = "exclusion_error" if result.has_truth else "coverage"
    g = result.groups
    pairs = g[g["feature_2"].notna() & (g["subject"] == "model") & (g["metric"] == metric) & g["reportable"]]
    pairs = pairs.reindex(pairs["difference"].abs().sort_values(ascending=False).index).head(
        TOP_INTERSECTIONS
    )
    rows = []
    for r in pairs.itertuples():
        rows.append({
            "group": f"{attr_label(t, r.feature_1)}: {group_label(t, r.feature_1, r.value_1)} × "
                     f"{attr_label(t, r.feature_2)}: {group_label(t, r.feature_2, r.value_2)}",
            "n": t.num(r.n_households), "n_poor": t.num(r.n_poor),
            "value": t.pct(r.estimate), "ci": _ci(t, r.ci_low, r.ci_high),
            "diff": t.points(r.difference), "diff_ci": _ci(t, r.diff_ci_low, r.diff_ci_high, "points"),
            "ratio": t.num(r.ratio, 2),
            "significant": bool(r.diff_ci_low > 0 or r.diff_ci_high < 0),
        })  # fmt: skip
    n_small = int(
        (~g[g["feature_2"].notna() & (g["subject"] == "model") & (g["metric"] == metric)]["reportable"]).sum()
    )
    return [{"metric": metric, "rows": rows, "n_small": n_small}]


def _deciles(result: AuditResult, t: Translator) -> dict[str, Any]:
    table = result.deciles
    total = float(table.to_numpy().sum())
    if total <= 0:
        return {"available": False}
    shares = table.div(table.sum(axis=1).replace(0, np.nan), axis=0)
    rows = []
    for d in table.index:
        cells = []
        for c in table.columns:
            s = shares.loc[d, c]
            cells.append({"text": t.pct(s, 0) if np.isfinite(s) else MISSING,
                          "shade": 0.0 if not np.isfinite(s) else min(1.0, float(s) / 0.6),
                          "diagonal": d == c})  # fmt: skip
        rows.append({"desil": int(d), "cells": cells, "n": t.num(table.loc[d].sum())})
    arr = table.to_numpy()
    exact = float(np.trace(arr)) / total
    within_one = float(sum(arr[i, j] for i in range(10) for j in range(10) if abs(i - j) <= 1)) / total
    return {"available": True, "rows": rows, "exact": t.pct(exact), "within_one": t.pct(within_one)}


def _kecamatan(result: AuditResult, t: Translator) -> dict[str, Any]:
    g = result.groups
    k = g[(g["grouping"] == "kecamatan")]
    if k.empty:
        return {"available": False}
    idx = k.set_index(["value_1", "subject", "metric"])
    values = k["value_1"].drop_duplicates().tolist()

    def est(v: str, s: str, m: str) -> float:
        key = (v, s, m)
        if key not in idx.index:
            return float("nan")
        r = idx.loc[key]
        return float(r.estimate) if r.reportable else float("nan")

    sort_key = "truth.poverty_rate" if result.has_truth else "model.coverage"
    values.sort(key=lambda v: -np.nan_to_num(est(v, *sort_key.split(".")), nan=-1))
    cols = (
        [("truth", "poverty_rate"), ("model", "coverage"), ("rules", "coverage"),
         ("model", "exclusion_error"), ("rules", "exclusion_error"), ("model", "inclusion_error")]
        if result.has_truth
        else [("model", "coverage"), ("rules", "coverage"), ("model_vs_rules", "agreement")]
    )  # fmt: skip
    rows = []
    for v in values:
        first = k[k["value_1"] == v].iloc[0]
        cells = [_cell(idx.loc[(v, s, m)] if (v, s, m) in idx.index else None, t) for s, m in cols]
        rows.append({"label": group_label(t, "kecamatan", v), "n": t.num(first.n_households),
                     "weighted": t.num(first.weighted_households), "cells": cells})  # fmt: skip
    series_keys = (["truth.poverty_rate"] if result.has_truth else []) + ["model.coverage", "rules.coverage"]
    series = {key: [est(v, *key.split(".")) for v in values] for key in series_keys}
    labels = [group_label(t, "kecamatan", v) for v in values]
    fig = Figure(figures.kecamatan_figure(labels, series, t), t("kecamatan.figure_alt"))
    return {"available": True, "rows": rows, "columns": [t(f"kecamatan.col.{s}.{m}") for s, m in cols],
            "figure": fig}  # fmt: skip


def _crosstab(result: AuditResult, t: Translator) -> list[dict[str, Any]]:
    f = result.flags
    w = f["weight"].to_numpy()
    total = w.sum()
    rows = []
    for selected in (True, False):
        cells = []
        for verdict in ("eligible", "not_eligible", "unknown"):
            mask = (f["selected"].to_numpy() == selected) & (
                f["rule_verdict"].astype(str).to_numpy() == verdict
            )
            cells.append({"share": t.pct(w[mask].sum() / total if total > 0 else float("nan")),
                          "n": t.num(mask.sum())})  # fmt: skip
        rows.append(
            {"label": t("crosstab.selected" if selected else "crosstab.not_selected"), "cells": cells}
        )
    return rows


def _criteria_rows(result: AuditResult, ruleset: RuleSet | None, t: Translator) -> list[dict[str, Any]]:
    rows = []
    for cid, r in result.criteria.iterrows():
        text = cid
        if ruleset is not None:
            try:
                crit = ruleset.criterion(str(cid))
                text = crit.text_id if t.lang == "id" else crit.text_en
            except KeyError:
                pass
        cells = [t.pct(r[c]) for c in ("both", "model_only", "rules_only", "neither")]
        rows.append({"id": cid, "text": text, "cells": cells})
    return rows


def _plain_card(card: Any) -> dict[str, Any]:
    if hasattr(card, "model_dump"):
        return dict(card.model_dump(mode="json"))
    return dict(card or {})


def _model_card(card_in: Mapping[str, Any] | Any, t: Translator) -> dict[str, Any]:
    """The model card as sections: identity, data, features, validation, limits, other fields."""
    card = _plain_card(card_in)
    extra = card.pop("extra", {}) or {}
    card = {**extra, **card}
    ident_keys = ("name", "version", "backend", "target", "training_date", "saved_at", "package_version",
                  "git_commit", "format_version")  # fmt: skip
    ident = [
        (t.get(f"card.fields.{k}") or k, str(card.pop(k))) for k in ident_keys if card.get(k) is not None
    ]
    dataset = card.pop("dataset", None) or card.pop("training_data", None)
    data_rows: list[tuple[str, str]] = []
    if isinstance(dataset, Mapping):
        data_rows = [(t.get(f"card.fields.{k}") or k, str(v)) for k, v in dataset.items() if v is not None]
    elif dataset is not None:
        data_rows = [(t("card.fields.dataset"), str(dataset))]
    for k in ("training_data_hash", "data_hash"):
        if k in card:
            data_rows.append((t("card.fields.sha256"), str(card.pop(k))))
    feats = card.pop("features", []) or []
    features = [_feature_text(f) for f in feats]
    validation = card.pop("validation", None) or card.pop("validation_table", None) or []
    val_cols: list[str] = []
    val_rows: list[list[str]] = []
    if isinstance(validation, list) and validation and isinstance(validation[0], Mapping):
        val_cols = list(dict.fromkeys(k for rec in validation for k in rec))
        for rec in validation:
            val_rows.append([_cell_text(rec.get(c), t) for c in val_cols])
    limits = card.pop("limits", None) or card.pop("limitations", None) or []
    if isinstance(limits, str):
        limits = [limits]
    files = card.pop("files", {}) or {}
    other = [(k, _cell_text(v, t)) for k, v in card.items()]
    return {"identity": ident, "data": data_rows, "features": features, "validation_columns": val_cols,
            "validation_rows": val_rows, "limits": [str(x) for x in limits], "files": list(files.items()),
            "other": other, "empty": not (ident or data_rows or features or val_rows or limits)}  # fmt: skip


def _feature_text(feature: Any) -> str:
    """'name (kind)' for a feature entry of a card, or the entry as text."""
    if not isinstance(feature, Mapping):
        return str(feature)
    kind = feature.get("type") or feature.get("kind")
    name = str(feature.get("name", feature))
    return f"{name} ({kind})" if kind else name


def _cell_text(value: Any, t: Translator) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return t("common.yes") if value else t("common.no")
    if isinstance(value, int):
        return t.num(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return t.num(value, 3) if abs(value) < 1000 else t.num(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_cell_text(v, t)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell_text(v, t) for v in value)
    return str(value)


def _ruleset(ruleset: RuleSet | None, result: AuditResult, info: ReportInfo, t: Translator) -> dict[str, Any]:
    if ruleset is None:
        return {"available": False}
    lr = ruleset.legal_reference
    title = ruleset.title_id if t.lang == "id" else ruleset.title_en
    crit_rows = []
    sizes = result.criteria.attrs.get("weighted_households", {})
    total = sum(sizes.values())
    for c in ruleset.criteria:
        share = MISSING
        if c.id in result.criteria.index and total > 0:
            # Weighted share meeting the criterion: the profile's four columns partition everyone.
            row = result.criteria.loc[c.id]
            met = sum(float(row[k]) * v for k, v in sizes.items() if v > 0 and np.isfinite(row[k]))
            share = t.pct(met / total)
        crit_rows.append({"id": c.id, "text_id": c.text_id, "text_en": c.text_en,
                          "reference": c.reference or "", "proxy": c.proxy or "",
                          "share": share})  # fmt: skip
    stages = []
    counting = ruleset.decision.counting_stage
    for s in ruleset.decision.stages:
        k = info.min_criteria_met if (s.id == counting.id and info.min_criteria_met) else s.min_criteria_met
        stages.append({"id": s.id, "text": s.text_id if t.lang == "id" else s.text_en,
                       "criteria": ", ".join(s.criteria), "k": k, "n": len(s.criteria),
                       "required": ", ".join(s.required) or MISSING,
                       "basis": t(f"ruleset.basis.{s.basis}"), "reason": s.reason})  # fmt: skip
    return {
        "available": True, "id": ruleset.id, "title": title,
        "instrument": lr.instrument, "number": lr.number or MISSING,
        "legal_title": lr.title_id if t.lang == "id" else lr.title_en,
        "date": str(lr.date) if lr.date else MISSING, "source": lr.source,
        "quality": t(f"ruleset.quality.{lr.quality}"), "note": lr.note or "",
        "in_force_from": str(ruleset.in_force_from),
        "revoked": (
            f"{ruleset.revoked_on} ({ruleset.revoked_by or MISSING})" if ruleset.revoked_on else MISSING
        ),
        "notes": ruleset.notes or "", "criteria": crit_rows, "stages": stages,
    }  # fmt: skip


def _text_or_missing(value: Any) -> str:
    return MISSING if value is None or value is pd.NA or value == "" else str(value)


def _flagged(result: AuditResult, t: Translator, max_rows: int) -> dict[str, Any]:
    f = result.flagged
    reason_col = "reasons_id" if t.lang == "id" else "reasons_en"
    rows = []
    for r in f.head(max_rows).to_dict(orient="records"):
        truth = r.get("poor_true")
        truth_text = (
            MISSING if truth is None or truth is pd.NA else t("common.poor" if truth else "common.not_poor")
        )
        rows.append({
            "household_id": r["household_id"],
            "pseudonym": r.get("head_nik_pseudonym") or MISSING,
            "kecamatan": group_label(t, "kecamatan", str(r["kecamatan"])) if "kecamatan" in r else MISSING,
            "desil": r["desil"],
            "selected": t("common.yes") if r["selected"] else t("common.no"),
            "verdict": t(f"verdicts.{r['rule_verdict']}"),
            "truth": truth_text,
            "flags": "; ".join(t(f"flags.{x}") for x in FLAGS if r.get(x) is True),
            "met": r["criteria_met"] or MISSING,
            "not_met": r["criteria_not_met"] or MISSING,
            "unknown": r["criteria_unknown"] or "",
            "reasons": _text_or_missing(r.get(reason_col)),
        })  # fmt: skip
    counts = {flag: int(result.flags[flag].to_numpy(dtype=bool, na_value=False).sum()) for flag in FLAGS}
    return {"rows": rows, "n": len(f), "shown": len(rows), "truncated": len(f) > len(rows),
            "counts": [{"flag": t(f"flags.{k}"), "n": t.num(v)} for k, v in counts.items()]}  # fmt: skip


def build_context(
    result: AuditResult,
    *,
    model_card: Mapping[str, Any] | Any,
    ruleset: RuleSet | None,
    info: ReportInfo,
    lang: str,
    generated: date | None = None,
    files: Mapping[str, str] | None = None,
    max_flagged_rows: int = MAX_FLAGGED_ROWS,
) -> ReportContext:
    """Everything the template needs, formatted in ``lang``."""
    t = Translator(lang)
    numbers = _numbers(result, t)
    curve_fig = None
    if result.has_truth and not result.curve.empty:
        pts = []
        for s in SUBJECTS:
            cov = _metric_row(result.metrics, s, "coverage")
            pc = _metric_row(result.metrics, s, "poor_coverage")
            if cov is not None and pc is not None:
                pts.append(figures.CurvePoint(s, float(cov.estimate), float(pc.estimate)))
        curve_fig = Figure(figures.targeting_curve_figure(result.curve, pts, t), t("curve.alt"))
    sections, group_fig = _group_sections(result, t)
    settings = dict(result.settings)
    unit = settings.get("bootstrap_unit", "household")
    settings["bootstrap_unit_text"] = (
        t("methods.unit_household") if unit == "household" else t("methods.unit_cluster", column=unit)
    )
    # An interval the audit did not compute (no rule set, no truth) shows as a dash, never an error.
    metrics_ci: dict[str, str] = defaultdict(lambda: MISSING)
    metrics_ci.update({
        f"{r.subject}.{r.metric}": t.interval(r.ci_low, r.ci_high) for r in result.metrics.itertuples()
    })
    return ReportContext(
        lang=lang,
        t=t,
        info=info,
        generated=(generated or date.today()).isoformat(),
        has_truth=result.has_truth,
        numbers=numbers,
        findings=_findings(result, t, numbers),
        settings=settings,
        metrics_rows=_metrics_rows(result, t),
        curve_figure=curve_fig,
        group_sections=sections,
        group_figure=group_fig,
        intersections=_intersections(result, t),
        deciles=_deciles(result, t),
        kecamatan=_kecamatan(result, t),
        crosstab=_crosstab(result, t),
        criteria_rows=_criteria_rows(result, ruleset, t),
        model_card=_model_card(model_card, t),
        ruleset=_ruleset(ruleset, result, info, t),
        flagged=_flagged(result, t, max_flagged_rows),
        metrics_ci=metrics_ci,
        files=dict(files or {}),
        has_rules=bool(result.settings.get("has_rules", True)),
    )
