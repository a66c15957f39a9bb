"""Plain-text renderings of a summary and an explanation, for the command line."""

from __future__ import annotations

from typing import Literal

from ._explain import HouseholdRuleExplanation
from ._schema import RuleSet
from ._summary import RuleSummary

Lang = Literal["id", "en"]

_VERDICT = {
    "en": {"eligible": "ELIGIBLE", "not_eligible": "NOT ELIGIBLE", "unknown": "UNKNOWN"},
    "id": {"eligible": "LAYAK", "not_eligible": "TIDAK LAYAK", "unknown": "BELUM DAPAT DITENTUKAN"},
}
_STATUS = {
    "en": {"met": "met", "not_met": "not met", "unknown": "unknown (missing answer)"},
    "id": {"met": "terpenuhi", "not_met": "tidak terpenuhi", "unknown": "tidak diketahui (data kosong)"},
}
_MARK = {"met": "[x]", "not_met": "[ ]", "unknown": "[?]"}


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def format_summary(summary: RuleSummary, ruleset: RuleSet | None = None) -> str:
    """Share eligible, by criterion, by deciding stage and by area, as aligned text."""
    weighted = "weighted" if summary.weighted else "unweighted"
    out = [
        f"Rule set {summary.ruleset} as of {summary.as_of}; k = {summary.min_criteria_met}; "
        f"{summary.n_households:,} households ({weighted} shares)",
        "",
        "Verdict           households   share",
    ]
    for verdict, r in summary.overall.iterrows():
        out.append(f"  {verdict:<15} {int(r['n']):>10,}  {_pct(r['share'])}")
    out.append(
        f"  households with at least one unknown criterion: {summary.n_with_unknown:,} "
        "(missing answers are never counted as 'not met')"
    )
    out += ["", "Criterion             met  not met  unknown  n unknown"]
    for crit, r in summary.by_criterion.iterrows():
        gloss = f"   {ruleset.criterion(str(crit)).text_en[:60]}" if ruleset is not None else ""
        out.append(
            f"  {str(crit):<14} {_pct(r['share_met'])} {_pct(r['share_not_met'])} "
            f"{_pct(r['share_unknown'])} {int(r['n_unknown']):>9,}{gloss}"
        )
    out += ["", "Deciding stage        households   share"]
    for stage, r in summary.by_stage.iterrows():
        out.append(f"  {str(stage):<19} {int(r['n']):>10,}  {_pct(r['share'])}")
    if summary.by_group is not None:
        name = summary.by_group.index.name or "group"
        out += ["", f"{name:<22}households  eligible  unknown"]
        for group, r in summary.by_group.iterrows():
            out.append(
                f"  {str(group):<20}{int(r['n']):>10,}  {_pct(r['share_eligible'])}   "
                f"{_pct(r['share_unknown'])}"
            )
    return "\n".join(out)


def format_explanation(expl: HouseholdRuleExplanation, lang: Lang = "en") -> str:
    """Which criteria a household met and why, in Bahasa Indonesia or English."""
    title = expl.ruleset_title_id if lang == "id" else expl.ruleset_title_en
    need = "minimal" if lang == "id" else "at least"
    of = "dari" if lang == "id" else "of"
    unknown = "tidak diketahui" if lang == "id" else "unknown"
    out = [
        f"{expl.household_id}: {_VERDICT[lang][expl.verdict]}  ({title}, {expl.as_of})",
        f"  stage: {expl.stage};  {expl.n_met} {of} {expl.n_criteria} ({expl.counted_stage}), "
        f"{expl.n_unknown} {unknown}; {need} {expl.min_criteria_met}"
        + (f"; required: {', '.join(expl.required)}" if expl.required else ""),
    ]
    if not expl.in_force:
        out.append("  NOTE: the rule set was not in force on this date (applied on request)")
    stage = None
    for c in expl.criteria:
        if c.stage != stage:
            stage = c.stage
            out.append(f"  -- {stage}")
        text = c.text_id if lang == "id" else c.text_en
        out.append(f"  {_MARK[c.status]} {c.id}: {text}")
        blank = "(kosong)" if lang == "id" else "(missing)"
        values = ", ".join(f"{k}={blank if v is None else v}" for k, v in c.values.items())
        derived = "".join(f", {k}={v}" for k, v in c.derived.items())
        out.append(f"        {_STATUS[lang][c.status]}: {c.condition}  <- {values}{derived}")
    return "\n".join(out)
