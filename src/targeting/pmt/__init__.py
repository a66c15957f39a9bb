"""The proxy-means model: estimators, validation, ranking into deciles and persistence.

LightGBM and matplotlib are imported only by the functions that need them.
"""

from targeting.pmt.estimator import BACKENDS, PMTRegressor
from targeting.pmt.intervals import WelfareIntervals, fit_intervals, load_intervals, save_intervals
from targeting.pmt.persistence import ModelCard, load_model, save_model
from targeting.pmt.programs import Program, ProgramConfig, load_programs, program_eligibility
from targeting.pmt.ranking import (
    assign_deciles,
    below_poverty_line,
    population_shares,
    select_coverage,
    select_poorest,
)
from targeting.pmt.validation import (
    ValidationResult,
    compare_backends,
    cross_validate,
    design_frame,
    evaluate_predictions,
    plot_targeting_curve,
    targeting_curve,
    temporal_validation,
)

__all__ = [
    "BACKENDS",
    "ModelCard",
    "PMTRegressor",
    "Program",
    "ProgramConfig",
    "ValidationResult",
    "WelfareIntervals",
    "assign_deciles",
    "below_poverty_line",
    "compare_backends",
    "cross_validate",
    "design_frame",
    "evaluate_predictions",
    "fit_intervals",
    "load_intervals",
    "load_model",
    "load_programs",
    "plot_targeting_curve",
    "population_shares",
    "program_eligibility",
    "save_intervals",
    "save_model",
    "select_coverage",
    "select_poorest",
    "targeting_curve",
    "temporal_validation",
]
