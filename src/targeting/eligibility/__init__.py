"""Eligibility rule engine: decree criteria as dated, referenced data files, evaluated per household."""

from ._evaluate import RuleSetNotInForceError, criterion_column, evaluate, resolve_thresholds
from ._loader import list_rulesets, load_ruleset
from ._schema import RuleSet

__all__ = [
    "RuleSet",
    "RuleSetNotInForceError",
    "criterion_column",
    "evaluate",
    "list_rulesets",
    "load_ruleset",
    "resolve_thresholds",
]
