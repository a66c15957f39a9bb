"""Score and explain: one object per model that the API and the registry run call.

:class:`Explainer` compiles the model once (:class:`ContributionEngine`) and binds the reason
catalogue to its indicators (:class:`ReasonRenderer`, the load-time check). Then

* :meth:`Explainer.explain` gives per-household :class:`HouseholdExplanation` objects (API requests);
* :meth:`Explainer.explain_registry` scores and explains a whole registry into one table (one row
  per household: prediction, selection, top-k reason codes and texts) plus the global views,
  streaming rows in chunks so memory is bounded by the chunk;
* :meth:`Explainer.iter_registry` yields the same table chunk by chunk (write each to Parquet for
  national-size registries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._catalogue import ReasonCatalogue, load_catalogue
from ._contributions import DEFAULT_CHUNK_ROWS, ContributionEngine, Contributions, Method
from ._explanation import HouseholdExplanation, IndicatorContribution, ReasonCode
from ._importance import GlobalImportance, ImportanceAccumulator
from ._reasons import DEFAULT_TOP_K, select_reasons
from ._render import ReasonRenderer

if TYPE_CHECKING:
    from targeting.pmt.estimator import PMTRegressor
    from targeting.survey.dataset import SurveyData

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RegistryExplanation:
    """Scores, decisions and reasons for a whole registry, plus the global views.

    Attributes
    ----------
    table : one row per household (Parquet-friendly): ``household_id``, ``base_value``,
        ``prediction`` (log per-capita welfare), ``prediction_rp``, ``selected``, ``n_reasons``
        and, for ``i`` in 1..top_k, ``reason_i_code`` (indicator id), ``reason_i_value`` (value as
        data), ``reason_i_direction`` (``down``/``up``), ``reason_i_contribution`` (log points),
        ``reason_i_text_id`` and ``reason_i_text_en``; empty slots are missing.
    importance : weighted mean |contribution| per indicator, overall and per group.
    contributions : every household's contributions when asked for (``keep_contributions``).
    """

    table: pd.DataFrame
    importance: GlobalImportance
    indicators: tuple[str, ...]
    top_k: int
    method: str
    catalogue: str
    contributions: Contributions | None = field(default=None, repr=False)

    def max_residual(self) -> float:
        """Largest ``|base + Σ contributions − prediction|`` (needs ``keep_contributions``)."""
        if self.contributions is None:
            raise ValueError("contributions were not kept (keep_contributions=False)")
        return self.contributions.max_residual()


@dataclass
class _Chunk:
    """The numbers of one chunk of households, before any text is written."""

    rows: slice
    base: FloatArray
    prediction: FloatArray
    values: FloatArray | None  # (n, p) contributions; dropped once a registry chunk is summarised
    selected: BoolArray
    reasons: IntArray  # (n, k) indicator indices, -1 = none
    reason_values: FloatArray  # (n, k) the household's matrix value of each reason's indicator
    reason_contrib: FloatArray  # (n, k)
    # reasons for the other direction, while the decision waits for every prediction
    alternative: tuple[IntArray, FloatArray, FloatArray] | None = None
    matrix: FloatArray | None = None  # the rows' model matrix; dropped with ``values``

    def decide(self, selected: BoolArray) -> None:
        """Fix the decision of a deferred chunk: keep each household's reasons of its direction."""
        assert self.alternative is not None and self.selected.all()
        pick = selected[:, None]
        alt_idx, alt_val, alt_contrib = self.alternative
        self.reasons = np.where(pick, self.reasons, alt_idx)
        self.reason_values = np.where(pick, self.reason_values, alt_val)
        self.reason_contrib = np.where(pick, self.reason_contrib, alt_contrib)
        self.selected = selected
        self.alternative = None


