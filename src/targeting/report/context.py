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
from pydantic import BaseModel, ConfigDict, Field

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
    programs : the programmes of the decisions table (id -> names ``id``/``en`` and desil range).
    truth_source : where the measured welfare used as the truth comes from.
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
    programs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    truth_source: str | None = None


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
    sec: dict[str, int] = field(default_factory=dict)
    reach: dict[str, Any] = field(default_factory=dict)
    unknowns: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)
    simulation: dict[str, Any] = field(default_factory=dict)
    truth_source: str | None = None


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


def group_phrase(t: Translator, attr: str, value: str) -> str:
    """A group named on its own, as a reader says it: "Kepala rumah tangga laki-laki", "Kecamatan Tabang"."""
    if value == "NA":
        return f"{attr_label(t, attr)}: {t('groups.missing')}"
    if attr == "kecamatan":
        return t("groups.phrase.kecamatan", name=group_label(t, attr, value))
    return t.get(f"groups.phrase.{attr}.{value}") or f"{attr_label(t, attr)}: {group_label(t, attr, value)}"


def _ci(t: Translator, low: float, high: float, kind: str = "pct") -> str:
    return t.interval(low, high, kind)


def _fmt(t: Translator, metric: str, x: float) -> str:
    return t.num(x, 2) if metric in ("cgh", "spearman", "auc") else t.pct(x)


# ---- programme terms, unknown verdicts, the current list, budget -------------------------------------


def _programme_name(t: Translator, key: str, info: ReportInfo | None) -> str:
    """A programme with its desil range ("Program Keluarga Harapan (PKH), desil 1–4"), or a selection."""
    spec = (info.programs if info is not None else {}).get(key)
    if spec:
        name = spec.get(t.lang) or spec.get("id") or key
        return t("reach.program_range", name=name, lo=spec.get("desil_min", 1), hi=spec.get("desil_max"))
    return t.get(f"reach.subject.{key}") or key


def _selection_row(result: AuditResult) -> Any:
    p = result.programmes
    if p is None or p.empty:
        return None
    hit = p[p["is_selection"].astype(bool)]
    if len(hit):
        return hit.iloc[0]
    model = p[(p["kind"] == "subject") & (p["key"] == "model")]
    return model.iloc[0] if len(model) else None


def _reach(result: AuditResult, t: Translator, info: ReportInfo) -> dict[str, Any]:
    p = result.programmes
    if p is None or p.empty:
        return {"rows": [], "selection": None, "rules": None}
    has_program_selection = bool(p["is_selection"].astype(bool).any())
    rows = []
    for r in p.itertuples():
        if r.kind == "subject" and r.key == "model" and has_program_selection:
            continue  # the selected programme's row says it already
        label = _programme_name(t, r.key, info) if r.kind == "program" else t(f"reach.subject.{r.key}")
        note = ""
        if r.kind == "subject" and r.key == "model" and info.selection:
            note = info.selection
        if r.kind == "subject" and r.key == "rules" and info.min_criteria_met:
            note = t("reach.rules_k", k=info.min_criteria_met)
        rows.append({"key": r.key, "label": label, "note": note, "is_selection": bool(r.is_selection),
                     "households": t.num(r.households), "persons": t.num(r.persons),
                     "coverage": t.pct(r.coverage), "poor_coverage": t.pct(r.poor_coverage),
                     "inclusion": t.pct(r.inclusion_error)})  # fmt: skip
    sel = _selection_row(result)
    rules = p[(p["kind"] == "subject") & (p["key"] == "rules")]

    def counts(row: Any) -> dict[str, str] | None:
        return None if row is None else {"households": t.num(row.households), "persons": t.num(row.persons)}

    return {"rows": rows, "selection": counts(sel), "rules": counts(rules.iloc[0] if len(rules) else None)}


