"""Pattern-table TreeSHAP against LightGBM's pred_contrib, shap.TreeExplainer and a brute-force oracle."""

from __future__ import annotations

from itertools import combinations
from math import factorial

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.explain import UntabulableModelError, compile_boosters
from targeting.explain._treeshap import ParsedTree, compile_trees

TOL = 1e-12


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 3] = rng.integers(0, 12, n)  # categorical codes
    X[:, 4] = np.where(rng.random(n) < 0.3, 0.0, X[:, 4])  # many exact zeros
    X[rng.random(n) < 0.1, 1] = np.nan
    X[rng.random(n) < 0.05, 3] = np.nan
    y = X[:, 0] + np.nan_to_num(X[:, 1]) + (np.nan_to_num(X[:, 3]) % 3 == 2) + X[:, 4] + rng.normal(size=n)
    return X, y


def _test_rows(seed: int) -> np.ndarray:
    X, _ = _data(400, seed)
    X[:, 3] = np.random.default_rng(seed).integers(-1, 15, 400)
    # LightGBM's categorical edge cases: fractions truncate, negatives and NaN go right,
    # codes past the bitset go right.
    X[:8, 3] = [0.5, -0.5, 13.7, 100.0, 1e9, -3.0, np.nan, 2.0]
    X[8:12, 4] = [0.0, -0.0, 1e-36, np.nan]
    return X


def _booster(params: dict, rounds: int = 25, seed: int = 0) -> lgb.Booster:
    X, y = _data(1500, seed)
    base = {
        "objective": "regression",
        "verbosity": -1,
        "max_cat_to_onehot": 2,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "deterministic": True,
        "num_threads": 1,
        "seed": seed,
    }
    return lgb.train(base | params, lgb.Dataset(X, y, categorical_feature=[3]), rounds)


SHAPES = {
    "depth2": {"num_leaves": 4, "max_depth": 2},
    "depth3": {"num_leaves": 8, "max_depth": 3},
    "depth4_two_tables_per_tree": {"num_leaves": 15, "max_depth": 4},
    "zero_as_missing": {"num_leaves": 8, "max_depth": 3, "zero_as_missing": True},
    "missing_none": {"num_leaves": 6, "max_depth": 3, "use_missing": False},
    "onehot_categorical": {"num_leaves": 8, "max_depth": 3, "max_cat_to_onehot": 32},
    "bagged": {"num_leaves": 8, "max_depth": 3, "bagging_fraction": 0.7, "bagging_freq": 1},
    "quantile": {"num_leaves": 8, "max_depth": 3, "objective": "quantile", "alpha": 0.3},
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_tables_equal_lightgbm_pred_contrib(shape: str) -> None:
    booster = _booster(SHAPES[shape])
    tables = compile_boosters([(booster.model_to_string(), 1.0)])
    X = _test_rows(1)
    pred, contrib = tables.predict_contrib(X)
    ref = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib, ref[:, :-1], rtol=0, atol=TOL)
    np.testing.assert_allclose(np.full(len(X), tables.base_value), ref[:, -1], rtol=0, atol=TOL)
    np.testing.assert_allclose(pred, booster.predict(X), rtol=0, atol=TOL)


def test_weighted_boosters_compile_into_one_table_set() -> None:
    a, b = _booster(SHAPES["depth3"], seed=0), _booster(SHAPES["quantile"], seed=1)
    tables = compile_boosters([(a.model_to_string(), 0.7), (b.model_to_string(), 0.4)])
    X = _test_rows(2)
    pred, contrib = tables.predict_contrib(X)
    ref = 0.7 * a.predict(X, pred_contrib=True) + 0.4 * b.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib, ref[:, :-1], rtol=0, atol=TOL)
    assert tables.base_value == pytest.approx(ref[0, -1], abs=TOL)
    np.testing.assert_allclose(pred, 0.7 * a.predict(X) + 0.4 * b.predict(X), rtol=0, atol=TOL)
    # split rules shared by both boosters are evaluated once
    assert len(tables.nodes) < sum(g.nodes.size for g in tables.groups)


