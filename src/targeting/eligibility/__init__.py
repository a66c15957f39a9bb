"""Eligibility rule engine: decree criteria as dated, referenced data files, evaluated per household.

Rule sets live in ``rulesets/*.yaml`` (Kepmensos 262/HUK/2022, 146/HUK/2013, BPS-14); each
criterion is a condition from a closed set of operators on survey-contract fields, and every number
is a named threshold keyed by the date it takes effect.
"""

from ._evaluate import (
    CRITERION_PREFIX,
    VERDICTS,
    RuleSetNotInForceError,
    criterion_column,
    evaluate,
    evaluate_columns,
    needed_fields,
    resolve_thresholds,
)
from ._explain import CriterionExplanation, HouseholdRuleExplanation, explain_household
from ._loader import list_rulesets, load_ruleset
from ._schema import RuleSet
from ._summary import RuleSummary, summarize
from ._text import format_explanation, format_summary, verdict_text

__all__ = [
    "CRITERION_PREFIX",
    "VERDICTS",
    "CriterionExplanation",
    "HouseholdRuleExplanation",
    "RuleSet",
    "RuleSetNotInForceError",
    "RuleSummary",
    "criterion_column",
    "evaluate",
    "evaluate_columns",
    "explain_household",
    "format_explanation",
    "format_summary",
    "list_rulesets",
    "load_ruleset",
    "needed_fields",
    "resolve_thresholds",
    "summarize",
    "verdict_text",
]