def _unknowns(result: AuditResult, t: Translator) -> dict[str, Any]:
    u = result.unknowns
    if u is None or u.empty or not result.settings.get("has_rules", True):
        return {"available": False}
    total = u[u["group"] == "__all__"].iloc[0]
    if int(total.n_unknown) == 0:
        return {"available": False}
    rows = []
    for r in u.itertuples():
        is_total = r.group == "__all__"
        rows.append({"label": t("unknowns.total") if is_total else group_label(t, "kecamatan", r.group),
                     "n": t.num(r.n_households), "unknown": t.num(r.n_unknown),
                     "share": t.pct(r.share_unknown),
                     "ratio": ((t.num(r.ratio_to_overall, 1) + "×") if np.isfinite(r.ratio_to_overall)
                               else MISSING),
                     "criteria": r.criteria or MISSING, "risk": bool(r.risk), "total": is_total})  # fmt: skip
    n_risk = int(u["risk"].astype(bool).sum())
    intro = t("unknowns.intro", n=t.num(total.n_unknown), share=t.pct(total.share_unknown), n_risk=n_risk)
    return {"available": True, "rows": rows, "intro": intro}


def _changes(result: AuditResult, t: Translator) -> dict[str, Any]:
    ch = result.changes
    info = result.settings.get("current") or {}
    if ch is None or ch.empty:
        return {"available": False}
    blocks = []
    for grouping in ["__all__", *[g for g in ch["grouping"].unique() if g != "__all__"]]:
        part = ch[ch["grouping"] == grouping]
        label = t("current.district") if grouping == "__all__" else attr_label(t, grouping)
        def name(g: str, grouping: str = grouping) -> str:
            return t("current.district") if grouping == "__all__" else group_label(t, grouping, g)

        rows = [{"label": name(r.group),
                 "current": t.num(r.current), "model_keep": t.num(r.model_keep),
                 "model_add": t.num(r.model_add),
                 "model_remove": t.num(r.model_remove), "rules_add": t.num(r.rules_add),
                 "rules_remove": t.num(r.rules_remove)} for r in part.itertuples()]  # fmt: skip
        blocks.append({"label": label, "rows": rows})
    total = ch[ch["grouping"] == "__all__"].iloc[0]
    intro = t("current.intro", file=info.get("file", MISSING), given=t.num(info.get("given")),
              matched=t.num(info.get("matched")), unmatched=t.num(info.get("unmatched")),
              add=t.num(total.model_add), remove=t.num(total.model_remove))
    return {"available": True, "blocks": blocks, "intro": intro}


def simulation_context(sim: Any, t: Translator, info: ReportInfo) -> dict[str, Any]:
    """The budget section from a :class:`targeting.simulate.Simulation` (None: no section)."""
    if sim is None or sim.table.empty:
        return {"available": False}
    table = sim.table
    settings = sim.settings
    has_welfare = bool(settings.get("has_welfare"))
    programs = []
    for key in settings["programs"]:
        part = table[table["program"] == key]
        if part.empty:
            continue
        amount = t(f"budget.amount.{part['amount_basis'].iloc[0]}")
        rows = []
        for r in part.itertuples():
            if r.method == "model" and r.basis == "budget" and settings.get("budget") is None:
                continue  # the common budget is the model's own cost: the same row twice
            rows.append({
                "method": t(f"budget.method.{r.method}"), "basis": t(f"budget.basis.{r.basis}"),
                "households": t.num(r.households), "persons": t.num(r.persons),
                "cost": t.billions(r.cost),
                "leakage": (f"{t.billions(r.leakage_cost)} ({t.pct(r.leakage_share)})"
                            if np.isfinite(r.leakage_cost) else MISSING),
                "unspent": (t("budget.unspent", amount=t.billions(r.budget_unspent))
                            if r.basis == "budget" and r.budget_unspent > 0.005 * r.budget else ""),
                "headcount": t.pct(r.headcount_after, 2), "gap": t.pct(r.gap_after, 2),
                "lifted": t.num(r.persons_lifted),
            })  # fmt: skip
        programs.append({"key": key, "label": _programme_name(t, key, info), "amount": amount, "rows": rows})
    first = table.iloc[0]
    ref = settings.get("reference_poverty") or {}
    note = t("budget.note_no_welfare")
    if has_welfare:
        note = t("budget.note", before=t.pct(first.headcount_before, 2), gap=t.pct(first.gap_before, 2),
                 official=t.pct(ref.get("rate"), 2), official_source=ref.get("source", MISSING),
                 line=t.rupiah(settings.get("line")), day=settings.get("day"))
    fig = None
    if has_welfare and sim.curves:
        fig = Figure(figures.cost_curve_figure(sim.curves, settings["programs"], first.headcount_before, t,
                                               official=ref.get("rate")), t("budget.figure_alt"))
    return {"available": True, "programs": programs, "has_welfare": has_welfare, "note": note, "figure": fig}


