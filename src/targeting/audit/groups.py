"""Error rates by group (kecamatan, urban/rural, female head, ...) and by pairs of groups.

Every rate here depends on the data only through weighted counts of households in each group and
*state* (truth known, poor, selected by the model, eligible under the rules: 16 states). Point
estimates are therefore computed from that collapsed table with the same cell formulas as the
bootstrap kernels (:func:`~targeting.audit.bootstrap.rates_from_cells`, which the tests hold equal to
the metric functions of :mod:`targeting.audit.metrics`), and the tests check every estimate against
``fairlearn.metrics.MetricFrame`` applied to those metric functions with survey weights, household by
household. (fairlearn 0.15 itself, given one row per household or even the collapsed table, took
most of the audit's time on a 260,000-household registry: per-group argument handling in Python.)

Intervals (of each group's rate and of its difference to the overall rate) come from the same
Poisson bootstrap as the overall metrics. Households are first collapsed into *atoms* (one value of
every attribute and one state); each replicate sums its weights per atom once, and every grouping's
table is a sum of atoms, so the registry is read once per replicate block, not once per grouping.
With a cluster bootstrap the atoms' sums come from per-cluster totals. A cell too small to estimate a
rate reliably is reported as too small, never as a number (:class:`MinCell`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from targeting.audit import bootstrap as bs
from targeting.audit.decisions import (
    SUBJECTS,
    AuditData,
    BoolArray,
    FloatArray,
    IntArray,
    as_audit_data,
)
from targeting.audit.engine import RATE_FUNCTIONS
from targeting.audit.metrics import coverage_rate, exclusion_error_rate, inclusion_error_rate
from targeting.audit.overall import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT, DEFAULT_SEED

MISSING_GROUP = "NA"
N_STATES = 16  # truth known x poor x selected by the model x eligible under the rules
GROUP_COLUMNS: tuple[str, ...] = (
    "grouping",
    "feature_1",
    "value_1",
    "feature_2",
    "value_2",
    "subject",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "overall",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "n_households",
    "n_poor",
    "weighted_households",
    "weighted_poor",
    "n_denominator",
    "reportable",
    "note",
)


@dataclass(frozen=True)
class MinCell:
    """Smallest group a rate is reported for; smaller cells are shown as "too small".

    1. Every number needs at least ``households`` sample households in the cell.
    2. Every rate needs at least ``denominator`` sample households in its own denominator (the
       poor for the exclusion error, the selected for the beneficiary-based inclusion error, ...).
    3. Error rates measured against the truth also need at least ``poor`` sample poor households
       and at least ``weighted_poor`` poor households represented (sum of survey weights).
    """

    households: int = 50
    denominator: int = 30
    poor: int = 30
    weighted_poor: float = 100.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- states -------------------------------------------------------------------------------------


def household_states(data: AuditData) -> IntArray:
    """State of each household: 8 x truth known + 4 x poor + 2 x model pick + rules eligible."""
    known = data.truth_known.astype(np.int64)
    poor = (data.poor & data.truth_known).astype(np.int64)
    return 8 * known + 4 * poor + 2 * data.selected.astype(np.int64) + data.eligible.astype(np.int64)


def _state_bits(state: IntArray) -> tuple[BoolArray, BoolArray, BoolArray, BoolArray]:
    return (state & 8) > 0, (state & 4) > 0, (state & 2) > 0, (state & 1) > 0


def _pick(subject: str, model: BoolArray, eligible: BoolArray) -> BoolArray:
    if subject == "model":
        return model
    if subject == "rules":
        return eligible
    return model & eligible


def _state_to_cells(scheme: str) -> FloatArray:
    """(16 states x 5 cells) map: confusion cell of each state under a scheme.

    Schemes: a subject (truth vs that selection; unknown truth -> ``CELL_UNKNOWN``), or
    ``agreement`` (rules eligible in the role of "poor", the model's pick as "selected").
    """
    known, poor, model, eligible = _state_bits(np.arange(N_STATES))
    if scheme == "agreement":
        cell = 2 * eligible.astype(np.int64) + model
    else:
        sel = _pick(scheme, model, eligible)
        cell = np.where(known, 2 * poor.astype(np.int64) + sel, bs.CELL_UNKNOWN)
    out = np.zeros((N_STATES, bs.N_CELLS))
    out[np.arange(N_STATES), cell] = 1.0
    return out


# ---- metric functions for MetricFrame: y_true = poor, y_pred = 2 x model pick + rules eligible ------


def _decode(y_pred: Any) -> tuple[BoolArray, BoolArray]:
    code = np.asarray(y_pred, dtype=np.int64)
    return (code & 2) > 0, (code & 1) > 0


def _subject_metric(fn: Callable[..., float], subject: str) -> Callable[..., float]:
    def metric(y_true: Any, y_pred: Any, *, sample_weight: Any) -> float:
        return fn(y_true, _pick(subject, *_decode(y_pred)), sample_weight=sample_weight)

    return metric


def _rules_vs_model(fn: Callable[..., float]) -> Callable[..., float]:
    """``fn(rules eligible, model pick)``: the rules in the place of the truth."""

    def metric(y_true: Any, y_pred: Any, *, sample_weight: Any) -> float:
        model, eligible = _decode(y_pred)
        return fn(eligible, model, sample_weight=sample_weight)

    return metric


def _agreement(rules: Any, model: Any, *, sample_weight: Any = None) -> float:
    differ = np.asarray(rules, dtype=bool) != np.asarray(model, dtype=bool)
    return 1.0 - coverage_rate(rules, differ, sample_weight=sample_weight)


def _poverty_rate(poor: Any, selected: Any, *, sample_weight: Any = None) -> float:
    return coverage_rate(poor, poor, sample_weight=sample_weight)


Key = tuple[str, str]


@dataclass(frozen=True)
class _MetricSpec:
    """How one (subject, metric) is computed per group.

    ``function`` goes to MetricFrame; ``scheme`` names the state->cell map used by the bootstrap
    and ``rate`` reads the rate from ``bootstrap.rates_from_cells``; ``denominator`` gives the
    cells whose sample count must reach ``MinCell.denominator``; ``truth`` says whether the
    truth-based cell rule applies and whether the weight is restricted to rows with a truth.
    """

    function: Callable[..., float]
    scheme: str
    rate: str
    denominator: tuple[int, ...]
    truth: bool
    poor_rule: bool


_DENOMINATORS: dict[str, tuple[int, ...]] = {
    "exclusion_error": (2, 3),
    "poor_coverage": (2, 3),
    "inclusion_error": (1, 3),
    "inclusion_error_nonpoor": (0, 1),
    "targeting_differential": (0, 1, 2, 3),  # further: both poor and non-poor (see _denominator)
    "poverty_rate": (0, 1, 2, 3),
    "coverage": (0, 1, 2, 3),
    "agreement": (0, 1, 2, 3),
}


#: Truth-based rates reported by group, per subject. Coverage of the poor (= 1 − exclusion error)
#: and the targeting differential (= 1 − exclusion error − non-poor-based inclusion error) follow
#: from these, so they are left out: every metric costs one MetricFrame call per group.
GROUP_TRUTH_RATES: dict[str, tuple[str, ...]] = {
    "model": ("exclusion_error", "inclusion_error", "inclusion_error_nonpoor"),
    "rules": ("exclusion_error", "inclusion_error", "inclusion_error_nonpoor"),
    "model_within_rules": ("exclusion_error", "inclusion_error"),
}


def metric_specs(has_truth: bool, subjects: Sequence[str] = SUBJECTS) -> dict[Key, _MetricSpec]:
    """Every (subject, metric) reported by group (model–rules agreement only with the rules)."""
    specs: dict[Key, _MetricSpec] = {}
    for s in subjects:
        specs[s, "coverage"] = _MetricSpec(
            _subject_metric(coverage_rate, s), s, "coverage", _DENOMINATORS["coverage"], False, False
        )
    if has_truth:
        for s, rates in GROUP_TRUTH_RATES.items():
            if s not in subjects:
                continue
            for m in rates:
                specs[s, m] = _MetricSpec(
                    _subject_metric(RATE_FUNCTIONS[m], s), s, m, _DENOMINATORS[m], True, True
                )
        specs["truth", "poverty_rate"] = _MetricSpec(
            _poverty_rate, "model", "poverty_rate", _DENOMINATORS["poverty_rate"], True, False
        )
    if "rules" not in subjects:
        return specs
    specs["model_vs_rules", "agreement"] = _MetricSpec(
        _rules_vs_model(_agreement), "agreement", "agreement", _DENOMINATORS["agreement"], False, False
    )
    specs["model_vs_rules", "model_not_rules"] = _MetricSpec(
        _rules_vs_model(inclusion_error_rate), "agreement", "inclusion_error", (1, 3), False, False
    )
    specs["model_vs_rules", "rules_not_model"] = _MetricSpec(
        _rules_vs_model(exclusion_error_rate), "agreement", "exclusion_error", (2, 3), False, False
    )
    return specs


def _denominator(spec: _MetricSpec, counts: FloatArray) -> FloatArray:
    """Sample households in a rate's denominator, per group (counts: G x 5 cells)."""
    if spec.rate == "targeting_differential":
        return np.minimum(counts[:, 2] + counts[:, 3], counts[:, 0] + counts[:, 1])
    return counts[:, list(spec.denominator)].sum(axis=1)


# ---- groupings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """One breakdown: the attributes, the observed groups and each household's group."""

    attrs: tuple[str, ...]
    groups: list[tuple[str, ...]]  # observed value combinations, sorted
    code: IntArray  # each household's position in ``groups``

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def name(self) -> str:
        return " × ".join(self.attrs)


def make_grouping(frame: pd.DataFrame, attrs: Sequence[str]) -> Grouping:
    """Group households by the values of ``attrs`` (missing values form the group ``NA``)."""
    code = np.zeros(len(frame), dtype=np.int64)
    labels: list[np.ndarray] = []
    sizes: list[int] = []
    for a in attrs:  # one or two attributes
        text = frame[a].astype("string").fillna(MISSING_GROUP)
        c, uniq = pd.factorize(text, sort=True)
        code = code * len(uniq) + c
        labels.append(np.asarray(uniq, dtype=object))
        sizes.append(len(uniq))
    observed, inverse = np.unique(code, return_inverse=True)
    groups = []
    for k in observed.tolist():  # a loop over groups, not households
        parts = []
        for lab, size in zip(reversed(labels), reversed(sizes), strict=True):
            parts.append(str(lab[k % size]))
            k //= size
        groups.append(tuple(reversed(parts)))
    return Grouping(tuple(attrs), groups, inverse.astype(np.int64))


def groupings_for(attrs: Sequence[str], intersections: bool) -> list[tuple[str, ...]]:
    """Each attribute alone, then (if asked) every pair."""
    singles = [(a,) for a in attrs]
    return singles + (list(combinations(attrs, 2)) if intersections else [])


def _factorized(frame: pd.DataFrame, attrs: Sequence[str]) -> dict[str, tuple[IntArray, np.ndarray]]:
    """Each attribute's codes (sorted values, missing as ``NA``) and labels, computed once."""
    out = {}
    for a in attrs:
        text = frame[a].astype("string").fillna(MISSING_GROUP)
        c, uniq = pd.factorize(text, sort=True)
        out[a] = (c.astype(np.int64), np.asarray(uniq, dtype=object))
    return out


def _grouping(attrs: Sequence[str], codes: dict[str, tuple[IntArray, np.ndarray]]) -> Grouping:
    """:func:`make_grouping` from attribute codes already computed (same groups, same order).

    ``codes`` may be those of any rows (households, or atoms standing for them): ``code`` is per row.
    """
    code = np.zeros(len(codes[attrs[0]][0]), dtype=np.int64)
    for a in attrs:
        c, uniq = codes[a]
        code = code * len(uniq) + c
    observed, inverse = np.unique(code, return_inverse=True)
    groups = []
    for k in observed.tolist():  # a loop over groups, not households
        parts = []
        for a in reversed(attrs):
            uniq = codes[a][1]
            parts.append(str(uniq[k % len(uniq)]))
            k //= len(uniq)
        groups.append(tuple(reversed(parts)))
    return Grouping(tuple(attrs), groups, inverse.astype(np.int64))


def _state_selection(scheme: str) -> FloatArray:
    """(16,) indicator of the states a subject selects (for coverage over every household)."""
    _, _, model, eligible = _state_bits(np.arange(N_STATES))
    return _pick(scheme, model, eligible).astype(np.float64)


def _estimates(w_states: FloatArray, spec: _MetricSpec, maps: dict[str, FloatArray]) -> FloatArray:
    """A spec's rate per row of ``w_states`` (rows x 16 weighted state counts).

    As the metric functions compute them: truth-based rates on households with a measured truth
    (unknown-truth states fall in ``CELL_UNKNOWN``, which no rate reads); coverage of a subject on
    every household; the model–rules scheme on every household.
    """
    if spec.rate == "coverage" and spec.scheme != "agreement":
        return bs._div(w_states @ _state_selection(spec.scheme), w_states.sum(axis=-1))
    return bs.rates_from_cells(w_states @ maps[spec.scheme])[spec.rate]


def group_metrics(
    decisions: pd.DataFrame | AuditData,
    *,
    by: Sequence[str] | None = None,
    intersections: bool = True,
    min_cell: MinCell | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    cluster: str | None = None,
) -> pd.DataFrame:
    """Targeting metrics by group and by pairs of groups, with disparities against the overall rate.

    Parameters
    ----------
    decisions : the decisions frame (or an :class:`AuditData`).
    by : group attributes; those absent from the frame are skipped (listed in
        ``attrs["missing_groups"]``).
    intersections : also every pair of attributes (e.g. urban × female head).
    min_cell : smallest reportable cell (default :class:`MinCell`).
    n_boot, seed, confidence, cluster : as in :func:`~targeting.audit.overall.audit_metrics`.

    Returns
    -------
    Tidy DataFrame (:data:`GROUP_COLUMNS`), one row per (grouping, group, subject, metric):
    ``estimate`` with its interval, the ``overall`` rate, ``difference`` (group − overall) with
    its interval and ``ratio`` (group ÷ overall); sample and weighted counts of the cell;
    ``reportable`` False (every number ``nan``, ``note`` = ``too_small``) below ``min_cell``.
    Truth-based metrics (subjects model, rules, model_within_rules; and ``truth`` /
    ``poverty_rate``) need a measured truth; coverage and model–rules agreement are always there.
    """
    data = as_audit_data(decisions)
    rule = min_cell or MinCell()
    attrs = data.group_columns(by)
    states = household_states(data)
    specs = metric_specs(data.has_truth, data.subjects)
    schemes = sorted({spec.scheme for spec in specs.values()})
    maps = {sch: _state_to_cells(sch) for sch in schemes}
    codes = _factorized(data.frame, attrs)

    # Atoms: households with the same value of every attribute and the same state (one integer key).
    atom_key = states.astype(np.int64)
    radix = N_STATES
    for a in attrs:
        c, uniq = codes[a]
        if radix * max(len(uniq), 1) >= 2**62:  # too many combinations for one integer: factorise so far
            atom_key = np.unique(atom_key, return_inverse=True)[1].reshape(-1).astype(np.int64)
            radix = int(atom_key.max(initial=0)) + 1
        atom_key = atom_key + radix * c
        radix *= max(len(uniq), 1)
    _, first, atom_of = np.unique(atom_key, return_index=True, return_inverse=True)
    atom_of = atom_of.reshape(-1)
    n_atoms = first.shape[0]
    atom_state = states[first]
    # Groupings are made on the atoms (thousands), not on the households.
    atom_codes = {a: (codes[a][0][first], codes[a][1]) for a in attrs}
    groupings = [_grouping(a, atom_codes) for a in groupings_for(attrs, intersections)]
    # Each grouping's (group x state) cell of every atom, as a sparse (atoms x cells) sum.
    to_cells = [
        sparse.csr_array((np.ones(n_atoms), (np.arange(n_atoms), g.code * N_STATES + atom_state)),
                         shape=(n_atoms, g.n_groups * N_STATES))
        for g in groupings
    ]

    # Replicates: weights summed per atom once per block (per cluster first with a cluster bootstrap).
    reps: list[dict[Key, list[FloatArray]]] = [{k: [] for k in specs} for _ in groupings]
    overall_reps: list[dict[Key, list[FloatArray]]] = [{k: [] for k in specs} for _ in groupings]
    clusters = None if cluster is None else data.frame[cluster].to_numpy()
    per_unit: sparse.csr_array | None = None
    for M, unit_of in bs.replicate_multipliers(data.n, n_boot=n_boot, seed=seed, cluster=clusters):
        if per_unit is None:
            per_unit = bs.unit_sums(data.rate_weight, atom_of, n_atoms, unit_of)
        atoms = np.asarray(per_unit.T @ M.T).T  # (replicates x atoms)
        for gi, (g, cells_of) in enumerate(zip(groupings, to_cells, strict=True)):
            sums = np.asarray(atoms @ cells_of).reshape(M.shape[0], g.n_groups, N_STATES)
            rates = {}
            for sch, m in maps.items():
                cells = sums @ m
                rates[sch] = (bs.rates_from_cells(cells), bs.rates_from_cells(cells.sum(axis=1)))
            for key, spec in specs.items():
                by_g, tot = rates[spec.scheme]
                reps[gi][key].append(by_g[spec.rate])
                overall_reps[gi][key].append(tot[spec.rate])

    n_atom = np.bincount(atom_of, minlength=n_atoms).astype(np.float64)
    w_atom = np.bincount(atom_of, weights=data.rate_weight, minlength=n_atoms)
    records: list[dict[str, Any]] = []
    known, poor, _, _ = _state_bits(np.arange(N_STATES))
    for gi, g in enumerate(groupings):
        n_states = np.asarray(to_cells[gi].T @ n_atom).reshape(-1, N_STATES)
        w_states = np.asarray(to_cells[gi].T @ w_atom).reshape(-1, N_STATES)
        base = {
            "n_households": n_states.sum(axis=1).round().astype(np.int64),
            "n_poor": n_states[:, known & poor].sum(axis=1).round().astype(np.int64),
            "weighted_households": w_states.sum(axis=1),
            "weighted_poor": w_states[:, known & poor].sum(axis=1),
        }
        cell_ok = base["n_households"] >= rule.households
        truth_ok = cell_ok & (base["n_poor"] >= rule.poor) & (base["weighted_poor"] >= rule.weighted_poor)
        for (subject, metric), spec in specs.items():
            denom = _denominator(spec, n_states @ maps[spec.scheme])
            ok = (truth_ok if spec.poor_rule else cell_ok) & (denom >= rule.denominator)
            store, ostore = reps[gi][subject, metric], overall_reps[gi][subject, metric]
            records += _records(
                g,
                subject,
                metric,
                estimate=_estimates(w_states, spec, maps),
                overall=float(_estimates(w_states.sum(axis=0), spec, maps)),
                reps=np.concatenate(store, axis=0) if store else None,
                overall_reps=np.concatenate(ostore, axis=0) if ostore else None,
                denominators=denom,
                reportable=ok,
                base=base,
                confidence=confidence,
            )
    table = pd.DataFrame.from_records(records, columns=list(GROUP_COLUMNS))
    table.attrs = {
        "min_cell": rule.to_dict(),
        "groups": attrs,
        "missing_groups": [a for a in (by or ()) if a not in attrs],
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "has_truth": data.has_truth,
    }
    return table


def _records(
    grouping: Grouping,
    subject: str,
    metric: str,
    *,
    estimate: FloatArray,
    overall: float,
    reps: FloatArray | None,
    overall_reps: FloatArray | None,
    denominators: FloatArray,
    reportable: BoolArray,
    base: dict[str, FloatArray],
    confidence: float,
) -> list[dict[str, Any]]:
    """One record per group for a metric; cells below the minimum carry no number."""
    nan = np.full(grouping.n_groups, np.nan)
    low = high = dlow = dhigh = nan
    if reps is not None and overall_reps is not None:
        low, high = bs.percentile_interval(reps, confidence)
        dlow, dhigh = bs.percentile_interval(reps - overall_reps[:, None], confidence)
    est = np.where(reportable, estimate, np.nan)
    ratio = bs._div(est, np.full_like(est, overall)) if np.isfinite(overall) else nan
    two = len(grouping.attrs) > 1
    out = []
    for gi, values in enumerate(grouping.groups):  # a loop over groups (tens), not households
        ok = bool(reportable[gi])
        out.append(
            {
                "grouping": grouping.name,
                "feature_1": grouping.attrs[0],
                "value_1": values[0],
                "feature_2": grouping.attrs[1] if two else None,
                "value_2": values[1] if two else None,
                "subject": subject,
                "metric": metric,
                "estimate": float(est[gi]),
                "ci_low": float(low[gi]) if ok else np.nan,
                "ci_high": float(high[gi]) if ok else np.nan,
                "overall": overall,
                "difference": float(est[gi] - overall),
                "diff_ci_low": float(dlow[gi]) if ok else np.nan,
                "diff_ci_high": float(dhigh[gi]) if ok else np.nan,
                "ratio": float(ratio[gi]),
                "n_households": int(base["n_households"][gi]),
                "n_poor": int(base["n_poor"][gi]),
                "weighted_households": float(base["weighted_households"][gi]),
                "weighted_poor": float(base["weighted_poor"][gi]),
                "n_denominator": int(denominators[gi]),
                "reportable": ok,
                "note": None if ok else "too_small",
            }
        )
    return out
