"""The audit's and the scorer's start-up: what importing them loads (a second each of a command)."""

from __future__ import annotations

import subprocess
import sys


def test_audit_and_ranking_import_no_estimators() -> None:
    code = ("import sys, targeting.jobs.audit, targeting.decide, targeting.pmt.ranking; "
            "print(sorted(m for m in ('sklearn', 'lightgbm', 'shap', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pmt_names_load_on_first_use() -> None:
    import targeting.pmt as pmt
    from targeting.pmt.estimator import PMTRegressor

    assert pmt.PMTRegressor is PMTRegressor
    assert set(pmt.__all__) <= set(dir(pmt))
    try:
        pmt.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")

