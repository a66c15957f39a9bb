"""Out-of-sample-by-community comparison of PMT, community (CBT), hybrid and blend targeting.

The protocol inspectors ask for, after Follett & Henderson (2023):

1. **Splits.** In each of ``n_repeats`` repetitions (seeded) the communities that hold ranks are
   shuffled; the first ``n_eval`` are the **evaluation** communities, and among the rest the first
   ``k`` lend their ranks for training (``k`` in ``ks``; nested, so the rank set for k = 10 contains
   the one for k = 5 and the comparison across ``k`` is not blurred by new draws). The PMT learns
   from the measured welfare of every community that is not an evaluation one. No method is ever
   given a training row from an evaluation community (checked on every split) nor an evaluation
   household's welfare; evaluation ranks are read only by the methods built on a household's own
   rank (CBT, the blend: ``Method.uses_own_rank``).
2. **Selection at a coverage per community.** Every method selects the poorest households of each
   community at the same coverage (:func:`~targeting.community.select_within_community`), so
   methods differ only in how they rank households inside a village.
3. **Two yardsticks.** Against measured welfare: the poor are the bottom ``q`` of the evaluation
   households (weighted, pooled across communities) for q in ``coverages``; exclusion and
   beneficiary-based inclusion errors at coverage q, and the within-community Spearman correlation
   (weighted Pearson correlation of within-community percentiles of score and welfare, pooled).
   Against the community's own view: the *community-poorest* are the households the consensus rank
   puts below ``community_share`` in their community, and the recall is the share of them each
   method selects at that same coverage (CBT has recall 1 by construction).
4. **Intervals.** Each figure is the mean over repetitions; its interval comes from a cluster
   (community) Poisson bootstrap: one multiplier per community, shared by every repetition and
   method, so differences to the baseline are paired. The consumption cut-off of each repetition is
   held at its point value across replicates. Group breakdowns (female head, elderly, widowed head,
   large households, ...) use the same replicates and :class:`targeting.audit.groups.MinCell`,
   applied to the distinct households of the group evaluated in any repetition.

All rates are weighted by survey weight (households); point estimates per repetition come from the
pure functions of :mod:`targeting.audit.metrics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.audit.groups import MinCell
from targeting.audit.metrics import (
    coverage_rate,
    exclusion_error_rate,
    inclusion_error_rate,
    poor_coverage_rate,
)
from targeting.community._ranks import RankSpec, community_codes, community_percentiles, rank_percentiles
from targeting.community._select import select_within_community
from targeting.pmt.ranking import population_shares

__all__ = [
    "DEFAULT_GROUPS",
    "CommunityData",
    "CommunityEvaluation",
    "EvaluationRows",
    "Method",
    "Protocol",
    "Split",
    "TrainingRows",
    "community_splits",
    "default_methods",
    "evaluate_community_targeting",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Group columns broken down when present in ``CommunityData.groups``.
DEFAULT_GROUPS: tuple[str, ...] = (
    "female_head", "elderly", "widow_head", "disability", "large_household", "village_head_relative"
)


# ---- data and protocol -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommunityData:
    """Everything the protocol reads, row-aligned.

    Attributes
    ----------
    X : PMT indicators (never the ranks).
    log_welfare : log per-capita welfare, NaN where not measured.
    percentiles : (n, m) within-community percentile of each ranking (0 = poorest, NaN = not ranked).
    consensus : the consensus percentile (NaN = not ranked).
    ranking : code of the ranking exercise each row belongs to (community x round).
    unit : code of the community each row belongs to (the unit of splits and of the bootstrap).
    weight : survey weight.
    community_share : per row, the coverage that defines its community's community-poorest.
    evaluable : rows that may be evaluated (e.g. one survey round, as the anchor does).
    groups : boolean group columns for the breakdowns.
    """

    name: str
    X: pd.DataFrame
    log_welfare: FloatArray
    percentiles: FloatArray
    consensus: FloatArray
    ranking: IntArray
    unit: IntArray
    weight: FloatArray
    community_share: FloatArray
    evaluable: BoolArray
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        n = len(self.X)
        for name in ("log_welfare", "consensus", "ranking", "unit", "weight", "community_share", "evaluable"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ValueError(f"CommunityData.{name} must have shape ({n},)")
        if self.percentiles.shape[0] != n or (len(self.groups.columns) and len(self.groups) != n):
            raise ValueError("percentiles and groups must have one row per household")

    @property
    def ranked_units(self) -> IntArray:
        """Communities with at least one ranked household."""
        return np.unique(self.unit[~np.isnan(self.consensus)])

    @classmethod
    def from_survey(
        cls,
        survey: Any,
        ranks: RankSpec,
        *,
        unit: str | None = None,
        community_share: float | npt.ArrayLike = 0.2,
        evaluable: npt.ArrayLike | None = None,
        groups: Mapping[str, npt.ArrayLike] | None = None,
    ) -> CommunityData:
        """From a loaded :class:`~targeting.survey.dataset.SurveyData` and where its ranks are.

        ``unit`` names the community column of the splits (default: the survey's cluster, else the
        first rank-community column); ``groups`` adds boolean group columns to the survey's own.
        """
        frame: pd.DataFrame = survey.frame
        w = survey.weight.to_numpy(dtype=np.float64)
        pct = community_percentiles(frame, ranks, sample_weight=w)
        welfare = survey.welfare.to_numpy(dtype=np.float64) if survey.welfare is not None else None
        log_w = np.full(len(frame), np.nan) if welfare is None else np.log(np.maximum(welfare, 1.0))
        if unit is not None:
            unit_codes = community_codes(frame[unit])
        elif survey.cluster is not None:
            unit_codes = community_codes(survey.cluster)
        else:
            unit_codes = community_codes(frame[ranks.community[0]])
        g = pd.DataFrame(index=range(len(frame)))
        for c in survey.groups.columns:
            col = survey.groups[c]
            if col.dtype == bool or pd.api.types.is_bool_dtype(col):
                g[c] = col.fillna(False).to_numpy(dtype=bool)
        for name, values in (groups or {}).items():
            g[name] = np.asarray(values, dtype=bool)
        share = np.asarray(community_share, dtype=np.float64)
        return cls(
            name=survey.name,
            X=survey.features,
            log_welfare=log_w,
            percentiles=pct[list(ranks.columns)].to_numpy(dtype=np.float64),
            consensus=pct["consensus"].to_numpy(dtype=np.float64),
            ranking=community_codes(frame[list(ranks.community)]),
            unit=unit_codes,
            weight=w,
            community_share=np.full(len(frame), float(share)) if share.ndim == 0 else share,
            evaluable=np.ones(len(frame), bool) if evaluable is None else np.asarray(evaluable, bool),
            groups=g,
        )


@dataclass(frozen=True)
class Protocol:
    """The comparison's fixed design.

    Defaults: the anchor's k values and 30 repetitions, 25 evaluation communities, coverages
    20/30/40 %, 200 bootstrap replicates, 95 % intervals.
    """

    ks: tuple[int, ...] = (5, 10, 15, 25)
    n_repeats: int = 30
    n_eval: int = 25
    seed: int = 0
    coverages: tuple[float, ...] = (0.2, 0.3, 0.4)
    group_coverage: float = 0.3
    n_boot: int = 200
    confidence: float = 0.95


@dataclass(frozen=True)
class Split:
    """One repetition: evaluation communities, the others, and the order ranks are lent in."""

    repeat: int
    evaluation: IntArray
    training: IntArray
    rank_order: IntArray

    def ranked(self, k: int) -> IntArray:
        """The k communities whose ranks train the methods."""
        return self.rank_order[:k]


def community_splits(data: CommunityData, protocol: Protocol) -> list[Split]:
    """The repetitions' splits (seeded by ``protocol.seed``): see the module notes."""
    ranked = data.ranked_units
    evaluable = np.unique(data.unit[data.evaluable & ~np.isnan(data.consensus)])
    need = protocol.n_eval + max(protocol.ks, default=0)
    if ranked.shape[0] < need or evaluable.shape[0] < protocol.n_eval:
        raise ValueError(
            f"{data.name}: {ranked.shape[0]} ranked communities ({evaluable.shape[0]} evaluable); the "
            f"protocol needs {protocol.n_eval} for evaluation + {max(protocol.ks, default=0)} for training"
        )
    rng = np.random.default_rng(protocol.seed)
    all_units = np.unique(data.unit)
    splits = []
    for r in range(protocol.n_repeats):
        evaluation = np.sort(rng.permutation(evaluable)[: protocol.n_eval])
        rest = rng.permutation(np.setdiff1d(ranked, evaluation))
        splits.append(Split(r, evaluation, np.setdiff1d(all_units, evaluation), rest))
    return splits


