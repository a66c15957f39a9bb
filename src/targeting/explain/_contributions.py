"""Exact per-indicator contributions of a fitted PMT model, and the compiled engine that streams them.

Two routes give the same numbers:

* the reference route, :func:`reference_contributions`: the estimator's own
  ``PMTRegressor.contributions`` (coefficient x (x − weighted mean) for OLS; LightGBM's
  ``pred_contrib``, i.e. TreeSHAP, for boosted members; the weighted sum for the ensemble);
* the fast route, :class:`ContributionEngine`: the linear members as a matrix product, every boosted
  member compiled once into pattern tables (:mod:`targeting.explain._treeshap`), rows streamed in
  chunks over a thread pool. Boosters with trees too deep to tabulate fall back to ``pred_contrib``.

Both return :class:`Contributions`: base value, one contribution per model input feature (an
*indicator*: one-hot levels, missing dummies and size terms are already folded back by the model),
and the prediction, with ``base + values.sum(1) == prediction``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._treeshap import MAX_TABLE_BITS, TreeTables, UntabulableModelError, compile_boosters

if TYPE_CHECKING:
    from targeting.pmt.estimator import PMTRegressor
    from targeting.pmt.linear import LinearPMT

FloatArray = npt.NDArray[np.float64]
Method = Literal["auto", "tables", "lightgbm"]

#: Rows per chunk: tables, decisions and the chunk's contributions stay in a few tens of MB.
DEFAULT_CHUNK_ROWS = 16_384


@dataclass(frozen=True)
class Contributions:
    """Exact contributions to predicted log per-capita welfare for a batch of households.

    Attributes
    ----------
    indicators : indicator (model input feature) names, the columns of ``values``.
    base : (n,) base value: the prediction for the weighted-average training household.
    values : (n, p) contribution of each indicator, in log points.
    prediction : (n,) predicted log per-capita welfare; equals ``base + values.sum(1)``.
    """

    indicators: tuple[str, ...]
    base: FloatArray
    values: FloatArray
    prediction: FloatArray

    def __len__(self) -> int:
        return int(self.prediction.shape[0])

    @property
    def effect_pct(self) -> FloatArray:
        """Each contribution as a percentage effect on predicted welfare (``100 (e^c − 1)``)."""
        return 100.0 * np.expm1(self.values)

    @property
    def prediction_rp(self) -> FloatArray:
        """Predicted per-capita welfare in rupiah (``exp`` of the log prediction)."""
        return np.exp(self.prediction)

    def max_residual(self) -> float:
        """Largest ``|base + Σ values − prediction|`` (0 up to rounding for exact explanations)."""
        if len(self) == 0:
            return 0.0
        return float(np.max(np.abs(self.base + self.values.sum(axis=1) - self.prediction)))

    def rows(self, index: slice | npt.NDArray[Any]) -> Contributions:
        """The contributions of a subset of households."""
        return Contributions(
            self.indicators, self.base[index], self.values[index], self.prediction[index]
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per household: ``base_value``, one column per indicator, ``prediction``."""
        frame = pd.DataFrame(self.values, columns=list(self.indicators))
        frame.insert(0, "base_value", self.base)
        frame["prediction"] = self.prediction
        return frame


def fold_contributions(
    values: FloatArray, names: Sequence[str], indicator_of: Mapping[str, str]
) -> tuple[tuple[str, ...], FloatArray]:
    """Sum columns that belong to one indicator (e.g. ``floor=earth``, ``floor=bamboo`` -> ``floor``).

    ``indicator_of`` maps a column name to its indicator; unmapped columns are indicators of their
    own. Indicators keep the order of their first column. Exact: sums are preserved per row.
    """
    targets = [indicator_of.get(n, n) for n in names]
    indicators = tuple(dict.fromkeys(targets))
    position = {ind: j for j, ind in enumerate(indicators)}
    F = np.zeros((len(names), len(indicators)))
    F[np.arange(len(names)), [position[t] for t in targets]] = 1.0
    return indicators, np.asarray(values, dtype=np.float64) @ F


