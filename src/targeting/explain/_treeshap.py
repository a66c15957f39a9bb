"""Exact TreeSHAP for LightGBM boosters by pattern tables: the same numbers, many times faster.

LightGBM's ``pred_contrib`` (and ``shap.TreeExplainer``, which calls the same algorithm) walks every
tree for every row with the path-dependent TreeSHAP recursion, costing O(leaves x depth²) per tree
and row. For shallow trees there is an exactly equivalent and much cheaper route:

* Per tree, path-dependent TreeSHAP computes the Shapley values of the game
  ``v(S) = Σ_leaves value_l Π_{j on the leaf's path} (a_lj if j in S else c_lj)`` where ``a_lj`` is
  1 when the row satisfies every split on feature ``j`` along the path (else 0) and ``c_lj`` is the
  product of the training-count fractions of those splits (LightGBM's ``internal_count`` /
  ``leaf_count``). Such a leaf game is a product game, whose Shapley values have the closed form
  ``φ_j = value_l (a_lj − c_lj) Σ_s s!(m−1−s)!/m! e_s`` with ``e_s`` the coefficient of ``z^s`` in
  ``Π_{k≠j} (c_lk + a_lk z)``.
* A row's ``a`` values depend only on its left/right decision at the tree's split nodes. For a
  group of leaves whose paths use at most ``max_bits`` split nodes, every possible decision pattern
  (``2^bits`` of them) is tabulated once per model: the group's contribution to each feature and to
  the prediction. Scoring and explaining a row is then one comparison per split node, a pattern
  index and a table look-up per feature of the group: O(nodes + features) per tree instead of
  O(leaves x depth²), vectorised over rows.

The tables reproduce LightGBM's decisions exactly (numeric ``<=`` thresholds with the three missing
value types and default directions, categorical bitsets; see ``include/LightGBM/tree.h``), and the
results agree with ``pred_contrib`` to floating-point rounding (~1e-15 per tree). Predictions are
raw scores, which for the PMT's regression and quantile objectives are the predictions. A leaf
deeper than ``max_bits`` split nodes makes :func:`compile_boosters` raise
:class:`UntabulableModelError`; :class:`targeting.explain.ContributionEngine` then falls back to
``pred_contrib`` (31-leaf leaf-wise trees reach 15+ splits: 2^15-row tables cost more than they save).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from math import factorial
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Largest number of split nodes one table is keyed by (2^bits rows per table).
MAX_TABLE_BITS = 10
#: LightGBM's kZeroThreshold: |x| <= this counts as zero for ``missing_type=Zero``.
ZERO_THRESHOLD = 1e-35

_CATEGORICAL_MASK = 1
_DEFAULT_LEFT_MASK = 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2


class UntabulableModelError(ValueError):
    """The booster has trees too deep (or of a kind) that pattern tables do not cover."""


@dataclass(frozen=True)
class ParsedTree:
    """One tree of a LightGBM text model (the fields TreeSHAP needs)."""

    split_feature: IntArray
    threshold: FloatArray
    decision_type: IntArray
    left_child: IntArray
    right_child: IntArray
    leaf_value: FloatArray
    leaf_count: FloatArray
    internal_count: FloatArray
    cat_boundaries: IntArray
    cat_threshold: npt.NDArray[np.uint32]

    @property
    def n_nodes(self) -> int:
        return int(self.split_feature.size)

    def expected_value(self) -> float:
        """The tree's mean output under its training counts (LightGBM's ``ExpectedValue``)."""
        if self.n_nodes == 0:
            return float(self.leaf_value[0])
        total = self.internal_count[0]
        out = 0.0
        for v, c in zip(self.leaf_value, self.leaf_count, strict=True):
            out += (c / total) * v
        return out

    def left_categories(self, node: int) -> IntArray:
        """Category codes sent left by a categorical split node."""
        cat_idx = int(self.threshold[node])
        words = self.cat_threshold[self.cat_boundaries[cat_idx] : self.cat_boundaries[cat_idx + 1]]
        bits = np.unpackbits(words.astype("<u4").view(np.uint8), bitorder="little")
        return np.flatnonzero(bits).astype(np.int64)


def parse_model_text(text: str) -> tuple[list[ParsedTree], int]:
    """Trees and number of input features of a LightGBM text model (``model_to_string``)."""
    header, _, rest = text.partition("\nTree=")
    head = _key_values(header)
    if int(head.get("num_tree_per_iteration", "1")) != 1:
        raise UntabulableModelError("multi-class boosters are not supported")
    if "average_output" in header.split():
        raise UntabulableModelError("random-forest (average_output) boosters are not supported")
    n_features = int(head["max_feature_idx"]) + 1
    body = rest.split("\nend of trees")[0]
    trees = []
    for block in ("Tree=" + body).split("\nTree="):
        kv = _key_values(block)
        if kv.get("is_linear", "0") != "0":
            raise UntabulableModelError("linear trees are not supported")
        n_leaves = int(kv["num_leaves"])
        if n_leaves == 1:
            empty = np.empty(0, dtype=np.int64)
            trees.append(
                ParsedTree(
                    empty, np.empty(0), empty, empty, empty,
                    _floats(kv["leaf_value"]), np.ones(1), np.empty(0), empty,
                    np.empty(0, dtype=np.uint32),
                )
            )
            continue
        num_cat = int(kv.get("num_cat", "0"))
        trees.append(
            ParsedTree(
                split_feature=_ints(kv["split_feature"]),
                threshold=_floats(kv["threshold"]),
                decision_type=_ints(kv["decision_type"]),
                left_child=_ints(kv["left_child"]),
                right_child=_ints(kv["right_child"]),
                leaf_value=_floats(kv["leaf_value"]),
                leaf_count=_floats(kv["leaf_count"]),
                internal_count=_floats(kv["internal_count"]),
                cat_boundaries=_ints(kv["cat_boundaries"]) if num_cat else np.zeros(1, np.int64),
                cat_threshold=(
                    np.array(kv["cat_threshold"].split(), dtype=np.uint64).astype(np.uint32)
                    if num_cat
                    else np.empty(0, dtype=np.uint32)
                ),
            )
        )
    return trees, n_features


def _key_values(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _ints(s: str) -> IntArray:
    return np.array(s.split(), dtype=np.int64)


def _floats(s: str) -> FloatArray:
    return np.array(s.split(), dtype=np.float64)


# ---- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitNode:
    """One split node's decision rule, shared by every table that reads it."""

    feature: int
    categorical: bool
    threshold: float
    left_categories: tuple[int, ...]
    nan_left: bool
    zero_left: bool | None  # missing_type=Zero: where exact zeros go; None otherwise