# ---- methods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRows:
    """What a method may learn from: the non-evaluation communities, ranks only from the k lent."""

    X: pd.DataFrame
    log_welfare: FloatArray
    percentiles: FloatArray
    consensus: FloatArray
    ranking: IntArray
    unit: IntArray
    weight: FloatArray
    ranked: BoolArray


@dataclass(frozen=True)
class EvaluationRows:
    """What a method may see of the evaluation households: indicators and, for CBT/blend, ranks."""

    X: pd.DataFrame
    consensus: FloatArray
    ranking: IntArray
    unit: IntArray
    weight: FloatArray


@dataclass(frozen=True)
class Method:
    """A targeting method: a name, a label for tables, and how it scores evaluation households.

    ``score`` returns a welfare-direction score per evaluation row (lower = poorer). ``uses_k``
    False means it ignores the training ranks (fitted once per repetition); ``uses_own_rank`` marks
    methods that read the evaluation households' ranks (their recall of the community-poorest is
    partly by construction).
    """

    name: str
    label: str
    score: Callable[[TrainingRows, EvaluationRows], FloatArray]
    uses_k: bool = True
    uses_own_rank: bool = False


def _pmt_all(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    from targeting.pmt import PMTRegressor

    known = np.isfinite(train.log_welfare)
    model = PMTRegressor("ols").fit(train.X[known], train.log_welfare[known], train.weight[known])
    return np.asarray(model.predict(ev.X), dtype=np.float64)


def _pmt_k(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    from targeting.pmt import PMTRegressor

    rows = train.ranked & np.isfinite(train.log_welfare)
    model = PMTRegressor("ols").fit(train.X[rows], train.log_welfare[rows], train.weight[rows])
    return np.asarray(model.predict(ev.X), dtype=np.float64)


def _cbt(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    return ev.consensus


def _hybrid(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    from targeting.community._hybrid import CommunityRankHybrid
    from targeting.pmt import PMTRegressor

    model = CommunityRankHybrid(prior=PMTRegressor("ols")).fit(
        train.X, train.percentiles, community=train.ranking, welfare=train.log_welfare,
        sample_weight=train.weight,
    )
    return np.asarray(model.predict(ev.X), dtype=np.float64)


def _hybrid_ranks_only(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    from targeting.community._hybrid import CommunityRankHybrid

    rows = np.flatnonzero(train.ranked)
    model = CommunityRankHybrid().fit(
        train.X.iloc[rows], train.percentiles[rows], community=train.ranking[rows],
        sample_weight=train.weight[rows],
    )
    return np.asarray(model.predict(ev.X), dtype=np.float64)


def _blend(train: TrainingRows, ev: EvaluationRows) -> FloatArray:
    from targeting.community._blend import CommunityBlend

    known = np.flatnonzero(np.isfinite(train.log_welfare))
    model = CommunityBlend().fit(
        train.X.iloc[known], train.log_welfare[known], rank=train.consensus[known],
        community=train.unit[known], sample_weight=train.weight[known],
    )
    return np.asarray(model.predict(ev.X, rank=ev.consensus), dtype=np.float64)


def default_methods() -> dict[str, Method]:
    """PMT (OLS), the anchor's PMT, CBT, the hybrid (with and without the PMT prior) and the blend."""
    methods = [
        Method("pmt", "PMT (OLS; welfare of all training communities)", _pmt_all, uses_k=False),
        Method("pmt_k", "PMT (OLS; welfare of the k ranking communities only, as the anchor)", _pmt_k),
        Method("cbt", "CBT (consensus rank of the community itself)", _cbt, uses_k=False, uses_own_rank=True),
        Method("hybrid", "Hybrid (rank-ordered logit, PMT prior)", _hybrid),
        Method("hybrid_ranks", "Hybrid (rank-ordered logit, ranks only)", _hybrid_ranks_only),
        Method("blend", "Blend (PMT + own rank, gamma out of fold)", _blend, uses_own_rank=True),
    ]
    return {m.name: m for m in methods}


# ---- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommunityEvaluation:
    """Results: per-repetition values, the summary with intervals, and the group breakdown."""

    per_repeat: pd.DataFrame
    summary: pd.DataFrame
    groups: pd.DataFrame
    splits: list[Split]
    protocol: Protocol
    labels: dict[str, str]

    def table(self, metrics: Sequence[str], *, k: int | None = None) -> pd.DataFrame:
        """Wide view: one row per (k, method), "estimate [low, high]" per metric."""
        s = self.summary if k is None else self.summary[self.summary["k"] == k]
        s = s[s["metric"].isin(metrics)]
        cell = s.apply(lambda r: f"{r.estimate:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]", axis=1)
        wide = s.assign(cell=cell).pivot_table(
            index=["k", "method"], columns="metric", values="cell", aggfunc="first", sort=False
        )
        return wide[[m for m in metrics if m in wide.columns]]


@dataclass
class _Store:
    """Per-community sums for the bootstrap: (repetition x community) per metric part."""

    n_units: int
    parts: dict[tuple[int, str, str], list[FloatArray]] = field(default_factory=dict)

    def add(self, key: tuple[int, str, str], unit: IntArray, values: FloatArray) -> None:
        sums = np.bincount(unit, weights=values, minlength=self.n_units).astype(np.float64)
        self.parts.setdefault(key, []).append(sums)

    def matrix(self, key: tuple[int, str, str]) -> FloatArray:
        return np.vstack(self.parts[key])


def _ratio_parts(poor: BoolArray, sel: BoolArray, w: FloatArray) -> dict[str, tuple[FloatArray, FloatArray]]:
    return {
        "exclusion": (w * (poor & ~sel), w * poor),
        "inclusion": (w * (~poor & sel), w * sel),
        "recall": (w * (poor & sel), w * poor),
        "selected": (w * sel, w),
    }


def _moment_parts(a: FloatArray, b: FloatArray, w: FloatArray) -> list[FloatArray]:
    return [w, w * a, w * b, w * a * a, w * b * b, w * a * b]


def _corr_from_moments(m: list[FloatArray]) -> FloatArray:
    sw, sa, sb, saa, sbb, sab = m
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab / sw - (sa / sw) * (sb / sw)
        va = saa / sw - (sa / sw) ** 2
        vb = sbb / sw - (sb / sw) ** 2
        out = cov / np.sqrt(va * vb)
    return np.where((va > 0) & (vb > 0), out, np.nan)


def evaluate_community_targeting(
    data: CommunityData,
    protocol: Protocol | None = None,
    *,
    methods: Mapping[str, Method] | None = None,
    baseline: str = "pmt",
    group_columns: Sequence[str] = DEFAULT_GROUPS,
    min_cell: MinCell | None = None,
) -> CommunityEvaluation:
    """Run the protocol (module notes) and summarise it with cluster-bootstrap intervals."""
    proto = protocol or Protocol()
    meths = dict(methods or default_methods())
    if baseline not in meths:
        raise ValueError(f"baseline {baseline!r} is not among the methods {sorted(meths)}")
    rule = min_cell or MinCell()
    splits = community_splits(data, proto)
    n_units = int(data.unit.max()) + 1
    store = _Store(n_units)
    groups = [g for g in group_columns if g in data.groups.columns]
    seen_in_group: dict[str, BoolArray] = {g: np.zeros(len(data.X), bool) for g in groups}
    records: list[dict[str, Any]] = []
    for split in splits:
        ev_mask = np.isin(data.unit, split.evaluation) & data.evaluable & ~np.isnan(data.consensus)
        ev_mask &= np.isfinite(data.log_welfare)
        ev_idx = np.flatnonzero(ev_mask)
        ev = EvaluationRows(
            X=data.X.iloc[ev_idx],
            consensus=data.consensus[ev_idx],
            ranking=data.ranking[ev_idx],
            unit=data.unit[ev_idx],
            weight=data.weight[ev_idx],
        )
        y, w, ranking = data.log_welfare[ev_idx], ev.weight, ev.ranking
        shares = population_shares(y, w)
        truth = {q: shares < q for q in (*proto.coverages, proto.group_coverage)}
        share = data.community_share[ev_idx]
        community_poor = select_within_community(ev.consensus, ranking, share, sample_weight=w)
        y_pct = rank_percentiles(y, ranking, poorer="low", sample_weight=w)
        group_masks = {g: data.groups[g].to_numpy(dtype=bool)[ev_idx] for g in groups}
        for g, mask in group_masks.items():
            seen_in_group[g][ev_idx[mask]] = True
        cache: dict[str, FloatArray] = {}
        for k in proto.ks:
            train = _training_rows(data, split, k)
            if np.isin(train.unit, split.evaluation).any():  # the protocol's promise, checked
                raise RuntimeError("a training row belongs to an evaluation community")
            for name, m in meths.items():
                if m.uses_k or name not in cache:
                    score = np.asarray(m.score(train, ev), dtype=np.float64)
                    if score.shape != (ev_idx.shape[0],):
                        raise ValueError(f"method {name!r} returned {score.shape}, expected ({ev_idx.size},)")
                    cache[name] = score
                score = cache[name]
                records += _record(store, (k, name), split.repeat, score, truth, community_poor, share,
                                   y_pct, ev, proto, group_masks)
    per_repeat = pd.DataFrame.from_records(records)
    summary = _summarise(store, per_repeat, proto, baseline, n_units)
    group_table = _summarise_groups(store, per_repeat, proto, groups, seen_in_group, data, rule, n_units)
    labels = {n: m.label for n, m in meths.items()}
    return CommunityEvaluation(per_repeat, summary, group_table, splits, proto, labels)


def _training_rows(data: CommunityData, split: Split, k: int) -> TrainingRows:
    idx = np.flatnonzero(np.isin(data.unit, split.training))
    ranked = np.isin(data.unit[idx], split.ranked(k))
    pct = np.where(ranked[:, None], data.percentiles[idx], np.nan)
    return TrainingRows(
        X=data.X.iloc[idx],
        log_welfare=data.log_welfare[idx],
        percentiles=pct,
        consensus=np.where(ranked, data.consensus[idx], np.nan),
        ranking=data.ranking[idx],
        unit=data.unit[idx],
        weight=data.weight[idx],
        ranked=ranked & ~np.isnan(data.consensus[idx]),
    )


def _record(
    store: _Store,
    key: tuple[int, str],
    repeat: int,
    score: FloatArray,
    truth: dict[float, BoolArray],
    community_poor: BoolArray,
    share: FloatArray,
    y_pct: FloatArray,
    ev: EvaluationRows,
    proto: Protocol,
    group_masks: dict[str, BoolArray],
) -> list[dict[str, Any]]:
    """Point values (from the audit metric functions) and the per-community sums of one run."""
    k, name = key
    w, unit, ranking = ev.weight, ev.unit, ev.ranking
    base = {"repeat": repeat, "k": k, "method": name}
    out: list[dict[str, Any]] = []

    def put(metric: str, value: float, group: str = "") -> None:
        out.append({**base, "group": group, "metric": metric, "value": float(value)})

    def add(metric: str, num: FloatArray, den: FloatArray) -> None:
        store.add((k, name, f"{metric}:num"), unit, num)
        store.add((k, name, f"{metric}:den"), unit, den)

    selections = {q: select_within_community(score, ranking, q, sample_weight=w) for q in truth}
    for q in proto.coverages:
        sel, poor, tag = selections[q], truth[q], f"{round(100 * q)}"
        put(f"exclusion_error_{tag}", exclusion_error_rate(poor, sel, sample_weight=w))
        put(f"inclusion_error_{tag}", inclusion_error_rate(poor, sel, sample_weight=w))
        add(f"exclusion_error_{tag}", w * (poor & ~sel), w * poor)
        add(f"inclusion_error_{tag}", w * (~poor & sel), w * sel)
    sel_c = select_within_community(score, ranking, share, sample_weight=w)
    put("community_recall", poor_coverage_rate(community_poor, sel_c, sample_weight=w))
    add("community_recall", w * (community_poor & sel_c), w * community_poor)
    s_pct = rank_percentiles(score, ranking, poorer="low", sample_weight=w)
    for metric, other in (("spearman_welfare", y_pct), ("spearman_community", ev.consensus)):
        parts = _moment_parts(s_pct, other, w)
        put(metric, float(_corr_from_moments([np.array(p.sum()) for p in parts])))
        for j, part in enumerate(parts):
            store.add((k, name, f"{metric}:m{j}"), unit, part)

    # Groups at one coverage: how much of each group is selected, and the errors inside it.
    sel_g, poor_g = selections[proto.group_coverage], truth[proto.group_coverage]
    for g, mask in group_masks.items():
        wg = w[mask]
        put("selected_share", coverage_rate(poor_g[mask], sel_g[mask], sample_weight=wg), g)
        put("exclusion_error", exclusion_error_rate(poor_g[mask], sel_g[mask], sample_weight=wg), g)
        put("community_recall", poor_coverage_rate(community_poor[mask], sel_c[mask], sample_weight=wg), g)
        add(f"group:{g}:selected_share", w * sel_g * mask, w * mask)
        add(f"group:{g}:exclusion_error", w * (poor_g & ~sel_g) * mask, w * poor_g * mask)
        add(f"group:{g}:community_recall", w * (community_poor & sel_c) * mask, w * community_poor * mask)
    return out


def _multipliers(proto: Protocol, n_units: int) -> FloatArray:
    """Poisson(1) weight per community and replicate (the cluster bootstrap), seeded by the protocol."""
    rng = np.random.default_rng([proto.seed, 14])
    return rng.poisson(1.0, size=(proto.n_boot, n_units)).astype(np.float64)


def _replicates(store: _Store, key: tuple[int, str], metric: str, M: FloatArray) -> tuple[float, FloatArray]:
    """(point value, bootstrap replicates) of a metric's mean over repetitions."""
    k, name = key
    if metric.startswith("spearman"):
        parts = [store.matrix((k, name, f"{metric}:m{j}")) for j in range(6)]
        point = float(np.nanmean(_corr_from_moments([p.sum(axis=1) for p in parts])))
        reps = _corr_from_moments([M @ p.T for p in parts])
    else:
        num, den = store.matrix((k, name, f"{metric}:num")), store.matrix((k, name, f"{metric}:den"))
        with np.errstate(invalid="ignore", divide="ignore"):
            point = float(np.nanmean(np.where(den.sum(1) > 0, num.sum(1) / den.sum(1), np.nan)))
            d = M @ den.T
            reps = np.where(d > 0, (M @ num.T) / d, np.nan)
    with warnings.catch_warnings():
        # A replicate in which every repetition is undefined is NaN, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        return point, np.nanmean(reps, axis=1)


def _interval(reps: FloatArray, confidence: float) -> tuple[float, float]:
    ok = reps[np.isfinite(reps)]
    if ok.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return float(lo), float(hi)


def _summarise(
    store: _Store, per_repeat: pd.DataFrame, proto: Protocol, baseline: str, n_units: int
) -> pd.DataFrame:
    M = _multipliers(proto, n_units)
    overall = per_repeat[per_repeat["group"] == ""]
    rows = []
    metrics = list(dict.fromkeys(overall["metric"]))
    for (k, name), _ in overall.groupby(["k", "method"], sort=False):
        for metric in metrics:
            point, reps = _replicates(store, (k, name), metric, M)
            b_point, b_reps = _replicates(store, (k, baseline), metric, M)
            lo, hi = _interval(reps, proto.confidence)
            dlo, dhi = _interval(reps - b_reps, proto.confidence)
            rows.append({
                "k": k, "method": name, "metric": metric, "estimate": point, "ci_low": lo, "ci_high": hi,
                "difference": point - b_point, "diff_ci_low": dlo, "diff_ci_high": dhi,
                "sd_over_repeats": float(overall.loc[(overall["k"] == k) & (overall["method"] == name)
                                                     & (overall["metric"] == metric), "value"].std()),
            })
    out = pd.DataFrame(rows)
    out.attrs = {"baseline": baseline, "n_boot": proto.n_boot, "confidence": proto.confidence}
    return out


def _summarise_groups(
    store: _Store,
    per_repeat: pd.DataFrame,
    proto: Protocol,
    groups: Sequence[str],
    seen: dict[str, BoolArray],
    data: CommunityData,
    rule: MinCell,
    n_units: int,
) -> pd.DataFrame:
    """Per group: estimate, interval, ratio to the overall rate, and whether the cell is reportable."""
    M = _multipliers(proto, n_units)
    tag = f"{round(100 * proto.group_coverage)}"
    overall_metric = {"selected_share": None, "exclusion_error": f"exclusion_error_{tag}",
                      "community_recall": "community_recall"}
    cut = population_shares(np.nan_to_num(data.log_welfare, nan=np.inf), data.weight) < proto.group_coverage
    rows = []
    keys = per_repeat[["k", "method"]].drop_duplicates().itertuples(index=False)
    for k, name in keys:
        for g in groups:
            mask = seen[g]
            n_h, n_poor = int(mask.sum()), int((mask & cut).sum())
            w_poor = float(data.weight[mask & cut].sum())
            for metric, over in overall_metric.items():
                point, reps = _replicates(store, (k, name), f"group:{g}:{metric}", M)
                if over is None:
                    ref = float(proto.group_coverage)
                else:
                    ref, _ = _replicates(store, (k, name), over, M)
                lo, hi = _interval(reps, proto.confidence)
                truth_rule = metric == "exclusion_error"
                ok = n_h >= rule.households and (
                    not truth_rule or (n_poor >= rule.poor and w_poor >= rule.weighted_poor)
                )
                rows.append({
                    "k": k, "method": name, "group": g, "metric": metric,
                    "estimate": point if ok else np.nan, "ci_low": lo if ok else np.nan,
                    "ci_high": hi if ok else np.nan, "overall": ref,
                    "ratio": point / ref if ok and ref else np.nan,
                    "n_households": n_h, "n_poor": n_poor, "reportable": ok,
                    "note": None if ok else "too_small",
                })
    out = pd.DataFrame(rows)
    out.attrs = {"min_cell": rule.to_dict(), "coverage": proto.group_coverage,
                 "cell_counts": "distinct households of the group evaluated in any repetition; poor = "
                                "bottom share of the whole sample"}
    return out