def model_matrix(model: PMTRegressor, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
    """The float64 matrix the model's backends read, after checking the columns by name."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    names = model.schema_.names
    if isinstance(X, pd.DataFrame) and X.columns.tolist() != list(names):  # else already the model's columns
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"input lacks the model's indicator column(s) {missing}")
        X = X.loc[:, list(names)]
    M = model.schema_.to_matrix(X)
    if M.shape[1] != len(names):
        raise ValueError(f"expected {len(names)} columns, got {M.shape[1]}")
    return M


def reference_contributions(
    model: PMTRegressor, X: pd.DataFrame | npt.ArrayLike, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Contributions:
    """Contributions computed by the estimator itself (``PMTRegressor.contributions``)."""
    base, values = model.contributions(X, chunk_rows=chunk_rows)
    return Contributions(tuple(model.schema_.names), base, values, base + values.sum(axis=1))


class ContributionEngine:
    """A fitted ``PMTRegressor`` compiled for fast, exact scoring and explanation.

    Parameters
    ----------
    model : a fitted ``targeting.pmt.PMTRegressor`` (any backend).
    method : ``"tables"`` compiles boosted members into pattern tables (error if a tree is too
        deep), ``"lightgbm"`` uses LightGBM's ``pred_contrib``, ``"auto"`` (default) tables when
        possible, else ``pred_contrib``.
    chunk_rows : rows per chunk; memory is bounded by the chunk, never by the registry.
    n_jobs : threads working on chunks at once (NumPy and LightGBM release the GIL).
    max_bits : largest number of split nodes one pattern table is keyed by.
    """

    def __init__(
        self,
        model: PMTRegressor,
        *,
        method: Method = "auto",
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        n_jobs: int = 1,
        max_bits: int = MAX_TABLE_BITS,
    ) -> None:
        from sklearn.utils.validation import check_is_fitted

        from targeting.pmt.boosting import BoosterPMT
        from targeting.pmt.linear import LinearPMT

        if method not in ("auto", "tables", "lightgbm"):
            raise ValueError(f"method must be 'auto', 'tables' or 'lightgbm', got {method!r}")
        if chunk_rows < 1 or n_jobs < 1:
            raise ValueError("chunk_rows and n_jobs must be at least 1")
        check_is_fitted(model)
        self.model = model
        self.chunk_rows = int(chunk_rows)
        self.n_jobs = int(n_jobs)
        self.indicators: tuple[str, ...] = tuple(model.schema_.names)
        self.intercept = float(model.intercept_)
        self.linear: list[tuple[LinearPMT, float]] = []
        self.boosters: list[tuple[BoosterPMT, float]] = []
        for name, comp in model.components_.items():
            weight = float(model.weights_[name])
            if isinstance(comp, LinearPMT):
                self.linear.append((comp, weight))
            elif isinstance(comp, BoosterPMT):
                self.boosters.append((comp, weight))
            else:  # pragma: no cover - the estimator only makes these two
                raise TypeError(f"unsupported model component {type(comp).__name__}")
        self.compiled_linear = [(CompiledLinear(lin, model.schema_), w) for lin, w in self.linear if w != 0.0]
        self.tables: TreeTables | None = None
        self.method_: Literal["linear", "tables", "lightgbm"] = "linear"
        if self.boosters and _any_weight(self.boosters):
            self.method_ = "lightgbm"
            if method in ("auto", "tables"):
                try:
                    self.tables = compile_boosters(
                        [(b.to_string(), w) for b, w in self.boosters if w != 0.0],
                        max_bits=max_bits,
                    )
                    self.method_ = "tables"
                except UntabulableModelError:
                    if method == "tables":
                        raise

    def matrix(self, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
        """The model matrix of ``X`` (categories as codes of the training code lists)."""
        return model_matrix(self.model, X)

    def compute(self, M: FloatArray) -> Contributions:
        """Contributions of the rows of a model matrix, in one piece (no chunking)."""
        n, p = M.shape
        # Accumulated indicator by indicator (rows contiguous), transposed once at the end.
        values_t = np.zeros((p, n))
        base = np.full(n, self.intercept)
        pred = np.full(n, self.intercept)
        for compiled, w in self.compiled_linear:
            c_t = compiled.contributions_t(M)
            values_t += w * c_t
            base += w * compiled.base_value
            pred += w * (compiled.base_value + _column_sums(c_t))
        if self.tables is not None:
            tree_pred, tree_values_t = self.tables.predict_contrib_t(M)
            values_t += tree_values_t
            base += self.tables.base_value
            pred += tree_pred
        values = np.ascontiguousarray(values_t.T)
        if self.tables is None and self.method_ == "lightgbm":
            for booster, w in self.boosters:
                if w == 0.0:
                    continue
                out = np.asarray(
                    booster.booster.predict(
                        M,
                        pred_contrib=True,
                        num_iteration=booster.num_rounds,
                        num_threads=self.n_jobs,
                    ),
                    dtype=np.float64,
                )
                values += w * out[:, :-1]
                base += w * out[:, -1]
                pred += w * out.sum(axis=1)
        return Contributions(self.indicators, base, values, pred)

    def predict_matrix(self, M: FloatArray) -> FloatArray:
        """Predicted log welfare of the rows of a model matrix (:meth:`compute`'s, without contributions).

        The pattern tables are read once per group of leaves, not once per indicator.
        """
        pred = np.full(M.shape[0], self.intercept)
        for compiled, w in self.compiled_linear:
            pred += w * (compiled.base_value + _column_sums(compiled.contributions_t(M)))
        if self.tables is not None:
            pred += self.tables.predict(M)
        elif self.method_ == "lightgbm":
            for booster, w in self.boosters:
                if w != 0.0:
                    pred += w * np.asarray(booster.booster.predict(M, num_iteration=booster.num_rounds,
                                                                   num_threads=self.n_jobs), dtype=np.float64)
        return pred

    def iter_chunks(
        self, X: pd.DataFrame | npt.ArrayLike
    ) -> Iterator[tuple[slice, FloatArray, Contributions]]:
        """``(rows, model matrix of the rows, contributions)`` chunk by chunk, in row order.

        A DataFrame is converted to the model matrix chunk by chunk too, so nothing the size of
        the registry x indicators is ever held. With ``n_jobs > 1`` the table engine works on
        ``n_jobs`` chunks at once in threads, with a bounded window of chunks in flight;
        LightGBM's ``pred_contrib`` parallelises inside each chunk instead.
        """
        source = self._source(X)
        n = source.shape[0]
        slices = iter([slice(s, min(s + self.chunk_rows, n)) for s in range(0, n, self.chunk_rows)])

        def work(sl: slice) -> tuple[FloatArray, Contributions]:
            M = self._rows(source, sl)
            return M, self.compute(M)

        if self.n_jobs == 1 or self.method_ == "lightgbm":
            for sl in slices:
                yield sl, *work(sl)
            return
        with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
            pending: deque[tuple[slice, Future[tuple[FloatArray, Contributions]]]] = deque(
                (sl, pool.submit(work, sl)) for sl in islice(slices, 2 * self.n_jobs)
            )
            while pending:
                sl, future = pending.popleft()
                nxt = next(slices, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(work, nxt)))
                yield sl, *future.result()

    def _source(self, X: pd.DataFrame | npt.ArrayLike) -> pd.DataFrame | FloatArray:
        """The input checked once: a frame with the model's columns in order, or the matrix."""
        if isinstance(X, pd.DataFrame):
            names = list(self.indicators)
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise ValueError(f"input lacks the model's indicator column(s) {missing}")
            return X.loc[:, names]
        return self.matrix(X)

    def _rows(self, source: pd.DataFrame | FloatArray, rows: slice) -> FloatArray:
        if isinstance(source, pd.DataFrame):
            return self.model.schema_.to_matrix(source.iloc[rows])
        return source[rows]

    def contributions(self, X: pd.DataFrame | npt.ArrayLike) -> Contributions:
        """Contributions of every row of ``X`` (chunked; the result holds n x p floats)."""
        parts = [(sl, c) for sl, _, c in self.iter_chunks(X)]
        n, p = (parts[-1][0].stop if parts else 0), len(self.indicators)
        base = np.empty(n)
        values = np.empty((n, p))
        pred = np.empty(n)
        for sl, c in parts:
            base[sl], values[sl], pred[sl] = c.base, c.values, c.prediction
        return Contributions(self.indicators, base, values, pred)

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
        """Predicted log per-capita welfare: the estimator's ``predict`` by the compiled route.

        Equal to ``PMTRegressor.predict`` to floating-point rounding (~1e-15), and cheaper than the
        contributions (:meth:`compute`), whereas LightGBM's own ``predict`` costs more than the
        pattern tables' exact contributions on the shipped model.
        """
        return self.predict_matrix(self.matrix(X))


class CompiledLinear:
    """A linear member as one exact contribution function per indicator, without its design matrix.

    ``LinearPMT.contributions`` builds the rows x terms design matrix (one dummy per category level)
    and folds it back onto indicators. The contribution of a categorical indicator depends only on
    its code, so here it is a look-up table over the codes (last slot: missing), computed once from
    the same terms; a numeric indicator's is the sum of its few terms (value, log1p, size², log,
    missing). Equal to ``LinearPMT.contributions`` to floating-point rounding, and several times
    cheaper: no n x terms matrix is allocated.
    """

    def __init__(self, linear: LinearPMT, schema: Any) -> None:
        self.base_value = float(linear.base_value)
        self.n_features = int(linear.n_features)
        by_feature: dict[int, list[int]] = {}
        for k, t in enumerate(linear.terms):
            by_feature.setdefault(t.feature, []).append(k)
        self.tables: dict[int, FloatArray] = {}
        self.numeric: dict[int, list[tuple[str, float, float, float]]] = {}
        for f, ks in by_feature.items():
            kinds = {linear.terms[k].kind for k in ks}
            cats = schema.categories[f] if f < len(schema.categories) else None
            if "level" in kinds or (cats is not None and kinds <= {"missing"}):
                n_codes = len(cats) if cats is not None else 1 + max(
                    int(linear.terms[k].level or 0) for k in ks)
                lut = np.zeros(n_codes + 1)
                for k in ks:  # the terms' order, as the design matrix sums them
                    t = linear.terms[k]
                    z = np.zeros(n_codes + 1)
                    if t.kind == "level":
                        z[int(t.level)] = 1.0  # type: ignore[arg-type]
                    else:  # missing
                        z[n_codes] = 1.0
                    lut += (z - linear.means[k]) * linear.coef[k]
                self.tables[f] = lut
            else:
                self.numeric[f] = [(linear.terms[k].kind, float(linear.fill[f]), float(linear.means[k]),
                                    float(linear.coef[k])) for k in ks]

    def contributions_t(self, M: FloatArray) -> FloatArray:
        """Contributions as indicators x rows (each indicator's row contiguous)."""
        n = M.shape[0]
        out = np.zeros((self.n_features, n))
        for f, lut in self.tables.items():
            x = M[:, f]
            missing = np.isnan(x)
            codes = np.where(missing, lut.size - 1, x).astype(np.intp)
            if n and (codes.min() < 0 or codes.max() >= lut.size):
                raise ValueError(f"column {f}: category codes outside the model's code list")
            out[f] = lut.take(codes)
        for f, terms in self.numeric.items():
            x = M[:, f]
            missing = np.isnan(x)
            row = out[f]
            for kind, fill, mean, coef in terms:
                if kind == "missing":
                    z = missing.astype(np.float64)
                else:
                    v = np.where(missing, fill, x)
                    if kind == "value":
                        z = v
                    elif kind == "log1p":
                        z = np.log1p(np.maximum(v, 0.0))
                    elif kind == "square":
                        z = v * v
                    else:  # log: household size is at least 1 by contract
                        z = np.log(np.maximum(v, 1.0))
                row += (z - mean) * coef
        return out


def _column_sums(values_t: FloatArray) -> FloatArray:
    """Each row's sum over indicators, added in indicator order whatever the number of rows.

    ``values_t.sum(axis=0)`` sums one row pairwise but many rows sequentially, so a household's
    prediction would change in the last bit with the size of its chunk.
    """
    out = np.zeros(values_t.shape[1])
    for row in values_t:
        out += row
    return out


def _any_weight(members: Sequence[tuple[Any, float]]) -> bool:
    """Whether any member carries weight in the prediction."""
    return any(w != 0.0 for _, w in members)