@dataclass(frozen=True)
class GroupTable:
    """Exact contributions of a group of leaves, for every decision pattern of its split nodes.

    ``nodes[i]`` indexes :attr:`TreeTables.nodes`; bit ``i`` of a row's pattern is 1 when the row
    goes left at that node. ``values[k, pattern]`` is the contribution to ``features[k]``;
    ``prediction[pattern]`` the group's share of the tree output.
    """

    nodes: IntArray
    features: IntArray
    values: FloatArray
    prediction: FloatArray


@dataclass(frozen=True)
class TreeTables:
    """Boosters compiled into pattern tables (see the module docstring).

    Attributes
    ----------
    n_features : input features (columns of the matrix the boosters read).
    base_value : expected output (sum of the trees' ``ExpectedValue``, times each booster's weight).
    nodes : distinct split rules; trees that split on the same rule share one decision.
    groups : one table per group of leaves.
    """

    n_features: int
    base_value: float
    nodes: tuple[SplitNode, ...]
    groups: tuple[GroupTable, ...]

    @property
    def table_bytes(self) -> int:
        """Memory held by the tables."""
        return sum(g.values.nbytes + g.prediction.nbytes for g in self.groups)

    def predict_contrib(self, M: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(prediction, contrib)`` for the rows of ``M``; the base value is :attr:`base_value`.

        ``contrib`` has shape ``(n, n_features)`` (C order); ``base_value + contrib.sum(1)`` equals
        ``prediction`` to rounding, and both equal LightGBM's ``predict`` / ``pred_contrib``.
        """
        pred, contrib_t = self.predict_contrib_t(M)
        return pred, np.ascontiguousarray(contrib_t.T)

    def predict_contrib_t(self, M: FloatArray) -> tuple[FloatArray, FloatArray]:
        """As :meth:`predict_contrib`, the contributions as features x rows (no transposing copy)."""
        return self._tables(M, contributions=True)

    def predict(self, M: FloatArray) -> FloatArray:
        """The boosters' (weighted) raw prediction alone: one table read per group of leaves."""
        return self._tables(M, contributions=False)[0]

    def _tables(self, M: FloatArray, *, contributions: bool) -> tuple[FloatArray, FloatArray]:
        """Every group's table read for every row's pattern, in one compiled pass (`tables_into`)."""
        from targeting.explain._treeshap_kernels import tables_into

        n = M.shape[0]
        decisions = self.decisions(M)
        flat = self._flat
        pred = np.zeros(n)
        contrib_t = np.zeros((self.n_features, n) if contributions else (0, 0))
        tables_into(decisions, flat.group_nodes, flat.group_size, flat.prediction, flat.prediction_start,
                    flat.values, flat.entry_bounds, flat.entry_feature, flat.entry_start, pred, contrib_t,
                    contributions, TABLE_BLOCK)
        return pred, contrib_t

    @cached_property
    def _flat(self) -> _FlatTables:
        return _FlatTables.of(self)

    def decisions(self, M: FloatArray) -> npt.NDArray[np.uint8]:
        """Left (1) / right (0) decision of every row at every split node: shape (nodes, rows).

        Compiled (:func:`targeting.explain._treeshap_kernels.decide_into`): each (row, node) decided
        once, a block of rows at a time (bounded memory for a registry, no per-node Python loop).
        """
        from targeting.explain._treeshap_kernels import decide_into

        M = np.ascontiguousarray(M, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got {M.shape}")
        out = np.empty((len(self.nodes), M.shape[0]), dtype=np.uint8)
        r = self._rules
        decide_into(M, out, r.categorical, r.feature, r.threshold, r.nan_left, r.zero_rule, r.zero_left,
                    ZERO_THRESHOLD, r.lut_row, r.lut, DECISION_BLOCK)
        return out

    @cached_property
    def _rules(self) -> _SplitRules:
        return _SplitRules.of(self.nodes)


#: Rows per block when deciding every split node at once (`TreeTables.decisions`).
DECISION_BLOCK = 1024
#: Rows per block when reading the tables (`TreeTables._tables`): their contributions stay in cache.
TABLE_BLOCK = 512


@dataclass(frozen=True)
class _SplitRules:
    """The split nodes' rules as arrays, one entry per node (what the compiled decisions read).

    Categorical nodes' look-up tables are rows of ``lut`` (``lut_row[node]``), padded on the right
    with "right" (as past the bitset); a numeric node's ``lut_row`` is unused.
    """

    categorical: BoolArray
    feature: npt.NDArray[np.intp]
    threshold: FloatArray
    nan_left: BoolArray
    zero_rule: BoolArray
    zero_left: BoolArray
    lut_row: npt.NDArray[np.intp]
    lut: BoolArray

    @classmethod
    def of(cls, nodes: Sequence[SplitNode]) -> _SplitRules:
        cat = [k for k, node in enumerate(nodes) if node.categorical]
        luts = [_category_lut(nodes[k].left_categories) for k in cat]
        lut = np.zeros((max(len(cat), 1), max((t.size for t in luts), default=1)), dtype=bool)
        for i, t in enumerate(luts):
            lut[i, : t.size] = t
        lut_row = np.zeros(len(nodes), dtype=np.intp)
        lut_row[cat] = np.arange(len(cat))
        return cls(
            categorical=np.asarray([node.categorical for node in nodes], dtype=bool),
            feature=np.asarray([node.feature for node in nodes], dtype=np.intp),
            threshold=np.asarray([node.threshold for node in nodes], dtype=np.float64),
            nan_left=np.asarray([node.nan_left for node in nodes], dtype=bool),
            zero_rule=np.asarray([node.zero_left is not None for node in nodes], dtype=bool),
            zero_left=np.asarray([bool(node.zero_left) for node in nodes], dtype=bool),
            lut_row=lut_row,
            lut=lut,
        )



@dataclass(frozen=True)
class _FlatTables:
    """Every group's tables in one array each, for the compiled reader (`tables_into`).

    ``group_nodes[g, i]`` (``i < group_size[g]``) is group ``g``'s ``i``-th split node. Entries
    ``entry_bounds[g]`` to ``entry_bounds[g + 1]`` are group ``g``'s features in order: entry ``e`` is
    feature ``entry_feature[e]``, whose table for each pattern starts at ``values[entry_start[e]]``;
    the groups' predictions start at ``prediction[prediction_start[g]]``.
    """

    group_nodes: npt.NDArray[np.intp]
    group_size: npt.NDArray[np.intp]
    prediction: FloatArray
    prediction_start: npt.NDArray[np.intp]
    values: FloatArray
    entry_bounds: npt.NDArray[np.intp]
    entry_feature: npt.NDArray[np.intp]
    entry_start: npt.NDArray[np.intp]

    @classmethod
    def of(cls, tables: TreeTables) -> _FlatTables:
        groups = tables.groups
        bits = max((g.nodes.size for g in groups), default=0)
        group_nodes = np.zeros((len(groups), max(bits, 1)), dtype=np.intp)
        for i, g in enumerate(groups):
            group_nodes[i, : g.nodes.size] = g.nodes
        rows = [row for g in groups for row in g.values[: g.features.size]]
        return cls(
            group_nodes=group_nodes,
            group_size=np.asarray([g.nodes.size for g in groups], dtype=np.intp),
            prediction=np.concatenate([g.prediction for g in groups]) if groups else np.zeros(0),
            prediction_start=_starts([g.prediction.size for g in groups]),
            values=np.concatenate(rows) if rows else np.zeros(0),
            entry_bounds=np.concatenate([[0], np.cumsum([g.features.size for g in groups])]).astype(np.intp),
            entry_feature=np.asarray([f for g in groups for f in g.features], dtype=np.intp),
            entry_start=_starts([row.size for row in rows]),
        )


def _starts(sizes: Sequence[int]) -> npt.NDArray[np.intp]:
    """Where each of consecutive blocks of these sizes starts."""
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.intp)[:-1]]).astype(np.intp) if sizes else \
        np.zeros(0, dtype=np.intp)


