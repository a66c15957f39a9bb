"""Field verification (*verifikasi dan validasi*): which households to visit, what to check, the proof.

Pure functions over a decisions-like DataFrame. Input columns (names in
:mod:`targeting.verify._columns`): ``household_id``, ``household_size`` (persons), ``selected``,
``p_other_side`` (or ``p_eligible`` with ``selected``), and where present ``kecamatan``, ``desa``,
``desil``, ``status``, ``rule_verdict``, ``rule_n_met`` and the reason slots
``reason_<i>_{code,text_id,text_en,contribution}``. NIK and family card numbers are never read.
"""

from targeting.verify._checks import NOT_CHECKABLE, indicators_to_check
from targeting.verify._order import (
    FLOOR_SHARE,
    allocate_visits,
    expected_corrections,
    p_wrong,
    select_visits,
    visit_order,
)
from targeting.verify._simulate import (
    comparison_orders,
    nearest_cut_order,
    plot_visit_curve,
    simulate_visits,
    visit_curve,
)
from targeting.verify._workbook import (
    DISAGREEMENTS_SHEET,
    VISITS_SHEET,
    disagreement_sheet,
    visit_sheet,
    write_verification_list,
    write_workbook,
)

__all__ = [
    "DISAGREEMENTS_SHEET",
    "FLOOR_SHARE",
    "NOT_CHECKABLE",
    "VISITS_SHEET",
    "allocate_visits",
    "comparison_orders",
    "disagreement_sheet",
    "expected_corrections",
    "indicators_to_check",
    "nearest_cut_order",
    "p_wrong",
    "plot_visit_curve",
    "select_visits",
    "simulate_visits",
    "visit_curve",
    "visit_order",
    "visit_sheet",
    "write_verification_list",
    "write_workbook",
]
