"""What every audit number means: metric names, formulas and the subjects they are computed for.

P = truly poor, S = selected, R = eligible under the rule set, N = everyone; every count is a sum of
survey weights (DOMAIN.md). The report translates these; the strings here are the English reference.
"""

from __future__ import annotations

from types import MappingProxyType

#: metric name -> definition (English reference text; the report carries the translations).
METRIC_DEFINITIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "exclusion_error": "exclusion error (undercoverage) = P∧¬S / P = 1 − recall",
        "inclusion_error": "inclusion error, beneficiary-based (leakage) = S∧¬P / S = 1 − precision",
        "inclusion_error_nonpoor": "inclusion error, non-poor-based (Alatas et al. 2012) = S∧¬P / ¬P",
        "coverage": "coverage = S / N (all households, truth known or not)",
        "poor_coverage": "coverage of the poor = P∧S / P",
        "targeting_differential": "targeting differential (Ravallion) = P∧S / P − S∧¬P / ¬P",
        "cgh": "CGH indicator = share of benefits reaching the poorest q of persons ÷ q",
        "spearman": "weighted Spearman correlation of the ranking score and measured welfare",
        "auc": "weighted AUC: probability that a poor household ranks below a non-poor one",
        "poverty_rate": "poverty rate = P / N (households with a measured truth)",
        "agreement": "model–rules agreement = (S∧R + ¬S∧¬R) / N",
        "model_not_rules": "model's picks the rules reject = S∧¬R / S",
        "rules_not_model": "rule-eligible households the model leaves out = R∧¬S / R",
        "rules_unknown": "verdict unknown (missing answers) = U / N",
    }
)

#: subject -> what it selects.
SUBJECT_DEFINITIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "model": "the model's pick (desil cut-off, coverage or quota)",
        "rules": "rule set verdict 'eligible' (an unknown verdict counts as not eligible)",
        "model_within_rules": "the model's pick restricted to households the rules find eligible",
        "model_vs_rules": "the model's pick (S) compared with the rules' verdict (R)",
        "truth": "measured welfare (no selection)",
    }
)

TRUTH_RATES: tuple[str, ...] = (
    "exclusion_error",
    "inclusion_error",
    "inclusion_error_nonpoor",
    "poor_coverage",
    "targeting_differential",
)
AGREEMENT_METRICS: tuple[str, ...] = ("agreement", "model_not_rules", "rules_not_model")


def rank_definition(subject: str) -> str:
    """What ranks households for the rank metrics of a subject."""
    if subject == "rules":
        return "ranking score: number of criteria met (more = poorer)"
    return "ranking score: predicted welfare"


def cgh_definition(bottom_share: float) -> str:
    """The CGH definition with its q."""
    return f"{METRIC_DEFINITIONS['cgh']} (q = {bottom_share:g}, persons ranked by measured welfare)"
