"""Budget and poverty-impact scenarios: who each targeting method reaches, its cost, its effect on poverty.

A *method* is an order in which households would be taken, and the households it may take at all:

* ``model``: lowest predicted welfare first (the PMT); at the programme's cut-off, its desil range;
* ``rules``: households eligible under the rule set, most criteria met first (then the model's order);
* ``model_within_rules``: eligible households only, in the model's order; at the cut-off, eligible
  households inside the programme's desil range;
* ``quota_kecamatan``: every kecamatan gets the same share of its persons (a quota proportional to
  population), each in the model's order; at the cut-off, the model's overall coverage of persons;
* ``perfect``: lowest *measured* welfare first (only where welfare was measured): the best any method
  could do, a benchmark, not a method an office can use.

Each method is evaluated at two points: the programme's own cut-off (``cutoff``) and a common budget
(``budget``; by default the cost of the model's cut-off selection, so methods compare at equal cost).
The poverty headcount (FGT0) and poverty gap (FGT1) after transfers add each household's income-like
benefits (per capita per month) to its measured welfare; everything counts persons (weight x size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting.errors import InputFileError
from targeting.simulate._benefits import Benefit, BenefitConfig, load_benefits

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

METHODS: tuple[str, ...] = ("model", "rules", "model_within_rules", "quota_kecamatan", "perfect")
BASES: tuple[str, ...] = ("cutoff", "budget")
RESULT_COLUMNS: tuple[str, ...] = (
    "program", "method", "basis", "households", "persons", "cost", "leakage_cost", "leakage_share",
    "budget", "budget_unspent", "headcount_before", "headcount_after", "headcount_reduction",
    "gap_before", "gap_after", "gap_reduction", "persons_lifted", "cost_per_person_lifted", "amount_basis",
)  # fmt: skip


@dataclass(frozen=True)
class SimHouseholds:
    """The arrays a simulation reads from a decisions table (one entry per household)."""

    frame: pd.DataFrame
    weight: FloatArray
    size: FloatArray
    predicted: FloatArray
    desil: IntArray
    eligible: BoolArray | None  # None: no rule set applied
    n_met: FloatArray
    region: npt.NDArray[np.object_] | None
    welfare: FloatArray  # measured per-capita welfare per month (nan where unknown)
    poor: BoolArray | None  # truth where known (None without any truth)
    line: float | None
    _orders: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def persons(self) -> FloatArray:
        return self.weight * self.size

    @property
    def has_welfare(self) -> bool:
        return self.line is not None and bool(np.isfinite(self.welfare).any())


def households_from(
    frame: pd.DataFrame, *, line: float | None = None, region: str = "kecamatan"
) -> SimHouseholds:
    """Read the columns a simulation needs from a decisions table (see :mod:`targeting.decide.schema`)."""
    need = ["weight", "household_size", "predicted_welfare", "desil"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InputFileError(f"decisions: missing column(s) {', '.join(missing)} for a simulation")
    frame = frame.reset_index(drop=True)
    eligible = None
    if "rule_verdict" in frame.columns:
        eligible = frame["rule_verdict"].astype("string").eq("eligible").fillna(False).to_numpy(dtype=bool)
    n_met = (
        frame["rule_n_met"].fillna(0).to_numpy(dtype=float)
        if "rule_n_met" in frame.columns
        else np.zeros(len(frame))
    )
    welfare = (
        pd.to_numeric(frame["welfare_true"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if "welfare_true" in frame.columns
        else np.full(len(frame), np.nan)
    )
    if line is None and "poverty_line" in frame.columns:
        lines = pd.to_numeric(frame["poverty_line"], errors="coerce").dropna().unique()
        line = float(lines[0]) if len(lines) == 1 else None
    poor = None
    if line is not None and np.isfinite(welfare).any():
        poor = np.where(np.isfinite(welfare), welfare < line, False)
    elif "poor_true" in frame.columns:
        poor = frame["poor_true"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return SimHouseholds(
        frame=frame,
        weight=frame["weight"].to_numpy(dtype=float),
        size=frame["household_size"].to_numpy(dtype=float),
        predicted=frame["predicted_welfare"].to_numpy(dtype=float),
        desil=frame["desil"].to_numpy(dtype=np.int64),
        eligible=eligible,
        n_met=n_met,
        region=frame[region].astype("string").fillna("NA").to_numpy(dtype=object)
        if region in frame
        else None,
        welfare=welfare,
        poor=poor,
        line=line,
    )


# ---- orders -----------------------------------------------------------------------------------------


def _model_order(h: SimHouseholds) -> IntArray:
    if h._orders.get("model") is None:
        h._orders["model"] = np.lexsort((np.arange(len(h.predicted)), h.predicted)).astype(np.int64)
    return h._orders["model"]


def method_order(h: SimHouseholds, method: str) -> IntArray | None:
    """Households in the order ``method`` would take them (only those it may take); None if it cannot run."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if method not in h._orders:
        h._orders[method] = _method_order(h, method)
    return h._orders[method]


