"""Global views on a hand case: weighted mean |contribution| overall and per kecamatan."""

from __future__ import annotations

import numpy as np
import pytest

from targeting.explain import ImportanceAccumulator, global_importance

VALUES = np.array([[0.2, -0.1], [-0.4, 0.0], [0.1, 0.3]])
WEIGHTS = np.array([1.0, 2.0, 1.0])
GROUPS = np.array(["tabang", "tenggarong", "tabang"], dtype=object)


def test_overall_hand_case() -> None:
    g = global_importance(VALUES, ["floor", "fridge"], sample_weight=WEIGHTS)
    # floor: (0.2 + 2·0.4 + 0.1) / 4 = 0.275; fridge: (0.1 + 0 + 0.3) / 4 = 0.1
    overall = g.overall.set_index("indicator")
    assert overall.loc["floor", "mean_abs_contribution"] == pytest.approx(0.275)
    assert overall.loc["fridge", "mean_abs_contribution"] == pytest.approx(0.1)
    # signed: floor (0.2 − 0.8 + 0.1) / 4 = −0.125
    assert overall.loc["floor", "mean_contribution"] == pytest.approx(-0.125)
    assert overall.loc["floor", "share"] == pytest.approx(0.275 / 0.375)
    assert g.overall["indicator"].tolist() == ["floor", "fridge"]
    assert g.overall["rank"].tolist() == [1, 2]
    assert g.by_group.empty


def test_per_group_hand_case() -> None:
    g = global_importance(VALUES, ["floor", "fridge"], sample_weight=WEIGHTS, groups=GROUPS)
    t = g.by_group.set_index(["group", "indicator"])
    # tabang: rows 0 and 2, weight 2: floor (0.2 + 0.1)/2, fridge (0.1 + 0.3)/2 -> fridge ranks first
    assert t.loc[("tabang", "floor"), "mean_abs_contribution"] == pytest.approx(0.15)
    assert t.loc[("tabang", "fridge"), "mean_abs_contribution"] == pytest.approx(0.2)
    assert t.loc[("tabang", "fridge"), "rank"] == 1
    assert t.loc[("tabang", "floor"), "weight"] == pytest.approx(2.0)
    assert t.loc[("tenggarong", "floor"), "mean_abs_contribution"] == pytest.approx(0.4)
    assert t.loc[("tenggarong", "fridge"), "mean_contribution"] == pytest.approx(0.0)
    assert sorted(g.by_group["group"].unique()) == ["tabang", "tenggarong"]


def test_chunked_accumulation_equals_one_pass() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 4))
    w = rng.random(500)
    groups = rng.choice(np.array(["a", "b", "c"], dtype=object), 500)
    whole = global_importance(values, list("pqrs"), sample_weight=w, groups=groups)
    acc = ImportanceAccumulator(list("pqrs"))
    for s in range(0, 500, 37):
        acc.add(values[s : s + 37], w[s : s + 37], groups[s : s + 37])
    parts = acc.result()
    np.testing.assert_allclose(parts.overall["mean_abs_contribution"], whole.overall["mean_abs_contribution"])
    np.testing.assert_allclose(
        parts.by_group["mean_abs_contribution"], whole.by_group["mean_abs_contribution"]
    )
    assert parts.to_dict()["overall"][0]["indicator"] == whole.overall["indicator"].iloc[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_weight": np.array([1.0, -1.0, 1.0])}, "non-negative"),
        ({"sample_weight": np.ones(2)}, "shape"),
        ({"groups": np.array(["a", None, "b"], dtype=object)}, "missing labels"),
    ],
)
def test_bad_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        global_importance(VALUES, ["floor", "fridge"], **kwargs)
