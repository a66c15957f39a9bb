"""scikit-learn's estimator checks for the hybrid and the blend."""

from __future__ import annotations

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from targeting.community import CommunityBlend, CommunityRankHybrid
from targeting.community._plackett_luce import Rankings, log_likelihood

EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the design's imputation medians and standardisation are unweighted (SimpleImputer and "
        "StandardScaler inside a ColumnTransformer get no sample_weight without global metadata "
        "routing), so the ridge penalty differs slightly; the likelihood itself is weight-equivalent "
        "(test_integer_weights_equal_repeated_households)"
    ),
}


def _expected(estimator):
    return EXPECTED_FAILURES if isinstance(estimator, CommunityRankHybrid) else {}


@parametrize_with_checks(
    [CommunityRankHybrid(alpha=0.1), CommunityBlend()], expected_failed_checks=_expected
)
def test_sklearn_contract(estimator, check):
    with threadpool_limits(1):
        check(estimator)


def test_integer_weights_equal_repeated_households():
    rng = np.random.default_rng(2)
    pct = rng.random((8, 1))
    f = rng.normal(size=8)
    w = np.array([1, 2, 1, 3, 1, 1, 2, 1], dtype=float)
    weighted = Rankings.build(pct, np.zeros(8, np.int64), w)
    rep = np.repeat(np.arange(8), w.astype(int))
    repeated = Rankings.build(pct[rep], np.zeros(rep.size, np.int64), np.ones(rep.size))
    # Copies of a household tie with each other, and tied households share one risk set (Breslow).
    np.testing.assert_allclose(log_likelihood(f, weighted)[0], log_likelihood(f[rep], repeated)[0])