def test_agrees_with_shap_tree_explainer() -> None:
    shap = pytest.importorskip("shap")
    booster = _booster(SHAPES["depth3"])
    X = _test_rows(3)
    X[:, 3] = np.where(np.isnan(X[:, 3]), np.nan, np.clip(np.trunc(X[:, 3]), 0, 11))
    _, contrib = compile_boosters([(booster.model_to_string(), 1.0)]).predict_contrib(X)
    explainer = shap.TreeExplainer(booster)
    np.testing.assert_allclose(contrib, explainer.shap_values(X), rtol=0, atol=1e-10)


def test_too_deep_trees_are_refused() -> None:
    booster = _booster({"num_leaves": 31, "max_depth": -1, "min_data_in_leaf": 5}, rounds=5)
    with pytest.raises(UntabulableModelError, match="exceeds the table limit"):
        compile_boosters([(booster.model_to_string(), 1.0)], max_bits=4)


def test_single_leaf_trees_are_constants() -> None:
    # min_data_in_leaf above half the data: no split is possible, every tree is one leaf.
    booster = _booster({"num_leaves": 4, "min_data_in_leaf": 1000}, rounds=3)
    tables = compile_boosters([(booster.model_to_string(), 1.0)])
    X = _test_rows(4)
    pred, contrib = tables.predict_contrib(X)
    assert np.all(contrib == 0.0)
    np.testing.assert_allclose(pred, booster.predict(X), rtol=0, atol=TOL)
    np.testing.assert_allclose(pred, tables.base_value, rtol=0, atol=TOL)


@pytest.fixture(scope="module")
def table_sets() -> dict[str, object]:
    sets = {shape: compile_boosters([(_booster(params).model_to_string(), 1.0)])
            for shape, params in SHAPES.items()}
    sets["weighted"] = compile_boosters([(_booster(SHAPES["depth3"], seed=0).model_to_string(), 0.7),
                                         (_booster(SHAPES["quantile"], seed=1).model_to_string(), 0.4)])
    sets["single_leaf"] = compile_boosters(
        [(_booster({"num_leaves": 4, "min_data_in_leaf": 1000}, rounds=3).model_to_string(), 1.0)])
    return sets


def _group_by_group(tables, X):
    """The tables read with numpy, group by group (the loop the compiled reader replaced): the oracle."""
    n = X.shape[0]
    decisions = tables.decisions(X)
    contrib_t, pred = np.zeros((tables.n_features, n)), np.zeros(n)
    for g in tables.groups:
        pattern = np.zeros(n, dtype=np.intp)
        for i, node in enumerate(g.nodes):
            pattern |= decisions[node].astype(np.intp) << i
        for k, f in enumerate(g.features):
            contrib_t[f] += g.values[k].take(pattern)
        pred += g.prediction.take(pattern)
    return pred, contrib_t


@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([*SHAPES, "weighted", "single_leaf"]), seed=st.integers(0, 2**32 - 1),
       size=st.sampled_from([1, 2, 7, 64, 400]))  # 400: every row, shuffled
def test_the_compiled_reader_sums_as_the_group_loop_to_the_last_bit(table_sets, shape: str, seed: int,
                                                                     size: int) -> None:
    """Any rows (a request's one, a registry chunk's many) get the group-by-group loop's sums exactly."""
    tables = table_sets[shape]
    X = _test_rows(5)
    pred, contrib_t = tables.predict_contrib_t(X)
    oracle_pred, oracle_t = _group_by_group(tables, X)
    np.testing.assert_array_equal(pred, oracle_pred)
    np.testing.assert_array_equal(contrib_t, oracle_t)
    rows = np.random.default_rng(seed).choice(len(X), size=size, replace=False)
    few_pred, few_t = tables.predict_contrib_t(X[rows])
    np.testing.assert_array_equal(few_pred, pred[rows])
    np.testing.assert_array_equal(few_t, contrib_t[:, rows])
    np.testing.assert_array_equal(tables.predict(X[rows]), pred[rows])