def _sections(has_budget: bool, has_changes: bool) -> dict[str, int]:
    names = ["summary", *(["budget"] if has_budget else []), *(["current"] if has_changes else []), "curves",
             "metrics", "groups", "deciles", "kecamatan", "crosstab", "card", "ruleset", "methods", "flagged"]
    return {n: i + 1 for i, n in enumerate(names)}


# ---- sections -----------------------------------------------------------------------------------


def _numbers(result: AuditResult, t: Translator) -> dict[str, Number]:
    out: dict[str, Number] = {}
    for key, value in result.summary().items():
        metric = key.split(".")[-1]
        counts = ("households", "weighted_households", "weighted_persons", "households_with_truth", "flagged",
                  "rules_unknown")
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


def _findings(result: AuditResult, t: Translator, numbers: dict[str, Number],
              info: ReportInfo | None = None) -> list[dict[str, Any]]:
    """Plain-language findings for the one-page summary: message key + the numbers it quotes."""
    m = result.metrics
    out: list[dict[str, Any]] = []
    sel = _selection_row(result)
    if sel is not None:
        out.append({"key": "summary.finding_program", "numbers": ["model.coverage"],
                    "extra": {"program": _programme_name(t, sel.key, info),
                              "households": t.num(sel.households),
                              "persons": t.num(sel.persons)}})  # fmt: skip
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
    risky = result.unknowns[result.unknowns["risk"].astype(bool)] if len(result.unknowns) else result.unknowns
    if len(risky):
        total = result.unknowns[result.unknowns["group"] == "__all__"].iloc[0]
        names = ", ".join(f"{group_label(t, 'kecamatan', r.group)} {t.pct(r.share_unknown)}"
                          for r in risky.head(4).itertuples())
        out.append({"key": "summary.finding_unknown_risk", "numbers": [],
                    "extra": {"n": t.num(total.n_unknown), "share": t.pct(total.share_unknown),
                              "where": names}})
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
        "group": group_phrase(t, row.feature_1, row.value_1),
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
            bars.append(figures.GroupBar(attr_label(t, attr), group_phrase(t, attr, value), vals))
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
            "group": f"{group_phrase(t, r.feature_1, r.value_1)} × {group_phrase(t, r.feature_2, r.value_2)}",
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
    sel = f["selected"].to_numpy(dtype=bool)
    verdicts = f["rule_verdict"].astype("string").to_numpy(dtype=object, na_value="unknown")
    rows = []
    for selected in (True, False):
        cells = []
        for verdict in ("eligible", "not_eligible", "unknown"):
            mask = (sel == selected) & (verdicts == verdict)
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


#: Validation metrics the card compares with the OLS baseline: (metric, coverage label, higher is better).
CARD_COMPARISON: tuple[tuple[str, str, bool], ...] = (
    ("spearman", "", True),
    ("auc_poor", "", True),
    ("exclusion_error", "poverty rate", False),
    ("inclusion_error", "poverty rate", False),
    ("exclusion_error", "40%", False),
)
#: A difference smaller than this (in the metric's own units: shares, correlations) is negligible.
NEGLIGIBLE = 0.01