def _method_order(h: SimHouseholds, method: str) -> IntArray | None:
    if method == "model":
        return _model_order(h)
    if method in ("rules", "model_within_rules"):
        if h.eligible is None:
            return None
        base = _model_order(h)
        order = base[h.eligible[base]]
        if method == "rules":  # most criteria met first; ties in the model's order (stable sort)
            order = order[np.argsort(-h.n_met[order], kind="stable")]
        return order
    if method == "quota_kecamatan":
        if h.region is None:
            return None
        base = _model_order(h)
        pers = h.persons
        codes, _ = pd.factorize(h.region)
        g = codes[base]
        # A household's place: the share of its kecamatan's persons taken before it (model order inside).
        by_group = np.argsort(g, kind="stable")  # base positions grouped by kecamatan, model order kept
        rows = base[by_group]
        p = pers[rows]
        cum = np.cumsum(p)
        starts = np.r_[0, np.flatnonzero(np.diff(g[by_group])) + 1]
        sizes = np.diff(np.r_[starts, len(rows)])
        offset = np.repeat(cum[starts] - p[starts], sizes)
        totals = np.repeat(np.add.reduceat(p, starts), sizes)
        share = np.empty(len(base))
        share[rows] = (cum - p - offset) / np.maximum(totals, 1e-12)
        return np.lexsort((np.arange(len(share)), share)).astype(np.int64)
    if h.line is None or not h.has_welfare:  # perfect
        return None
    known = np.isfinite(h.welfare)
    order = np.lexsort((np.arange(len(h.welfare)), np.where(known, h.welfare, np.inf)))
    return order[known[order]].astype(np.int64)


def cutoff_selection(h: SimHouseholds, method: str, desil_min: int, desil_max: int) -> BoolArray | None:
    """Who ``method`` selects at a programme's desil cut-off (see the module docstring)."""
    in_range = (h.desil >= desil_min) & (h.desil <= desil_max)
    if method == "model":
        return in_range
    if method == "rules":
        return None if h.eligible is None else h.eligible.copy()
    if method == "model_within_rules":
        return None if h.eligible is None else in_range & h.eligible
    order = method_order(h, method)
    if order is None:
        return None
    # Same persons as the model's cut-off, taken in this method's order.
    target = float(h.persons[in_range].sum())
    cum = np.cumsum(h.persons[order])
    take = order[: int(np.searchsorted(cum, target * (1 + 1e-12), side="right"))]
    out = np.zeros(len(h.weight), dtype=bool)
    out[take] = True
    return out


# ---- evaluation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfers:
    """What each household would receive from one programme, and what that does, per household.

    ``annual`` Rp per year (cost), ``income_pc_month`` what it adds to welfare per person per month;
    ``cost``, ``leak`` (cost to the non-poor), ``lifted`` (persons leaving poverty) and ``gap_fall``
    (persons x fall in the poverty gap) are each household's share of a selection's totals, so any
    selection's totals are sums over it (and a cost curve is a cumulative sum).
    """

    annual: FloatArray
    income_pc_month: FloatArray
    basis: str
    cost: FloatArray
    leak: FloatArray | None
    lifted: FloatArray | None
    gap_fall: FloatArray | None