def test_table_reads_do_not_depend_on_the_block_of_rows(table_sets, monkeypatch) -> None:
    from targeting.explain import _treeshap

    X = _test_rows(6)
    for tables in table_sets.values():
        pred, contrib_t = tables.predict_contrib_t(X)
        monkeypatch.setattr(_treeshap, "TABLE_BLOCK", 7)
        block_pred, block_t = tables.predict_contrib_t(X)
        np.testing.assert_array_equal(block_pred, pred)
        np.testing.assert_array_equal(block_t, contrib_t)
        monkeypatch.undo()


def test_decisions_do_not_depend_on_the_block_of_rows(table_sets, monkeypatch) -> None:
    """Split decisions are made a block of rows at a time; a block boundary changes nothing."""
    from targeting.explain import _treeshap

    X = _test_rows(6)
    for tables in table_sets.values():
        whole = tables.decisions(X)
        monkeypatch.setattr(_treeshap, "DECISION_BLOCK", 7)
        np.testing.assert_array_equal(tables.decisions(X), whole)
        monkeypatch.undo()


# ---- an independent oracle: Shapley values of the path-dependent game by enumeration --------------


def _random_tree(rng: np.random.Generator, n_features: int, max_depth: int) -> ParsedTree:
    """A random numeric tree with consistent training counts (LightGBM's array layout)."""
    split_feature: list[int] = []
    threshold: list[float] = []
    decision_type: list[int] = []
    left: list[int] = []
    right: list[int] = []
    leaf_value: list[float] = []
    leaf_count: list[float] = []
    internal_count: list[float] = []

    def build(depth: int, count: int) -> int:
        if depth == max_depth or count < 2 or (depth > 0 and rng.random() < 0.25):
            leaf_value.append(float(rng.normal()))
            leaf_count.append(float(count))
            return ~(len(leaf_value) - 1)
        node = len(split_feature)
        split_feature.append(int(rng.integers(n_features)))
        threshold.append(float(rng.normal()))
        decision_type.append(int(rng.choice([2, 8, 10])))  # None/default-left, NaN left, NaN right
        left.append(0)
        right.append(0)
        internal_count.append(float(count))
        n_left = int(rng.integers(1, count))
        left[node] = build(depth + 1, n_left)
        right[node] = build(depth + 1, count - n_left)
        return node

    root = build(0, int(rng.integers(20, 200)))
    assert root == 0 or not split_feature
    ints = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    return ParsedTree(
        ints(split_feature),
        np.array(threshold),
        ints(decision_type),
        ints(left),
        ints(right),
        np.array(leaf_value),
        np.array(leaf_count),
        np.array(internal_count),
        np.zeros(1, np.int64),
        np.empty(0, np.uint32),
    )


def _goes_left(tree: ParsedTree, node: int, x: np.ndarray) -> bool:
    v = x[tree.split_feature[node]]
    dt = tree.decision_type[node]
    missing = (dt >> 2) & 3
    if np.isnan(v):
        if missing == 2:
            return bool(dt & 2)
        v = 0.0
    return bool(v <= tree.threshold[node])


def _value(tree: ParsedTree, x: np.ndarray, S: frozenset[int], node: int = 0) -> float:
    """E[f(x) | x_S] by Algorithm 1 of Lundberg et al. (the game TreeSHAP solves)."""
    if tree.split_feature.size == 0:
        return float(tree.leaf_value[0])
    if node < 0:
        return float(tree.leaf_value[~node])
    lc, rc = int(tree.left_child[node]), int(tree.right_child[node])
    if int(tree.split_feature[node]) in S:
        return _value(tree, x, S, lc if _goes_left(tree, node, x) else rc)

    def count(c: int) -> float:
        return float(tree.leaf_count[~c] if c < 0 else tree.internal_count[c])

    total = count(node)
    return (count(lc) * _value(tree, x, S, lc) + count(rc) * _value(tree, x, S, rc)) / total


