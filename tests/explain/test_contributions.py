"""Exact contributions: hand-worked OLS, every backend sums to its prediction, fast == plain path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.explain import ContributionEngine, fold_contributions, reference_contributions
from targeting.pmt import PMTRegressor

from .conftest import BACKENDS, Kukar


def test_hand_worked_ols() -> None:
    # y = 1 + 2 x1 − 3 x2 exactly; weighted means x1 = (0+1+0+2)/5 = 0.6, x2 = (0+0+2·1+1)/5 = 0.6
    X = pd.DataFrame({"x1": [0.0, 1.0, 0.0, 2.0], "x2": [0.0, 0.0, 1.0, 1.0]})
    w = np.array([1.0, 1.0, 2.0, 1.0])
    y = 1 + 2 * X["x1"] - 3 * X["x2"]
    model = PMTRegressor("ols", ridge_alpha=0.0, size_feature=None).fit(X, y, w)
    c = ContributionEngine(model).contributions(pd.DataFrame({"x1": [2.0, 0.0], "x2": [0.0, 1.0]}))
    # base = 1 + 2(0.6) − 3(0.6) = 0.4; household (2, 0): 2(2 − 0.6) = 2.8 and −3(0 − 0.6) = 1.8
    np.testing.assert_allclose(c.base, [0.4, 0.4], atol=1e-9)
    np.testing.assert_allclose(c.values, [[2.8, 1.8], [-1.2, -1.2]], atol=1e-9)
    np.testing.assert_allclose(c.prediction, [5.0, -2.0], atol=1e-9)
    assert c.indicators == ("x1", "x2")


def test_categorical_levels_fold_into_their_indicator() -> None:
    # floor effect: earth −0.5, tile +0.3 against cement (the most common level, the reference)
    floors = ["earth", "cement", "cement", "tile", "cement", "earth"]
    X = pd.DataFrame(
        {
            "floor": pd.Categorical(floors, categories=["earth", "cement", "tile"]),
            "area": [20.0, 40.0, 35.0, 60.0, 45.0, 25.0],
        }
    )
    effect = {"earth": -0.5, "cement": 0.0, "tile": 0.3}
    y = 10 + np.array([effect[f] for f in floors]) + 0.01 * X["area"]
    model = PMTRegressor("ols", ridge_alpha=0.0, size_feature=None, log_skewed=False).fit(X, y)
    new = pd.DataFrame(
        {
            "floor": pd.Categorical(["earth", "tile"], categories=["earth", "cement", "tile"]),
            "area": [30.0, 30.0],
        }
    )
    c = ContributionEngine(model).contributions(new)
    # one contribution per indicator: Σ over its dummies of coef (dummy − share) with shares
    # earth 2/6 and tile 1/6: earth household −0.5(1 − 1/3) + 0.3(0 − 1/6) = −0.38333...
    assert c.values.shape == (2, 2)
    np.testing.assert_allclose(c.values[:, 0], [-0.5 * (2 / 3) - 0.3 / 6, 0.5 / 3 + 0.3 * (5 / 6)], atol=1e-9)
    np.testing.assert_allclose(c.values[:, 1], 0.01 * (30 - 37.5), atol=1e-9)


def test_fold_contributions_sums_columns_of_one_indicator() -> None:
    values = np.array([[0.1, -0.2, 0.05], [0.0, 0.3, -0.1]])
    names = ["floor=earth", "area", "floor=tile"]
    indicators, folded = fold_contributions(values, names, {"floor=earth": "floor", "floor=tile": "floor"})
    assert indicators == ("floor", "area")
    np.testing.assert_allclose(folded, [[0.15, -0.2], [-0.1, 0.3]])
    np.testing.assert_allclose(folded.sum(1), values.sum(1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_sums_to_its_prediction(backend: str, kukar: Kukar, models: dict) -> None:
    model = models[backend]
    X = kukar.registry.features
    c = ContributionEngine(model).contributions(X)
    assert c.max_residual() < 1e-6
    np.testing.assert_allclose(c.prediction, model.predict(X), rtol=0, atol=1e-9)
    ref = reference_contributions(model, X)
    np.testing.assert_allclose(c.values, ref.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(c.base, ref.base, rtol=0, atol=1e-10)


def test_ensemble_is_the_weighted_sum_of_its_members(models: dict, kukar: Kukar) -> None:
    model = models["ensemble"]
    X = kukar.registry.features.iloc[:50]
    total = ContributionEngine(model).contributions(X)
    expected = np.zeros_like(total.values)
    M = model.schema_.to_matrix(X)
    for name, comp in model.components_.items():
        expected += model.weights_[name] * comp.contributions(M)[1]
    np.testing.assert_allclose(total.values, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("backend", ["lightgbm", "ensemble"])
def test_lightgbm_fallback_gives_the_same_numbers(backend: str, models: dict, kukar: Kukar) -> None:
    X = kukar.registry.features
    fast = ContributionEngine(models[backend], method="tables")
    slow = ContributionEngine(models[backend], method="lightgbm")
    assert (fast.method_, slow.method_) == ("tables", "lightgbm")
    np.testing.assert_allclose(fast.contributions(X).values, slow.contributions(X).values, atol=1e-10)


def test_auto_falls_back_when_trees_are_too_deep(models: dict, kukar: Kukar) -> None:
    engine = ContributionEngine(models["lightgbm"], max_bits=2)  # depth-3 trees need 3 bits
    assert engine.method_ == "lightgbm"
    with pytest.raises(ValueError, match="table limit"):
        ContributionEngine(models["lightgbm"], method="tables", max_bits=2)


def test_input_columns_are_checked_by_name(models: dict, kukar: Kukar) -> None:
    X = kukar.registry.features
    engine = ContributionEngine(models["lightgbm"])
    shuffled = X[list(reversed(X.columns))]
    np.testing.assert_array_equal(engine.contributions(shuffled).values, engine.contributions(X).values)
    with pytest.raises(ValueError, match="floor_material"):
        engine.contributions(X.drop(columns=["floor_material"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunk_rows=st.integers(1, 300),
    n_jobs=st.sampled_from([1, 2]),
    backend=st.sampled_from(["ols", "lightgbm", "ensemble"]),
    picks=st.lists(st.integers(0, 39), min_size=1, max_size=120),
)
def test_fast_path_is_exactly_the_plain_path(
    chunk_rows: int, n_jobs: int, backend: str, picks: list[int], models: dict, kukar: Kukar
) -> None:
    """Chunking, threads and duplicated rows never change a household's numbers (bit for bit)."""
    model = models[backend]
    X = kukar.registry.features.iloc[picks].reset_index(drop=True)  # repeats = duplicate rows
    plain = ContributionEngine(model, chunk_rows=10_000)
    M = plain.matrix(X)
    one = [plain.compute(M[i : i + 1]) for i in range(len(X))]
    fast = ContributionEngine(model, chunk_rows=chunk_rows, n_jobs=n_jobs).contributions(X)
    np.testing.assert_array_equal(fast.values, np.vstack([c.values for c in one]))
    np.testing.assert_array_equal(fast.prediction, np.concatenate([c.prediction for c in one]))
    np.testing.assert_array_equal(fast.base, np.concatenate([c.base for c in one]))
    # identical indicator vectors get identical explanations
    first = {p: i for i, p in reversed(list(enumerate(picks)))}
    for i, p in enumerate(picks):
        np.testing.assert_array_equal(fast.values[i], fast.values[first[p]])
