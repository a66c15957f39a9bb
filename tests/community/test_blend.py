"""The PMT + community blend: the rank only where a household has one; gamma out of fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from targeting.community import SOURCE_BLEND, SOURCE_MODEL, CommunityBlend, normal_score, rank_percentiles


def simulate(rank_noise: float, seed: int = 0, n_comm: int = 40, size: int = 25):
    """log welfare = indicators + a household effect the village sees (noisily) and the PMT cannot."""
    rng = np.random.default_rng(seed)
    n = n_comm * size
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
    community = np.repeat(np.arange(n_comm), size)
    hidden = rng.normal(0, 0.5, n)
    y = 0.8 * X["a"].to_numpy() - 0.3 * X["b"].to_numpy() + hidden
    seen = hidden + rng.normal(0, rank_noise, n)
    pct = rank_percentiles(seen, community, poorer="low")
    return X, y, pct, community


def test_rank_is_used_only_where_present():
    X, y, pct, community = simulate(0.3)
    ranked = np.where(community < 20, pct, np.nan)
    model = CommunityBlend(LinearRegression()).fit(X, y, rank=ranked, community=community)
    base = model.pmt_.predict(X)
    out = model.predict(X, rank=ranked)
    has = ~np.isnan(ranked)
    np.testing.assert_allclose(out[~has], base[~has])
    np.testing.assert_allclose(out[has], base[has] + model.gamma_ * normal_score(ranked[has]))
    np.testing.assert_allclose(model.predict(X), base)  # no ranks at all: the PMT
    assert set(model.sources(ranked)[has]) == {SOURCE_BLEND}
    assert set(model.sources(ranked)[~has]) == {SOURCE_MODEL}
    assert model.n_ranked_ == int(has.sum())


def test_gamma_reflects_what_the_rank_adds_beyond_the_indicators():
    X, y, pct, community = simulate(0.3)
    informative = CommunityBlend(LinearRegression()).fit(X, y, rank=pct, community=community)
    noise = np.random.default_rng(9).permutation(pct)  # ranks unrelated to anyone's welfare
    useless = CommunityBlend(LinearRegression()).fit(X, y, rank=noise, community=community)
    assert informative.gamma_ > 0.2
    assert abs(useless.gamma_) < 0.05
    # The blend then ranks closer to welfare than the PMT alone.
    blend, pmt = informative.predict(X, rank=pct), informative.pmt_.predict(X)
    assert np.corrcoef(blend, y)[0, 1] > np.corrcoef(pmt, y)[0, 1] + 0.05


class Recorder(LinearRegression):
    """A PMT that remembers which communities each fit saw (column `c` carries the community)."""

    seen: list[set[int]] = []

    def fit(self, X, y, sample_weight=None):
        Recorder.seen.append(set(np.asarray(X["c"]).astype(int)))
        return super().fit(X, y, sample_weight=sample_weight)


def test_gamma_uses_out_of_fold_predictions_from_whole_communities():
    X, y, pct, community = simulate(0.3, n_comm=10)
    X = X.assign(c=community)
    Recorder.seen = []
    CommunityBlend(Recorder(), cv=5).fit(X, y, rank=pct, community=community)
    full, *folds = Recorder.seen
    assert full == set(range(10))
    assert len(folds) == 5
    held_out = [set(range(10)) - f for f in folds]
    assert all(len(h) == 2 for h in held_out)  # each fold holds whole communities out
    assert set().union(*held_out) == set(range(10))


def test_blend_errors():
    X, y, pct, community = simulate(0.3, n_comm=4)
    with pytest.raises(ValueError, match="community"):
        CommunityBlend(LinearRegression()).fit(X, y, rank=pct)
    model = CommunityBlend(LinearRegression()).fit(X, y)
    assert model.gamma_ == 0.0 and model.n_ranked_ == 0