def _category_lut(left: tuple[int, ...]) -> BoolArray:
    """Look-up over slots (code + 1); the last slot catches every code past the bitset (right)."""
    size = (max(left) + 1 if left else 0) + 2
    lut = np.zeros(size, dtype=bool)
    lut[np.asarray(left, dtype=np.int64) + 1] = True
    return lut


def _shapley_weights(m: int) -> FloatArray:
    """w[s] = s!(m−1−s)!/m! for s = 0..m−1."""
    return np.array([factorial(s) * factorial(m - 1 - s) / factorial(m) for s in range(m)])


def _leaf_paths(tree: ParsedTree) -> list[list[tuple[int, bool]]]:
    """(node, goes left) along the path to each leaf, indexed by leaf."""
    paths: list[list[tuple[int, bool]]] = [[] for _ in range(tree.leaf_value.size)]
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        for child, left in ((tree.left_child[node], True), (tree.right_child[node], False)):
            step = [*path, (node, left)]
            if child < 0:
                paths[~int(child)] = step
            else:
                stack.append((int(child), step))
    return paths


def _count(tree: ParsedTree, child: int) -> float:
    return float(tree.leaf_count[~child] if child < 0 else tree.internal_count[child])


def _group_leaves(paths: list[list[tuple[int, bool]]], order: list[int], max_bits: int) -> list[list[int]]:
    groups: list[list[int]] = []
    current: list[int] = []
    nodes: set[int] = set()
    for leaf in order:
        leaf_nodes = {n for n, _ in paths[leaf]}
        if len(leaf_nodes) > max_bits:
            raise UntabulableModelError(
                f"a leaf {len(leaf_nodes)} splits deep exceeds the table limit of {max_bits}"
            )
        if current and len(nodes | leaf_nodes) > max_bits:
            groups.append(current)
            current, nodes = [], set()
        current.append(leaf)
        nodes |= leaf_nodes
    if current:
        groups.append(current)
    return groups


