"""A small audit shared by the report tests (computed once per test session and worker)."""

from __future__ import annotations

from datetime import date

import pytest

from targeting.audit import run_audit
from targeting.eligibility import load_ruleset
from targeting.report import ReportInfo
from tests.audit.factory import make_decisions

KEY = bytes(range(32))
GENERATED = date(2025, 3, 1)
CARD = {
    "name": "kukar-pmt",
    "version": "7",
    "backend": "ols",
    "target": "log per-capita welfare (natural log)",
    "features": [
        {"name": "floor_material", "kind": "categorical"},
        {"name": "household_size", "kind": "numeric"},
    ],
    "dataset": {"name": "kukar_survey", "sha256": "ab" * 32, "n_households": 20000},
    "training_date": "2025-01-15",
    "validation": [{"fold": 1, "spearman": 0.71, "exclusion_error": 0.45}, {"fold": 2, "spearman": 0.69}],
    "limits": ["Trained on synthetic data <b>only</b>", "Not calibrated per kecamatan"],
}
INFO = ReportInfo(program="Sembako/BPNT", selection="desil 1-2", data_source="test factory", synthetic=True)


@pytest.fixture(scope="session")
def decisions():
    frame = make_decisions(1500, seed=13)
    frame["family_card_no"] = "6402999999999999"  # personal: must never reach an output
    return frame


@pytest.fixture(scope="session")
def result(decisions):
    return run_audit(decisions, key=KEY, n_boot=40, seed=1)


@pytest.fixture(scope="session")
def ruleset():
    return load_ruleset("kepmensos_262_2022")
