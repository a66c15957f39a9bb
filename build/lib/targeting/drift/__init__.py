"""Registries move: survey-weighted drift between rounds, and round-to-round transitions of decisions.

* :func:`survey_drift` / :func:`indicator_drift`: per-indicator PSI on weighted shares and a weighted
  two-sample test (chi-square on codes, Kolmogorov–Smirnov on numbers), flags from dated thresholds
  (``thresholds.yaml``); :func:`prediction_drift` for predicted (or measured) welfare.
* :mod:`targeting.drift.rounds`: two rounds of decisions linked by pseudonymised household id — the
  weighted desil transition matrix, programme entries and exits, and the indicators that moved each
  household out of (or into) a programme.
* :func:`targeting.drift.command.drift_command`: the body of ``targeting drift``.
"""

from targeting.drift._stats import (
    DEFAULT_EPSILON,
    TestResult,
    adjust_pvalues,
    kish_effective_size,
    population_stability_index,
    psi_null_mean,
    quantile_edges,
    weighted_chi2_2samp,
    weighted_ks_2samp,
    weighted_shares,
)
from targeting.drift._table import (
    LEVELS,
    PREDICTION_ROW,
    TABLE_COLUMNS,
    WELFARE_ROW,
    DriftResult,
    indicator_drift,
    predict,
    prediction_drift,
    survey_drift,
)
from targeting.drift._thresholds import DriftThresholds, load_thresholds
from targeting.drift.rounds import (
    RoundComparison,
    compare_rounds,
    desil_transitions,
    entrant_reasons,
    leaver_reasons,
    link_rounds,
    programme_flows,
)

__all__ = [
    "DEFAULT_EPSILON",
    "LEVELS",
    "PREDICTION_ROW",
    "TABLE_COLUMNS",
    "WELFARE_ROW",
    "DriftResult",
    "DriftThresholds",
    "RoundComparison",
    "TestResult",
    "adjust_pvalues",
    "compare_rounds",
    "desil_transitions",
    "entrant_reasons",
    "indicator_drift",
    "kish_effective_size",
    "leaver_reasons",
    "link_rounds",
    "load_thresholds",
    "population_stability_index",
    "predict",
    "prediction_drift",
    "programme_flows",
    "psi_null_mean",
    "quantile_edges",
    "survey_drift",
    "weighted_chi2_2samp",
    "weighted_ks_2samp",
    "weighted_shares",
]
