"""Targeting audits: the targeting metrics (pure functions, fairlearn-compatible)."""

from targeting.audit.metrics import (
    auc_weighted,
    cgh_indicator,
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    inclusion_error_rate_nonpoor,
    poor_coverage_rate,
    r2_weighted,
    spearman_weighted,
    targeting_differential,
    weighted_midranks,
)

__all__ = [
    "auc_weighted",
    "cgh_indicator",
    "coverage_rate",
    "exclusion_error_rate",
    "inclusion_error_rate",
    "inclusion_error_rate_nonpoor",
    "poor_coverage_rate",
    "r2_weighted",
    "spearman_weighted",
    "targeting_differential",
    "weighted_midranks",
]
