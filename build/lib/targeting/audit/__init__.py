"""Targeting audits: metrics, model vs rules vs measured welfare, and errors by group."""

from targeting.audit.compare import compare, criteria_profile, flagged_households
from targeting.audit.decisions import AuditData, read_decisions
from targeting.audit.groups import MinCell, group_metrics
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
from targeting.audit.overall import audit_metrics
from targeting.audit.ranking import decile_confusion, targeting_curve, welfare_deciles
from targeting.audit.result import AuditResult, run_audit

__all__ = [
    "AuditData",
    "AuditResult",
    "MinCell",
    "audit_metrics",
    "compare",
    "criteria_profile",
    "decile_confusion",
    "flagged_households",
    "group_metrics",
    "run_audit",
    "read_decisions",
    "targeting_curve",
    "welfare_deciles",
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
