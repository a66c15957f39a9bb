"""Budget and poverty-impact scenarios: benefit amounts as dated data, targeting methods, cost curves."""

from targeting.simulate._benefits import Benefit, BenefitConfig, DatedAmount, load_benefits
from targeting.simulate._simulate import (
    BASES,
    METHODS,
    RESULT_COLUMNS,
    Simulation,
    cost_curve,
    cutoff_selection,
    evaluate_selection,
    households_from,
    method_order,
    simulate,
    transfers,
)

__all__ = [
    "BASES",
    "METHODS",
    "RESULT_COLUMNS",
    "Benefit",
    "BenefitConfig",
    "DatedAmount",
    "Simulation",
    "cost_curve",
    "cutoff_selection",
    "evaluate_selection",
    "households_from",
    "load_benefits",
    "method_order",
    "simulate",
    "transfers",
]