def _shapley(tree: ParsedTree, x: np.ndarray, n_features: int) -> np.ndarray:
    phi = np.zeros(n_features)
    for j in range(n_features):
        others = [k for k in range(n_features) if k != j]
        for size in range(n_features):
            w = factorial(size) * factorial(n_features - size - 1) / factorial(n_features)
            for S in combinations(others, size):
                s = frozenset(S)
                phi[j] += w * (_value(tree, x, s | {j}) - _value(tree, x, s))
    return phi


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4))
def test_tables_equal_brute_force_shapley_values(seed: int, depth: int) -> None:
    rng = np.random.default_rng(seed)
    n_features = 3  # few features, so features repeat along paths
    trees = [_random_tree(rng, n_features, depth) for _ in range(2)]
    X = rng.normal(size=(6, n_features))
    X[rng.random(X.shape) < 0.2] = np.nan
    tables = compile_trees([(trees, 1.0)], n_features, max_bits=6)
    pred, contrib = tables.predict_contrib(X)
    for i, x in enumerate(X):
        expected = sum(_shapley(t, x, n_features) for t in trees)
        np.testing.assert_allclose(contrib[i], expected, rtol=0, atol=1e-12)
        assert pred[i] == pytest.approx(
            sum(_value(t, x, frozenset(range(n_features))) for t in trees), abs=1e-12
        )
    assert tables.base_value == pytest.approx(sum(_value(t, X[0], frozenset()) for t in trees), abs=1e-12)


def _left_oracle(node, x: float) -> bool:
    """LightGBM's decision for one value (include/LightGBM/tree.h), written out plainly."""
    import math

    if node.categorical:
        if math.isnan(x) or x <= -1.0:
            return False  # NaN and negative categories go right
        code = math.trunc(min(x, 2.0**31 - 2))  # values in (-1, 0) are category 0
        return code in node.left_categories
    if node.zero_left is not None and -1e-35 <= x <= 1e-35:
        return node.zero_left
    if math.isnan(x):
        return node.nan_left
    return x <= node.threshold


_HOSTILE = [np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30, -0.5, -1.0, -1.5, 0.99, 1.0, 2.0, 2.5, 3.0, 7.0, 63.0,
            64.0, 1e10, np.inf, -np.inf, 0.30000000000000004, 0.3]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_decisions_equal_lightgbms_rules_value_by_value(data) -> None:
    from targeting.explain._treeshap import SplitNode, TreeTables

    nodes = []
    for _ in range(data.draw(st.integers(1, 8))):
        if data.draw(st.booleans()):
            left = tuple(sorted(data.draw(st.sets(st.integers(0, 70), max_size=6))))
            nodes.append(SplitNode(feature=data.draw(st.integers(0, 2)), categorical=True, threshold=0.0,
                                   left_categories=left, nan_left=False, zero_left=None))
        else:
            nodes.append(SplitNode(feature=data.draw(st.integers(0, 2)), categorical=False,
                                   threshold=data.draw(st.sampled_from([0.0, 0.3, 1.0, -1.0, 2.5, 1e-35])),
                                   left_categories=(), nan_left=data.draw(st.booleans()),
                                   zero_left=data.draw(st.sampled_from([None, True, False]))))
    tables = TreeTables(n_features=3, base_value=0.0, nodes=tuple(nodes), groups=())
    n = data.draw(st.integers(0, 2100))  # more than one block of rows
    M = np.asarray(data.draw(st.lists(st.sampled_from(_HOSTILE), min_size=3 * n, max_size=3 * n)),
                   dtype=np.float64).reshape(n, 3)
    got = tables.decisions(M)
    expected = np.array([[_left_oracle(node, M[i, node.feature]) for i in range(n)] for node in nodes],
                        dtype=np.uint8).reshape(len(nodes), n)
    np.testing.assert_array_equal(got, expected)
