"""Coverage of calibrated intervals on the real surveys in ../shared/data (skipped where absent)."""

from __future__ import annotations

import numpy as np
import pytest

from targeting.pmt import PMTRegressor
from targeting.pmt.intervals import effective_size, fit_intervals, interval_groups
from targeting.pmt.validation import design_frame, log_welfare, size_feature
from targeting.survey.load import load_dataset
from tests.conftest import shared_data  # skips with the reason where ../shared/data is absent

pytestmark = pytest.mark.realdata


def _coverage(train, test, cols, level=0.9):
    est = PMTRegressor("ols", size_feature=size_feature(train))
    cal = fit_intervals(est, train, group_columns=cols)
    X_train = design_frame(train)
    model = PMTRegressor("ols", size_feature=size_feature(train)).fit(
        X_train, log_welfare(train), train.weight
    )
    pred = model.predict(design_frame(test)[list(X_train.columns)])
    lo, hi = cal.interval(pred, interval_groups(test, cols), level)
    y, w = log_welfare(test), test.weight.to_numpy()
    inside = (y >= lo) & (y <= hi)
    # Binomial noise of the calibration and of the test sample, 4 SD.
    tol = 4 * np.sqrt(level * (1 - level) * (1 / effective_size(train.weight) + 1 / effective_size(w)))
    return float(np.average(inside, weights=w)), tol


def test_burkina_kfold_by_community_covers():
    shared_data("burkina_faso")
    data = load_dataset("burkina_faso").data
    codes = data.cluster.astype("string").factorize()[0]
    test_mask = codes % 5 == 0  # a fifth of the communities held out, whole
    cov, tol = _coverage(data.subset(list(np.flatnonzero(~test_mask))),
                         data.subset(list(np.flatnonzero(test_mask))), ("rural",))
    assert abs(cov - 0.9) < tol, (cov, tol)


def test_paraguay_2023_to_2024_covers():
    shared_data("paraguay_ephc")
    train = load_dataset("paraguay_ephc", variables={"year": 2023}).data
    test = load_dataset("paraguay_ephc", variables={"year": 2024}).data
    cov, tol = _coverage(train, test, ("region", "urban"))
    assert abs(cov - 0.9) < tol, (cov, tol)
