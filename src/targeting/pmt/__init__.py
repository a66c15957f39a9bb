"""The proxy-means model: estimators, validation, ranking into deciles and persistence.

The names below are loaded on first use (PEP 562): ranking households or reading a decisions table
imports ``targeting.pmt.ranking`` without scikit-learn and SciPy's statistics (a second of an audit's
start-up); LightGBM and matplotlib are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name and the module that defines it.
_WHERE = {
    **dict.fromkeys(("BACKENDS", "PMTRegressor"), "estimator"),
    **dict.fromkeys(("WelfareIntervals", "fit_intervals", "load_intervals", "save_intervals"), "intervals"),
    **dict.fromkeys(("ModelCard", "load_model", "save_model"), "persistence"),
    **dict.fromkeys(("Program", "ProgramConfig", "load_programs", "program_eligibility"), "programs"),
    **dict.fromkeys(("assign_deciles", "below_poverty_line", "population_shares", "select_coverage",
                     "select_poorest"), "ranking"),
    **dict.fromkeys(("ValidationResult", "compare_backends", "cross_validate", "design_frame",
                     "evaluate_predictions", "plot_targeting_curve", "targeting_curve",
                     "temporal_validation"), "validation"),
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