def _fgt(h: SimHouseholds, extra: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """Per household: poor (0/1) and poverty gap ((z − y)/z, 0 if not poor) with ``extra`` income added."""
    assert h.line is not None
    y = h.welfare if extra is None else h.welfare + extra
    known = np.isfinite(y)
    gap = np.where(known, np.clip((h.line - np.where(known, y, 0)) / h.line, 0, None), 0.0)
    return (gap > 0).astype(float), gap


def transfers(h: SimHouseholds, benefit: Benefit, day: date) -> Transfers:
    annual, basis = benefit.annual_amounts(h.frame, day)
    income = annual / 12.0 / h.size if benefit.counts_as_income else np.zeros_like(annual)
    cost = h.weight * annual
    leak = cost * ~h.poor if h.poor is not None else None
    lifted = gap_fall = None
    if h.has_welfare:
        p0, g0 = _fgt(h)
        p1, g1 = _fgt(h, income)
        lifted, gap_fall = h.persons * (p0 - p1), h.persons * (g0 - g1)
    return Transfers(annual, income, basis, cost, leak, lifted, gap_fall)


def _baseline(h: SimHouseholds) -> tuple[float, float, float]:
    """(persons with measured welfare, poor persons, persons x poverty gap) before any transfer."""
    if "baseline" not in h._orders:
        known = np.isfinite(h.welfare)
        p0, g0 = _fgt(h)
        pers = h.persons
        h._orders["baseline"] = np.array([float(pers[known].sum()), float(pers @ p0), float(pers @ g0)])
    total, poor, gap = h._orders["baseline"]
    return float(total), float(poor), float(gap)


def evaluate_selection(h: SimHouseholds, t: Transfers, selected: BoolArray) -> dict[str, float]:
    """Reach, cost, leakage and (where welfare is measured) poverty after transfers of one selection."""
    sel = selected.astype(np.float64)
    cost = float(t.cost @ sel)
    out: dict[str, float] = {
        "households": float(h.weight @ sel),
        "persons": float(h.persons @ sel),
        "cost": cost,
        "leakage_cost": float("nan"),
        "leakage_share": float("nan"),
    }
    if t.leak is not None:
        leak = float(t.leak @ sel)
        out["leakage_cost"] = leak
        out["leakage_share"] = leak / cost if cost > 0 else float("nan")
    for k in ("headcount_before", "headcount_after", "gap_before", "gap_after", "persons_lifted"):
        out[k] = float("nan")
    if t.lifted is not None and t.gap_fall is not None:
        total, poor, gap = _baseline(h)
        lifted = float(t.lifted @ sel)
        out["headcount_before"] = poor / total
        out["headcount_after"] = (poor - lifted) / total
        out["gap_before"] = gap / total
        out["gap_after"] = (gap - float(t.gap_fall @ sel)) / total
        out["persons_lifted"] = lifted
    return out


def budget_selection(h: SimHouseholds, t: Transfers, order: IntArray, budget: float) -> BoolArray:
    """Households taken in ``order`` while the cumulative cost stays within ``budget``."""
    cum = np.cumsum(t.cost[order])
    take = order[: int(np.searchsorted(cum, budget * (1 + 1e-12), side="right"))]
    out = np.zeros(len(h.weight), dtype=bool)
    out[take] = True
    return out


def cost_curve(h: SimHouseholds, t: Transfers, order: IntArray, points: int = 121) -> pd.DataFrame:
    """Cost against poverty headcount and gap as households are added in ``order`` (welfare measured)."""
    if t.lifted is None or t.gap_fall is None or order.size == 0:
        return pd.DataFrame(columns=["cost", "headcount_after", "gap_after", "households"])
    total, poor, gap = _baseline(h)
    pick = np.unique(np.linspace(0, order.size, points).round().astype(np.int64))

    def cum(x: FloatArray) -> FloatArray:
        return np.concatenate([[0.0], np.cumsum(x[order])])[pick]

    return pd.DataFrame(
        {
            "cost": cum(t.cost),
            "headcount_after": (poor - cum(t.lifted)) / total,
            "gap_after": (gap - cum(t.gap_fall)) / total,
            "households": cum(h.weight),
        }
    )


@dataclass(frozen=True)
class Simulation:
    """A simulation's table (:data:`RESULT_COLUMNS`), cost curves per (programme, method) and its settings."""

    table: pd.DataFrame
    curves: dict[tuple[str, str], pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from targeting.audit.result import _plain  # the audit's JSON conversion (nan -> None)

        return _plain({"settings": self.settings, "table": self.table.to_dict(orient="records")})


def simulate(
    frame: pd.DataFrame,
    *,
    programs: Sequence[str] = ("sembako", "pkh"),
    methods: Sequence[str] = METHODS,
    budget: float | None = None,
    day: date | None = None,
    line: float | None = None,
    cutoffs: dict[str, tuple[int, int]] | None = None,
    benefits: BenefitConfig | None = None,
    reference_poverty: str | None = "kutai_kartanegara_2024",
) -> Simulation:
    """Each programme under each method, at the programme's cut-off and at a common budget.

    Parameters
    ----------
    frame : a decisions table (`targeting score` / `run`).
    programs : programme keys of ``benefits.yaml``.
    budget : Rp per year for the ``budget`` rows of every programme; default: the cost of the model's
        cut-off selection of that programme.
    day : the date whose benefit amounts apply (default: today).
    line : poverty line (Rp per capita per month; default: the table's ``poverty_line``).
    cutoffs : desil range per programme: the decisions table's own (``DecisionsMeta.programs``), else
        the programme cut-offs of ``pmt/programs.yaml``.
    """
    config = benefits or load_benefits()
    day = day or date.today()
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise InputFileError(f"unknown method(s) {', '.join(bad)} (known: {', '.join(METHODS)})")
    if budget is not None and not budget > 0:
        raise InputFileError(f"budget must be a positive amount of rupiah per year, not {budget}")
    h = households_from(frame, line=line)
    cutoffs = dict(cutoffs or {})
    if any(k not in cutoffs for k in programs):
        from targeting.pmt.programs import load_programs  # imports scikit-learn (the pmt package)

        cutoffs = {k: (p.desil_min, p.desil_max) for k, p in load_programs().programs.items()} | cutoffs
    records: list[dict[str, Any]] = []
    curves: dict[tuple[str, str], pd.DataFrame] = {}
    for key in programs:
        benefit = config.program(key)
        if key not in cutoffs:
            raise InputFileError(
                f"programme {key!r} has no desil cut-off (pmt/programs.yaml) and none was given"
            )
        lo, hi = cutoffs[key]
        t = transfers(h, benefit, day)
        model_cut = cutoff_selection(h, "model", lo, hi)
        assert model_cut is not None
        prog_budget = budget if budget is not None else float(t.cost[model_cut].sum())
        for method in methods:
            order = method_order(h, method)
            if order is None:
                continue
            cut = cutoff_selection(h, method, lo, hi)
            for basis, sel in (("cutoff", cut), ("budget", budget_selection(h, t, order, prog_budget))):
                if sel is None:
                    continue
                row: dict[str, Any] = {
                    "program": key,
                    "method": method,
                    "basis": basis,
                    **evaluate_selection(h, t, sel),
                    "budget": prog_budget if basis == "budget" else float("nan"),
                    "amount_basis": t.basis,
                }
                row["budget_unspent"] = prog_budget - row["cost"] if basis == "budget" else float("nan")
                records.append(row)
            curves[key, method] = cost_curve(h, t, order)
    table = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=list(RESULT_COLUMNS))
    if len(table):
        table["headcount_reduction"] = table["headcount_before"] - table["headcount_after"]
        table["gap_reduction"] = table["gap_before"] - table["gap_after"]
        lifted = table["persons_lifted"].where(table["persons_lifted"] > 0)
        table["cost_per_person_lifted"] = table["cost"] / lifted
    table = table.reindex(columns=list(RESULT_COLUMNS))
    ref = config.reference_poverty.get(reference_poverty) if reference_poverty else None
    settings: dict[str, Any] = {
        "programs": list(programs),
        "methods": [m for m in methods if any(k[1] == m for k in curves)],
        "budget": budget,
        "day": day.isoformat(),
        "line": h.line,
        "has_welfare": h.has_welfare,
        "has_rules": h.eligible is not None,
        "amounts": {
            k: {"weak": config.program(k).weak, "counts_as_income": config.program(k).counts_as_income}
            for k in programs
        },
        "reference_poverty": None if ref is None else ref.model_dump(mode="json"),
    }
    return Simulation(table, curves, settings)