class Explainer:
    """Scores households with a fitted PMT model and explains every decision exactly.

    Parameters
    ----------
    model : a fitted ``targeting.pmt.PMTRegressor`` (any backend).
    catalogue : the reason catalogue (default: the packaged ``reasons.yaml``). It must have an
        entry for every indicator of the model: checked here, not when the first notice is written.
    top_k : reasons per household (default 4).
    min_abs : a contribution must exceed this size (log points) to be given as a reason.
    method, chunk_rows, n_jobs : see :class:`ContributionEngine`.

    Raises
    ------
    targeting.explain.ReasonCatalogueError
        The catalogue lacks indicators of the model or does not fit their kinds or codes.
    """

    def __init__(
        self,
        model: PMTRegressor,
        catalogue: ReasonCatalogue | None = None,
        *,
        top_k: int = DEFAULT_TOP_K,
        min_abs: float = 0.0,
        method: Method = "auto",
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        n_jobs: int = 1,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.engine = ContributionEngine(model, method=method, chunk_rows=chunk_rows, n_jobs=n_jobs)
        self.catalogue = load_catalogue() if catalogue is None else catalogue
        self.renderer = ReasonRenderer(self.catalogue, model.schema_)
        self.top_k = int(top_k)
        self.min_abs = float(min_abs)

    @property
    def indicators(self) -> tuple[str, ...]:
        return self.engine.indicators

    @property
    def method(self) -> str:
        """How boosted members are explained: ``tables``, ``lightgbm`` or ``linear`` (no trees)."""
        return self.engine.method_

    # ---- numbers -----------------------------------------------------------------------------

    def contributions(self, X: pd.DataFrame | npt.ArrayLike) -> Contributions:
        """Exact contributions, base value and prediction for every row of ``X``."""
        return self.engine.contributions(X)

    def _chunks(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        n: int,
        selected: npt.ArrayLike | None,
        cutoff: float | None,
        top_k: int,
        *,
        deferred: bool = False,
    ) -> Iterator[_Chunk]:
        """Numbers chunk by chunk, reasons included.

        ``deferred``: the decision is not known yet (it depends on every prediction), so reasons
        for both directions are kept and chosen later (:meth:`_Chunk.decide`).
        """
        sel_all = None if deferred else _check_selection(selected, cutoff, n)
        for rows, M, c in self.engine.iter_chunks(X):
            if deferred:
                sel = np.ones(len(c), dtype=bool)
            elif sel_all is not None:
                sel = sel_all[rows]
            else:
                sel = c.prediction <= float(cutoff)  # type: ignore[arg-type]
            reasons = self._reasons(M, c.values, sel, top_k)
            chunk = _Chunk(rows, c.base, c.prediction, c.values, sel, *reasons, matrix=M)
            if deferred:
                chunk.alternative = self._reasons(M, c.values, ~sel, top_k)
            yield chunk

    def _reasons(
        self, M: FloatArray, values: FloatArray, selected: BoolArray, top_k: int
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        idx = select_reasons(values, selected, top_k, min_abs=self.min_abs)
        safe = np.maximum(idx, 0)
        has = idx >= 0
        x = np.where(has, np.take_along_axis(M, safe, axis=1), np.nan)
        contrib = np.where(has, np.take_along_axis(values, safe, axis=1), np.nan)
        return idx, x, contrib

    # ---- per household ---------------------------------------------------------------------

    def explain(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        *,
        household_id: npt.ArrayLike | None = None,
        selected: npt.ArrayLike | None = None,
        cutoff: float | None = None,
        top_k: int | None = None,
    ) -> list[HouseholdExplanation]:
        """One :class:`HouseholdExplanation` per row of ``X`` (for API-sized batches).

        Give the decision either as ``selected`` (bool per household, e.g. from
        ``targeting.pmt.ranking``) or as ``cutoff``: households whose predicted log welfare is at
        or below it are selected.
        """
        k = self.top_k if top_k is None else int(top_k)
        n = _n_rows(X)
        ids = _household_ids(household_id, n)
        r = self.renderer
        out: list[HouseholdExplanation] = []
        for chunk in self._chunks(X, n, selected, cutoff, k):
            assert chunk.values is not None and chunk.matrix is not None
            c = Contributions(self.indicators, chunk.base, chunk.values, chunk.prediction)
            effect = c.effect_pct
            for i in range(len(c)):
                row = chunk.rows.start + i
                x = chunk.matrix[i]
                contributions = [
                    IndicatorContribution(
                        indicator=name,
                        label_id=r.indicator_name(j, "id"),
                        label_en=r.indicator_name(j, "en"),
                        value=r.raw_value(j, float(x[j])),
                        value_text_id=r.value_text(j, float(x[j]), "id"),
                        value_text_en=r.value_text(j, float(x[j]), "en"),
                        contribution=float(c.values[i, j]),
                        effect_pct=float(effect[i, j]),
                    )
                    for j, name in enumerate(self.indicators)
                ]
                down = bool(chunk.selected[i])
                reasons = [
                    ReasonCode(
                        rank=rank + 1,
                        code=self.indicators[j],
                        value=r.raw_value(j, float(x[j])),
                        direction="down" if down else "up",
                        contribution=float(c.values[i, j]),
                        effect_pct=float(effect[i, j]),
                        text_id=r.reason_text(j, float(x[j]), down, "id"),
                        text_en=r.reason_text(j, float(x[j]), down, "en"),
                    )
                    for rank, j in enumerate(int(v) for v in chunk.reasons[i])
                    if j >= 0
                ]
                out.append(
                    HouseholdExplanation(
                        household_id=ids[row],
                        base_value=float(c.base[i]),
                        prediction=float(c.prediction[i]),
                        prediction_rp=float(np.exp(c.prediction[i])),
                        selected=down,
                        contributions=contributions,
                        reasons=reasons,
                    )
                )
        return out

    # ---- whole registry ----------------------------------------------------------------------

    def iter_registry(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        *,
        household_id: npt.ArrayLike,
        selected: npt.ArrayLike | None = None,
        cutoff: float | None = None,
        top_k: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The registry table (see :class:`RegistryExplanation`) chunk by chunk, in row order."""
        k = self.top_k if top_k is None else int(top_k)
        n = _n_rows(X)
        ids = _household_id_array(household_id, n)
        for chunk in self._chunks(X, n, selected, cutoff, k):
            yield self._table([chunk], ids, k)

    def explain_registry(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        *,
        household_id: npt.ArrayLike,
        selected: npt.ArrayLike | None = None,
        cutoff: float | None = None,
        select: Callable[[FloatArray], npt.ArrayLike] | None = None,
        top_k: int | None = None,
        sample_weight: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
        keep_contributions: bool = False,
    ) -> RegistryExplanation:
        """Score, explain and give reasons for every household; global views on the way.

        Parameters
        ----------
        X : the registry's indicators (``SurveyData.features``).
        household_id : one id per row (never NIK: ids go into exported tables).
        selected, cutoff : the decision (see :meth:`explain`); or
        select : a function of every household's predicted log welfare that returns the
            selection, for decisions that depend on the whole registry (deciles, coverage), e.g.
            ``lambda pred: select_coverage(pred, household_size, 0.4)``. It is applied after the
            one scoring pass; reasons for both directions are kept until then (2k small integers
            per household), so the registry is still scored and explained once.
        sample_weight : weights of the global views (default 1 per household).
        groups : labels for the per-group global view (e.g. kecamatan).
        keep_contributions : also return every household's contributions (n x p floats).
        """
        k = self.top_k if top_k is None else int(top_k)
        n = _n_rows(X)
        ids = _household_id_array(household_id, n)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        g = None if groups is None else np.asarray(groups, dtype=object).reshape(-1)
        for name, arr in (("sample_weight", w), ("groups", g)):
            if arr is not None and arr.shape[0] != n:
                raise ValueError(f"{name} has {arr.shape[0]} entries for {n} households")
        if select is not None and (selected is not None or cutoff is not None):
            raise ValueError("give the decision as exactly one of `selected`, `cutoff` or `select`")
        acc = ImportanceAccumulator(self.indicators)
        kept_values = np.empty((n, len(self.indicators))) if keep_contributions else None
        chunks: list[_Chunk] = []
        for chunk in self._chunks(X, n, selected, cutoff, k, deferred=select is not None):
            sl = chunk.rows
            assert chunk.values is not None
            acc.add(chunk.values, None if w is None else w[sl], None if g is None else g[sl])
            if kept_values is not None:
                kept_values[sl] = chunk.values
            chunk.values = chunk.matrix = None  # keep only the small per-household numbers
            chunks.append(chunk)
        if select is not None:
            pred = np.concatenate([c.prediction for c in chunks])
            decided = _check_selection(select(pred), None, n)
            assert decided is not None
            for chunk in chunks:
                chunk.decide(decided[chunk.rows])
        table = self._table(chunks, ids, k)
        kept = None
        if kept_values is not None:
            kept = Contributions(
                self.indicators,
                table["base_value"].to_numpy(),
                kept_values,
                table["prediction"].to_numpy(),
            )
        return RegistryExplanation(
            table=table,
            importance=acc.result(),
            indicators=self.indicators,
            top_k=k,
            method=self.method,
            catalogue=f"{self.catalogue.name}@{self.catalogue.version}",
            contributions=kept,
        )

    def explain_survey(
        self,
        data: SurveyData,
        *,
        selected: npt.ArrayLike | None = None,
        cutoff: float | None = None,
        select: Callable[[FloatArray], npt.ArrayLike] | None = None,
        top_k: int | None = None,
        keep_contributions: bool = False,
    ) -> RegistryExplanation:
        """:meth:`explain_registry` on a loaded survey or registry (weights and regions from it)."""
        return self.explain_registry(
            data.features,
            household_id=data.household_id.to_numpy(dtype=object),
            selected=selected,
            cutoff=cutoff,
            select=select,
            top_k=top_k,
            sample_weight=data.weight.to_numpy(dtype=np.float64),
            groups=None if data.region is None else data.region.to_numpy(dtype=object),
            keep_contributions=keep_contributions,
        )

    def _table(self, chunks: list[_Chunk], ids: npt.NDArray[np.object_], k: int) -> pd.DataFrame:
        """Assemble the table; every distinct text is written once for all chunks given."""
        start, stop = chunks[0].rows.start, chunks[-1].rows.stop
        base = np.concatenate([c.base for c in chunks])
        pred = np.concatenate([c.prediction for c in chunks])
        sel = np.concatenate([c.selected for c in chunks])
        idx = np.concatenate([c.reasons for c in chunks])
        vals = np.concatenate([c.reason_values for c in chunks])
        contrib = np.concatenate([c.reason_contrib for c in chunks])
        n = pred.shape[0]
        columns: dict[str, Any] = {
            "household_id": pd.array(ids[start:stop], dtype="string"),
            "base_value": base,
            "prediction": pred,
            "prediction_rp": np.exp(pred),
            "selected": sel,
            "n_reasons": (idx >= 0).sum(axis=1).astype(np.int8),
        }
        # All slots rendered together, so the categorical dictionaries are shared by the columns.
        flat_idx, flat_val = idx.reshape(-1), vals.reshape(-1)
        flat_down = np.repeat(sel, k)
        r = self.renderer
        codes = pd.Categorical.from_codes(flat_idx, categories=list(self.indicators))
        raw, texts = r.render(flat_idx, flat_val, flat_down)
        text_id, text_en = texts["id"], texts["en"]
        direction = pd.Categorical.from_codes(
            np.where(flat_idx >= 0, np.where(flat_down, 0, 1), -1), categories=["down", "up"]
        )
        for slot in range(k):
            take = np.arange(slot, n * k, k)
            prefix = f"reason_{slot + 1}_"
            columns[prefix + "code"] = codes[take]
            columns[prefix + "value"] = raw[take]
            columns[prefix + "direction"] = direction[take]
            columns[prefix + "contribution"] = contrib[:, slot]
            columns[prefix + "text_id"] = text_id[take]
            columns[prefix + "text_en"] = text_en[take]
        return pd.DataFrame(columns, index=pd.RangeIndex(start, stop))


def _n_rows(X: pd.DataFrame | npt.ArrayLike) -> int:
    return len(X) if isinstance(X, pd.DataFrame) else int(np.shape(X)[0])


def _check_selection(selected: npt.ArrayLike | None, cutoff: float | None, n: int) -> BoolArray | None:
    if (selected is None) == (cutoff is None):
        raise ValueError("give the decision as exactly one of `selected` (bool per household) or `cutoff`")
    if selected is None:
        if not np.isfinite(float(cutoff)):  # type: ignore[arg-type]
            raise ValueError(f"cutoff must be a finite log welfare, got {cutoff}")
        return None
    sel = np.asarray(selected)
    if sel.shape != (n,):
        raise ValueError(f"selected has shape {sel.shape}, expected ({n},)")
    if sel.dtype != bool:
        if pd.isna(sel).any() or not np.isin(sel, [0, 1]).all():
            raise ValueError("selected must be booleans (or 0/1) with no missing values")
        sel = sel.astype(bool)
    return sel


def _household_id_array(household_id: npt.ArrayLike, n: int) -> npt.NDArray[np.object_]:
    ids = np.asarray(household_id, dtype=object).reshape(-1)
    if ids.shape[0] != n:
        raise ValueError(f"household_id has {ids.shape[0]} entries for {n} households")
    if pd.isna(ids).any():
        raise ValueError("household_id has missing values")
    out = ids.astype(str).astype(object)
    # Explanations are exported (API, audit tables): NIK / family card numbers must never be the id.
    looks_personal = pd.Series(out, dtype="string").str.fullmatch(r"[0-9]{16}").to_numpy(dtype=bool)
    if looks_personal.any():
        raise ValueError(
            f"{int(looks_personal.sum())} household_id value(s) look like NIK or family card numbers "
            "(16 digits); pass the household id or a keyed pseudonym (targeting.privacy.pseudonymize)"
        )
    return out


def _household_ids(household_id: npt.ArrayLike | None, n: int) -> list[str]:
    if household_id is None:
        return [str(i) for i in range(n)]
    return [str(v) for v in _household_id_array(household_id, n)]
