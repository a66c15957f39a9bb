"""The out-of-sample-by-community protocol: splits, leakage, metrics and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.audit.groups import MinCell
from targeting.community import consensus_percentile, rank_percentiles
from targeting.community.evaluation import (
    CommunityData,
    Method,
    Protocol,
    community_splits,
    default_methods,
    evaluate_community_targeting,
)

PROTO = Protocol(ks=(3, 6), n_repeats=3, n_eval=10, n_boot=40, seed=1)


def make_data(n_comm: int = 30, size: int = 16, seed: int = 0, unranked: int = 0) -> CommunityData:
    rng = np.random.default_rng(seed)
    n = n_comm * size
    unit = np.repeat(np.arange(n_comm), size)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    hidden = rng.normal(0, 0.5, n)
    village = rng.normal(0, 0.2, n_comm)[unit]
    log_welfare = 0.6 * X["x0"].to_numpy() - 0.3 * X["x1"].to_numpy() + hidden + village
    # Two informants: welfare, a need the indicators also show (x2), and their own noise.
    seen = [log_welfare - 0.4 * X["x2"].to_numpy() + rng.normal(0, 0.4, n) for _ in range(2)]
    ranks = np.column_stack([pd.Series(s).groupby(unit).rank().to_numpy() for s in seen])
    ranks[unit < unranked] = np.nan
    pct = rank_percentiles(ranks, unit, poorer="low")
    return CommunityData(
        name="toy",
        X=X,
        log_welfare=log_welfare,
        percentiles=pct,
        consensus=consensus_percentile(pct, unit),
        ranking=unit,
        unit=unit,
        weight=rng.uniform(0.5, 2.0, n),
        community_share=np.full(n, 0.25),
        evaluable=np.ones(n, bool),
        groups=pd.DataFrame({"big": X["x2"].to_numpy() > 0, "tiny": np.arange(n) < 20}),
    )


def test_splits_are_seeded_disjoint_and_nested():
    data = make_data(unranked=4)
    a, b = community_splits(data, PROTO), community_splits(data, PROTO)
    assert [s.evaluation.tolist() for s in a] == [s.evaluation.tolist() for s in b]
    for s in a:
        assert len(s.evaluation) == PROTO.n_eval
        assert not set(s.evaluation) & set(s.training)
        assert not set(s.rank_order) & set(s.evaluation)
        assert set(s.ranked(3)) <= set(s.ranked(6)) <= set(range(4, 30))  # only ranked communities lend ranks
        assert set(s.evaluation) <= set(range(4, 30))
        assert set(s.training) >= set(range(4)) - set(s.evaluation)  # unranked ones still train the PMT
    with pytest.raises(ValueError, match="protocol needs"):
        community_splits(data, Protocol(ks=(25,), n_eval=10))


def test_no_method_ever_trains_on_an_evaluation_community():
    data = make_data()
    calls = []

    def spy(train, ev):
        ranked = set(train.unit[train.ranked])
        calls.append((set(train.unit), ranked, set(ev.unit), hasattr(ev, "log_welfare")))
        return ev.X["x0"].to_numpy()

    methods = {"pmt": default_methods()["pmt"], "spy": Method("spy", "spy", spy)}
    result = evaluate_community_targeting(data, PROTO, methods=methods)
    assert len(calls) == PROTO.n_repeats * len(PROTO.ks)
    for (train_units, ranked_units, eval_units, sees_welfare), (split, k) in zip(
        calls, [(s, k) for s in result.splits for k in PROTO.ks], strict=True
    ):
        assert not train_units & eval_units
        assert ranked_units == set(split.ranked(k))
        assert not sees_welfare  # evaluation rows never carry measured welfare


def test_summary_matches_the_audit_metric_functions_and_the_bootstrap_is_paired():
    data = make_data()
    result = evaluate_community_targeting(data, PROTO)
    s, per = result.summary, result.per_repeat
    overall = per[per["group"] == ""]
    means = overall.groupby(["k", "method", "metric"])["value"].mean()
    merged = s.set_index(["k", "method", "metric"])["estimate"]
    np.testing.assert_allclose(merged.loc[means.index].to_numpy(), means.to_numpy(), atol=1e-12)
    cbt = s[(s.method == "cbt") & (s.metric == "community_recall")]
    assert (cbt.estimate == 1.0).all()  # the community's own selection, by construction
    base = s[s.method == "pmt"]
    assert (base.difference == 0).all() and (base.diff_ci_low == 0).all()
    ok = s.dropna(subset=["ci_low"])
    assert ((ok.ci_low <= ok.estimate + 1e-12) & (ok.estimate <= ok.ci_high + 1e-12)).mean() > 0.9
    rates = s[s.metric.str.contains("error|recall")]
    assert rates.estimate.between(0, 1).all()
    # Methods that ignore k give the same figure at every k.
    pmt = s[(s.method == "pmt") & (s.metric == "exclusion_error_20")]
    assert pmt.estimate.nunique() == 1
    wide = result.table(["community_recall", "exclusion_error_20"], k=3)
    assert wide.shape == (len(result.labels), 2)


def test_hybrid_beats_chance_against_the_community_and_groups_follow_min_cell():
    data = make_data(n_comm=30, size=20)
    rule = MinCell(households=50, poor=10, weighted_poor=0)
    result = evaluate_community_targeting(data, PROTO, min_cell=rule, group_columns=("big", "tiny"))
    s = result.summary.set_index(["k", "method", "metric"])["estimate"]
    assert s[(6, "hybrid", "community_recall")] > 0.25 + 0.2  # chance is the 25 % coverage
    g = result.groups
    tiny = g[g.group == "tiny"]
    assert (~tiny.reportable).all() and tiny.estimate.isna().all() and (tiny.note == "too_small").all()
    big = g[(g.group == "big") & (g.metric == "selected_share")]
    assert big.reportable.all() and big.estimate.between(0, 1).all()