def _comparison(validation: list[Mapping[str, Any]], backend: str, baseline: str, t: Translator
                ) -> tuple[list[dict[str, str]], str, str]:
    """Rows comparing ``backend`` with ``baseline`` out of sample, and the verdict (kind, text)."""
    def find(b: str, metric: str, label: str) -> Mapping[str, Any] | None:
        for rec in validation:
            same = rec.get("backend") == b and rec.get("metric") == metric
            if same and (rec.get("coverage_label") or "") == label:
                return rec
        return None

    rows, better, worse = [], [], []
    for metric, label, higher in CARD_COMPARISON:
        base, mine = find(baseline, metric, label), find(backend, metric, label)
        if base is None or mine is None or mine.get("diff_vs_baseline") is None:
            continue
        d = float(mine["diff_vs_baseline"])
        lo, hi = float(mine.get("diff_ci_low") or np.nan), float(mine.get("diff_ci_high") or np.nan)
        gain_lo, gain_hi = (lo, hi) if higher else (-hi, -lo)  # gain > 0: the backend is better
        name = t(f"card.comparison.metrics.{metric}")
        if label:
            at = t.get(f"card.comparison.coverage.{label}") or label
            name += f" ({t('card.comparison.at', coverage=at)})"
        if np.isfinite(gain_lo) and gain_lo > 0 and abs(d) >= NEGLIGIBLE:
            reading, kind = t("card.comparison.better"), "better"
            better.append(name)
        elif np.isfinite(gain_hi) and gain_hi < 0 and abs(d) >= NEGLIGIBLE:
            reading, kind = t("card.comparison.worse"), "worse"
            worse.append(name)
        else:
            reading, kind = t("card.comparison.same"), "same"
        share = metric not in ("spearman", "auc_poor", "r2_log_welfare")
        fmt = t.pct if share else (lambda v: t.num(v, 3))
        sign = "+" if d > 0 else ("−" if d < 0 else "±")
        rows.append({"metric": name, "baseline": fmt(float(base["estimate"])),
                     "backend": fmt(float(mine["estimate"])),
                     "diff": t.points(d) if share else f"{sign}{t.num(abs(d), 3)}",
                     "diff_ci": t.interval(lo, hi, "points" if share else "num"),
                     "reading": reading, "kind": kind})  # fmt: skip
    names = {"backend": t.get(f"card.backends.{backend}") or backend,
             "baseline": t.get(f"card.backends.{baseline}") or baseline}
    if not rows:
        return rows, "none", t("card.verdict_none", **names)
    if worse and not better:
        return rows, "worse", t("card.verdict_worse", what=", ".join(worse), **names)
    if better and not worse:
        return rows, "better", t("card.verdict_better", what=", ".join(better), **names)
    if better and worse:
        return rows, "mixed", t("card.verdict_mixed", better=", ".join(better), worse=", ".join(worse),
                                **names)
    return rows, "same", t("card.verdict_same", **names)


