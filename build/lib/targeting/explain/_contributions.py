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
    if isinstance(X, pd.DataFrame):
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
        values = np.zeros((n, p))
        base = np.full(n, self.intercept)
        pred = np.full(n, self.intercept)
        for linear, w in self.linear:
            if w == 0.0:
                continue
            c = linear_contributions(linear, M)
            values += w * c
            base += w * linear.base_value
            pred += w * (linear.base_value + c.sum(axis=1))
        if self.tables is not None:
            tree_pred, tree_values = self.tables.predict_contrib(M)
            values += tree_values
            base += self.tables.base_value
            pred += tree_pred
        elif self.method_ == "lightgbm":
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
        """Predicted log per-capita welfare (the estimator's ``predict``; cheap, no explanation)."""
        return np.asarray(self.model.predict(X), dtype=np.float64)


def linear_contributions(linear: LinearPMT, M: FloatArray) -> FloatArray:
    """``coef x (design value − weighted training mean)``, summed over each feature's terms.

    The same numbers as ``LinearPMT.contributions`` without its matrix product: on a 2-core machine
    OpenBLAS's threads make that small product several times slower than summing the (contiguous)
    terms of each feature here.
    """
    n = M.shape[0]
    out = np.zeros((n, linear.n_features))
    if not linear.terms:
        return out
    scaled = (linear.design(M) - linear.means) * linear.coef
    features = np.array([t.feature for t in linear.terms], dtype=np.int64)
    if np.all(np.diff(features) >= 0):
        starts = np.flatnonzero(np.r_[True, features[1:] != features[:-1]])
        out[:, features[starts]] = np.add.reduceat(scaled, starts, axis=1)
    else:  # terms not grouped by feature: add them one by one
        for k, f in enumerate(features):
            out[:, f] += scaled[:, k]
    return out


def _any_weight(members: Sequence[tuple[Any, float]]) -> bool:
    """Whether any member carries weight in the prediction."""
    return any(w != 0.0 for _, w in members)