def _tabulate_group(
    tree: ParsedTree,
    paths: list[list[tuple[int, bool]]],
    leaves: list[int],
    global_node: dict[int, int],
) -> GroupTable:
    local_nodes = sorted({n for leaf in leaves for n, _ in paths[leaf]})
    bit_of = {n: i for i, n in enumerate(local_nodes)}
    features = sorted({int(tree.split_feature[n]) for n in local_nodes})
    col_of = {f: k for k, f in enumerate(features)}
    n_patterns = 1 << len(local_nodes)
    bits = (np.arange(n_patterns)[:, None] >> np.arange(len(local_nodes))[None, :]) & 1
    values = np.zeros((len(features), n_patterns))
    prediction = np.zeros(n_patterns)
    for leaf in leaves:
        value = float(tree.leaf_value[leaf])
        # per unique feature on the path: a (pattern-dependent 0/1) and c (count fraction)
        feats: list[int] = []
        a_cols: list[npt.NDArray[np.int64]] = []
        c_vals: list[float] = []
        for node, left in paths[leaf]:
            f = int(tree.split_feature[node])
            child = int(tree.left_child[node] if left else tree.right_child[node])
            frac = _count(tree, child) / _count(tree, node)
            follows = bits[:, bit_of[node]] == (1 if left else 0)
            if f in feats:
                i = feats.index(f)
                a_cols[i] = a_cols[i] & follows
                c_vals[i] *= frac
            else:
                feats.append(f)
                a_cols.append(follows.astype(np.int64))
                c_vals.append(frac)
        a = np.stack(a_cols, axis=1).astype(np.float64)  # (patterns, m)
        c = np.array(c_vals)
        m = len(feats)
        w = _shapley_weights(m)
        prediction += value * a.prod(axis=1)
        for j in range(m):
            poly = np.zeros((n_patterns, m))
            poly[:, 0] = 1.0
            deg = 0
            for k in range(m):
                if k == j:
                    continue
                # multiply by (c_k + a_k z)
                poly[:, 1 : deg + 2] = c[k] * poly[:, 1 : deg + 2] + a[:, k : k + 1] * poly[:, : deg + 1]
                poly[:, 0] *= c[k]
                deg += 1
            values[col_of[feats[j]]] += value * (a[:, j] - c[j]) * (poly @ w)
    return GroupTable(
        nodes=np.array([global_node[n] for n in local_nodes], dtype=np.int64),
        features=np.array(features, dtype=np.int64),
        values=values,
        prediction=prediction,
    )


