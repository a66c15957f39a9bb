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


def verdict_text(verdict: str) -> str:
    """A verdict code as a reader says it, Bahasa Indonesia first: ``layak / eligible``."""
    if verdict not in _VERDICT["en"]:
        return verdict
    return f"{_VERDICT['id'][verdict].lower()} / {_VERDICT['en'][verdict].lower()}"


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _row(first: str, width: int, cells: list[str], heads: list[str]) -> str:
    """One aligned line: a first column, then each cell right-aligned under its heading."""
    return f"  {first:<{width}}" + "".join(f"  {c:>{len(h)}}" for c, h in zip(cells, heads, strict=True))


def format_summary(summary: RuleSummary, ruleset: RuleSet | None = None) -> str:
    """Share eligible, by criterion, by deciding stage and by area, as aligned text (Indonesian first)."""
    weighted = "berbobot / weighted" if summary.weighted else "tanpa bobot / unweighted"
    out = [
        f"Aturan / rule set {summary.ruleset} per / as of {summary.as_of}; k = {summary.min_criteria_met}; "
        f"{summary.n_households:,} rumah tangga / households (pangsa {weighted} shares)",
        "",
    ]
    heads = ["rumah tangga / households", "pangsa / share"]
    out.append(_row("Putusan / verdict", 36, heads, heads)[2:])
    for verdict, r in summary.overall.iterrows():
        out.append(_row(verdict_text(str(verdict)), 34, [f"{int(r['n']):,}", _pct(r["share"])], heads))
    out.append(
        f"  rumah tangga dengan sedikitnya satu kriteria tidak diketahui / households with at least one "
        f"unknown criterion: {summary.n_with_unknown:,} (jawaban kosong tidak pernah dihitung 'tidak "
        "terpenuhi' / missing answers are never counted as 'not met')"
    )
    heads = ["terpenuhi / met", "tidak / not met", "tidak diketahui / unknown", "n"]
    out += ["", _row("Kriteria / criterion", 20, heads, heads)[2:]]
    for crit, r in summary.by_criterion.iterrows():
        gloss = ""
        if ruleset is not None:
            c = ruleset.criterion(str(crit))
            gloss = f"   {c.text_id[:60]} / {c.text_en[:50]}"
        cells = [_pct(r["share_met"]), _pct(r["share_not_met"]), _pct(r["share_unknown"]),
                 f"{int(r['n_unknown']):,}"]
        out.append(_row(str(crit), 18, cells, heads) + gloss)
    heads = ["rumah tangga / households", "pangsa / share"]
    out += ["", _row("Tahap penentu / deciding stage", 30, heads, heads)[2:]]
    stages = {} if ruleset is None else {st.id: st for st in ruleset.decision.stages}
    for stage, r in summary.by_stage.iterrows():
        st = stages.get(str(stage))
        gloss = "" if st is None else f"   {st.text_id} / {st.text_en}"
        out.append(_row(str(stage), 28, [f"{int(r['n']):,}", _pct(r["share"])], heads) + gloss)
    if summary.by_group is not None:
        name = summary.by_group.index.name or "group"
        names = _kecamatan_names() if name == "kecamatan" else {}
        heads = ["rumah tangga / households", "layak / eligible", "tidak diketahui / unknown"]
        out += ["", _row(name, 22, heads, heads)[2:]]
        for group, r in summary.by_group.iterrows():
            cells = [f"{int(r['n']):,}", _pct(r["share_eligible"]), _pct(r["share_unknown"])]
            out.append(_row(names.get(str(group), str(group)), 20, cells, heads))
    return "\n".join(out)


def _kecamatan_names() -> dict[str, str]:
    """Kecamatan codes to their names (the survey contract's code list)."""
    from targeting.survey.contract import load_contract

    contract = load_contract()
    return {code: contract.label("kecamatan", code) for code in contract.code_list("kecamatan")}


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