def _model_card(
    card_in: Mapping[str, Any] | Any, t: Translator, info: ReportInfo | None = None
) -> dict[str, Any]:
    """The model card: a verdict against OLS, plain-language facts, the comparison, limits, technical rows."""
    card = _plain_card(card_in)
    extra = card.pop("extra", {}) or {}
    card = {**extra, **card}
    backend = str(card.get("backend") or "")
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
    comparison: list[dict[str, str]] = []
    verdict_kind, verdict = "none", ""
    if isinstance(validation, list) and validation and isinstance(validation[0], Mapping):
        val_cols = list(dict.fromkeys(k for rec in validation for k in rec))
        for rec in validation:
            val_rows.append([_cell_text(rec.get(c), t) for c in val_cols])
        backends = {rec.get("backend") for rec in validation}
        if backend and backend != "ols" and "ols" in backends:
            comparison, verdict_kind, verdict = _comparison(validation, backend, "ols", t)
    if not verdict:
        verdict = (t("card.verdict_is_ols") if backend == "ols" else t("card.verdict_none",
                   backend=t.get(f"card.backends.{backend}") or backend or MISSING,
                   baseline=t("card.backends.ols")))
    limits = card.pop("limits", None) or card.pop("limitations", None) or []
    if isinstance(limits, str):
        limits = [limits]
    limits = [str(x) for x in limits]
    plain: list[str] = []
    if isinstance(dataset, Mapping):
        plain.append(t("card.plain.data", name=dataset.get("name") or MISSING,
                       n=t.num(dataset.get("n_households")), spec=dataset.get("spec") or MISSING))
    method = t.get(f"card.plain.method.{backend}")
    weights = card.get("ensemble_weights")
    if backend == "ensemble" and isinstance(weights, Mapping):
        method = t("card.plain.method_ensemble", members=", ".join(
            f"{t.get(f'card.backends.{k}') or k} {t.num(float(v), 2)}" for k, v in weights.items()))
    if method:
        plain.append(method)
    if card.get("experiment"):
        plain.append(t("card.plain.validation", experiment=card["experiment"]))
    if card.get("poverty_rate") is not None:
        plain.append(t("card.plain.poverty_rate", rate=t.pct(float(card["poverty_rate"]))))
    limits = [*limits, *[t(f"card.plain.limit_{k}") for k in ("one_survey", "registry", "reasons")]]
    if info is not None and info.synthetic:
        limits.insert(0, t("card.plain.limit_synthetic"))
    files = card.pop("files", {}) or {}
    skip = {"experiment", "poverty_rate"}
    other = [(k, _cell_text(v, t)) for k, v in card.items() if k not in skip]
    return {"identity": ident, "data": data_rows, "features": features, "validation_columns": val_cols,
            "validation_rows": val_rows, "limits": limits, "files": list(files.items()),
            "other": other, "plain": plain, "comparison": comparison, "verdict": verdict,
            "verdict_kind": verdict_kind, "backend_label": t.get(f"card.backends.{backend}") or backend,
            "baseline_label": t("card.backends.ols"),
            "empty": not (ident or data_rows or features or val_rows)}  # fmt: skip


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
        proxy = (c.proxy_id or c.proxy) if t.lang == "id" else c.proxy
        crit_rows.append({"id": c.id, "text_id": c.text_id, "text_en": c.text_en,
                          "reference": c.reference or "", "proxy": proxy or "",
                          "share": share})  # fmt: skip
    stages = []
    counting = ruleset.decision.counting_stage
    for s in ruleset.decision.stages:
        k = info.min_criteria_met if (s.id == counting.id and info.min_criteria_met) else s.min_criteria_met
        stages.append({"id": s.id, "text": s.text_id if t.lang == "id" else s.text_en,
                       "criteria": ", ".join(s.criteria), "k": k, "n": len(s.criteria),
                       "required": ", ".join(s.required) or MISSING,
                       "basis": t(f"ruleset.basis.{s.basis}"),
                       "reason": (s.reason_id or s.reason) if t.lang == "id" else s.reason})  # fmt: skip
    return {
        "available": True, "id": ruleset.id, "title": title,
        "instrument": lr.instrument, "number": lr.number or MISSING,
        "legal_title": lr.title_id if t.lang == "id" else lr.title_en,
        "date": str(lr.date) if lr.date else MISSING, "source": lr.source,
        "quality": t(f"ruleset.quality.{lr.quality}"),
        "note": ((lr.note_id or lr.note) if t.lang == "id" else lr.note) or "",
        "in_force_from": str(ruleset.in_force_from),
        "revoked": (
            f"{ruleset.revoked_on} ({ruleset.revoked_by or MISSING})" if ruleset.revoked_on else MISSING
        ),
        "notes": ((ruleset.notes_id or ruleset.notes) if t.lang == "id" else ruleset.notes) or "",
        "criteria": crit_rows, "stages": stages,
        "summary": t("ruleset.summary", title=title, n=len(counting.criteria),
                     k=next((x["k"] for x in stages if x["id"] == counting.id), MISSING)),
    }  # fmt: skip


def _text_or_missing(value: Any) -> str:
    return MISSING if value is None or value is pd.NA or value == "" else str(value)


def _flagged(result: AuditResult, t: Translator, max_rows: int) -> dict[str, Any]:
    f = result.flagged
    reason_col = f"reasons_checkable_{t.lang}"
    if reason_col not in f.columns:
        reason_col = f"reasons_{t.lang}"
    context_col = f"reasons_context_{t.lang}"
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
            "context": _text_or_missing(r.get(context_col)),
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
    simulation: Any = None,
) -> ReportContext:
    """Everything the template needs, formatted in ``lang`` (``simulation``: a budget scenario, or None)."""
    t = Translator(lang, unit=str(result.settings.get("unit") or "person"))
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
    sim_ctx = simulation_context(simulation, t, info)
    changes = _changes(result, t)
    settings.setdefault("registry", False)
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
        findings=_findings(result, t, numbers, info),
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
        model_card=_model_card(model_card, t, info),
        ruleset=_ruleset(ruleset, result, info, t),
        flagged=_flagged(result, t, max_flagged_rows),
        metrics_ci=metrics_ci,
        files=dict(files or {}),
        has_rules=bool(result.settings.get("has_rules", True)),
        sec=_sections(sim_ctx["available"], changes["available"]),
        reach=_reach(result, t, info),
        unknowns=_unknowns(result, t),
        changes=changes,
        simulation=sim_ctx,
        truth_source=info.truth_source,
    )