def compile_trees(
    members: Sequence[tuple[Sequence[ParsedTree], float]],
    n_features: int,
    *,
    max_bits: int = MAX_TABLE_BITS,
) -> TreeTables:
    """Tabulate the trees of one or more boosters, each weighted (e.g. ensemble weights).

    Raises :class:`UntabulableModelError` when a leaf lies deeper than ``max_bits`` split nodes.
    """
    nodes: list[SplitNode] = []
    node_index: dict[SplitNode, int] = {}
    groups: list[GroupTable] = []
    base = 0.0
    for trees, weight in members:
        expected = 0.0
        for tree in trees:
            expected += tree.expected_value()
            if tree.n_nodes == 0:
                groups.append(
                    GroupTable(
                        nodes=np.empty(0, dtype=np.int64),
                        features=np.empty(0, dtype=np.int64),
                        values=np.zeros((0, 1)),
                        prediction=np.array([weight * float(tree.leaf_value[0])]),
                    )
                )
                continue
            global_node = {}
            for n in range(tree.n_nodes):
                sn = _split_node(tree, n)
                if sn not in node_index:
                    node_index[sn] = len(nodes)
                    nodes.append(sn)
                global_node[n] = node_index[sn]
            paths = _leaf_paths(tree)
            for leaves in _group_leaves(paths, _dfs_leaves(tree), max_bits):
                g = _tabulate_group(tree, paths, leaves, global_node)
                if weight != 1.0:
                    g = GroupTable(g.nodes, g.features, weight * g.values, weight * g.prediction)
                groups.append(g)
        base += weight * expected
    return TreeTables(n_features=n_features, base_value=base, nodes=tuple(nodes), groups=tuple(groups))


def _dfs_leaves(tree: ParsedTree) -> list[int]:
    order: list[int] = []

    def visit(child: int) -> None:
        if child < 0:
            order.append(~child)
        else:
            visit(int(tree.left_child[child]))
            visit(int(tree.right_child[child]))

    visit(0)
    return order


def _split_node(tree: ParsedTree, n: int) -> SplitNode:
    dt = int(tree.decision_type[n])
    feature = int(tree.split_feature[n])
    default_left = bool(dt & _DEFAULT_LEFT_MASK)
    if dt & _CATEGORICAL_MASK:
        # NaN and negative values always go right for categorical splits.
        return SplitNode(feature, True, 0.0, tuple(int(c) for c in tree.left_categories(n)), False, None)
    missing = (dt >> 2) & 3
    threshold = float(tree.threshold[n])
    if missing == _MISSING_NAN:
        return SplitNode(feature, False, threshold, (), default_left, None)
    if missing == _MISSING_ZERO:
        # NaN is read as 0, which is "zero": both take the default direction.
        return SplitNode(feature, False, threshold, (), default_left, default_left)
    # missing_type None: NaN is read as 0.0 and compared with the threshold.
    return SplitNode(feature, False, threshold, (), bool(threshold >= 0.0), None)


def booster_text(booster: Any, num_iteration: int | None = None) -> str:
    """The text model of a ``lightgbm.Booster`` (the format the project persists)."""
    return str(booster.model_to_string(num_iteration=num_iteration))


def compile_boosters(
    members: Sequence[tuple[str, float]], *, max_bits: int = MAX_TABLE_BITS
) -> TreeTables:
    """Compile weighted LightGBM text models (``[(model_text, weight), ...]``) into one table set."""
    parsed = []
    n_features = None
    for text, weight in members:
        trees, nf = parse_model_text(text)
        if n_features is not None and nf != n_features:
            raise ValueError(f"boosters read different numbers of features ({n_features} and {nf})")
        n_features = nf
        parsed.append((trees, float(weight)))
    if n_features is None:
        raise ValueError("no booster to compile")
    return compile_trees(parsed, n_features, max_bits=max_bits)
