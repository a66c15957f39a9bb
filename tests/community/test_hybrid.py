"""The rank-ordered logit likelihood and the hybrid estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression

from targeting.community import CommunityRankHybrid, rank_percentiles
from targeting.community._plackett_luce import Rankings, log_likelihood


def _rankings(pct, community=None, weight=None):
    pct = np.asarray(pct, dtype=float).reshape(len(pct), -1)
    n = pct.shape[0]
    c = np.zeros(n, np.int64) if community is None else np.asarray(community, np.int64)
    return Rankings.build(pct, c, np.ones(n) if weight is None else np.asarray(weight, float))


def test_likelihood_hand_worked():
    # Welfare index 0, ln 2, ln 3; household 0 ranked poorest, then 1, then 2.
    # P = [1 / (1 + 1/2 + 1/3)] x [(1/2) / (1/2 + 1/3)] = 6/11 x 3/5 = 18/55.
    f = np.log([1.0, 2.0, 3.0])
    ll, _ = log_likelihood(f, _rankings([0.1, 0.5, 0.9]))
    assert ll == pytest.approx(np.log(18 / 55))
    # Reversed ranking: household 2 poorest first -> (1/3)/(11/6) x (1/2)/(3/2).
    ll_rev, _ = log_likelihood(f, _rankings([0.9, 0.5, 0.1]))
    assert ll_rev == pytest.approx(np.log(2 / 11 * 1 / 3))
    assert ll > ll_rev  # the ranking that agrees with the index is the likelier one


def test_tied_ranks_share_one_risk_set():
    # Households 0 and 1 tied poorest (Breslow): each named against all three, then 2 alone.
    f = np.log([1.0, 2.0, 3.0])
    e = 1 / np.exp(f)
    expected = np.log(e[0] / e.sum()) + np.log(e[1] / e.sum())
    ll, _ = log_likelihood(f, _rankings([0.25, 0.25, 0.75]))
    assert ll == pytest.approx(expected)


def test_several_rankings_and_communities_add_up_and_the_gradient_is_exact():
    rng = np.random.default_rng(1)
    n = 24
    pct = rng.random((n, 2))
    pct[rng.random((n, 2)) < 0.2] = np.nan
    community = rng.integers(0, 3, n)
    weight = rng.random(n) + 0.5
    r = _rankings(pct, community, weight)
    f = rng.normal(size=n)
    ll, grad = log_likelihood(f, r)
    total = 0.0
    for c in range(3):
        for j in range(2):
            idx = np.flatnonzero((community == c) & ~np.isnan(pct[:, j]))
            for i in idx:
                risk = idx[pct[idx, j] >= pct[i, j]]
                total += weight[i] * (-f[i] - np.log(np.sum(weight[risk] * np.exp(-f[risk]))))
    assert ll == pytest.approx(total)
    eps = 1e-6
    numeric = [(log_likelihood(f + eps * e, r)[0] - log_likelihood(f - eps * e, r)[0]) / (2 * eps)
               for e in np.eye(n)]
    np.testing.assert_allclose(grad, numeric, atol=1e-6)
    keep = np.array([True, False, True])
    sub = r.subset(keep)
    rebuilt = _rankings(np.where(np.isin(community, [0, 2])[:, None], pct, np.nan), community, weight)
    assert log_likelihood(f, sub)[0] == pytest.approx(log_likelihood(f, rebuilt)[0])


def simulate(n_comm=60, size=20, beta=(1.0, -0.5, 0.0), seed=0):
    """Communities rank poorest first by a linear index plus Gumbel noise: the exploded logit exactly."""
    rng = np.random.default_rng(seed)
    n = n_comm * size
    X = pd.DataFrame(rng.normal(size=(n, len(beta))), columns=[f"x{j}" for j in range(len(beta))])
    community = np.repeat(np.arange(n_comm), size)
    index = X.to_numpy() @ np.asarray(beta)
    # u = -index + Gumbel is the "poorness" utility; the poorest is named first.
    perceived = index - rng.gumbel(size=n)
    rank = pd.Series(perceived).groupby(community).rank(method="first").to_numpy()
    return X, rank, community, index


def test_hybrid_recovers_known_weights_and_their_sign():
    X, rank, community, _ = simulate()
    pct = rank_percentiles(rank, community, poorer="low")
    model = CommunityRankHybrid(alpha=1e-4).fit(X, pct, community=community)
    coef = pd.Series(model.coef_, index=model.feature_names_out_)
    sd = X.std(ddof=0).to_numpy()  # the design standardises each indicator
    est = coef[["num__x0", "num__x1", "num__x2"]].to_numpy() / sd
    # Higher index = better off: x0 raises welfare, x1 lowers it, x2 does nothing. A reversed
    # objective (richest named first) would flip both signs.
    np.testing.assert_allclose(est, [1.0, -0.5, 0.0], atol=0.12)
    assert model.n_rankings_ == 60 and model.n_ranked_ == len(X)


def test_hybrid_reads_the_direction_from_the_percentiles():
    X, rank, community, index = simulate(seed=3)
    reversed_rank = 21 - rank  # the same order written "larger = poorer"
    pct = rank_percentiles(rank, community, poorer="low")
    a = CommunityRankHybrid(alpha=0.01).fit(X, pct, community=community)
    b = CommunityRankHybrid(alpha=0.01).fit(
        X, rank_percentiles(reversed_rank, community, poorer="high"), community=community
    )
    np.testing.assert_allclose(a.predict(X), b.predict(X))
    assert np.corrcoef(a.predict(X), index)[0, 1] > 0.9


def test_predict_needs_indicators_only_and_scores_unranked_communities():
    X, rank, community, index = simulate(n_comm=40, seed=4)
    train = community < 20
    pct = np.where(train, rank_percentiles(rank, community, poorer="low"), np.nan)
    model = CommunityRankHybrid().fit(X, pct, community=community)
    assert model.n_ranked_ == int(train.sum())
    score = model.predict(X[~train])
    assert np.corrcoef(score, index[~train])[0, 1] > 0.85
    assert model.alpha_ in model.cv_loglik_  # chosen by cross-validation over communities


def test_a_strong_penalty_keeps_the_prior_and_a_fitted_prior_can_be_frozen():
    X, rank, community, index = simulate(seed=5)
    pct = rank_percentiles(rank, community, poorer="low")
    welfare = index + np.random.default_rng(0).normal(0, 0.3, len(X))
    prior = LinearRegression().fit(X, welfare)
    strong = CommunityRankHybrid(prior=FrozenEstimator(prior), alpha=1e6).fit(X, pct, community=community)
    assert strong.prior_scale_ > 0  # the prior's welfare agrees with the ranks
    np.testing.assert_allclose(
        np.argsort(strong.predict(X)), np.argsort(prior.predict(X))
    )
    inside = CommunityRankHybrid(prior=LinearRegression(), alpha=1e6).fit(
        X, pct, community=community, welfare=welfare
    )
    np.testing.assert_allclose(inside.prior_.coef_, prior.coef_)


def test_categorical_indicators_missing_values_and_weights():
    X, rank, community, _ = simulate(seed=6)
    X = X.assign(kind=pd.Categorical(np.where(X["x2"] > 0, "a", "b")), x1=X["x1"].mask(X.index % 7 == 0))
    pct = rank_percentiles(rank, community, poorer="low")
    w = np.random.default_rng(1).random(len(X)) + 0.5
    model = CommunityRankHybrid(alpha=0.01).fit(X, pct, community=community, sample_weight=w)
    assert np.isfinite(model.predict(X)).all()
    assert {"cat__kind_a", "cat__kind_b", "num__missingindicator_x1"} <= set(model.feature_names_out_)


def test_contract_basics():
    X, rank, community, _ = simulate(n_comm=10, seed=7)
    model = CommunityRankHybrid(alpha=0.1)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(X)
    assert model.fit(X, rank, community=community) is model
    assert not hasattr(CommunityRankHybrid(), "coef_")
    with pytest.raises(ValueError, match="every rank is missing"):
        CommunityRankHybrid().fit(X, np.full(len(X), np.nan), community=community)
    with pytest.raises(ValueError, match="feature"):
        model.predict(X.iloc[:, :2])
