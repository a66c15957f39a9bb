"""Proof by simulation: how many wrong decisions each visit ordering corrects, on a registry with truth.

A visit reveals the household's truth and sets its decision to it. For each ordering and number of
visits N: households and persons corrected (a wrong decision visited), and the programme's
exclusion error (P∧¬S / P) and beneficiary-based inclusion error (S∧¬P / S) after the corrections,
counted in persons (household size; a registry has weight 1 per household).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RANDOM = "random"


def nearest_cut_order(pred_log_welfare: npt.ArrayLike, cut: float) -> IntArray:
    """The naive ordering: households whose predicted log welfare is closest to the cut first."""
    d = np.abs(np.asarray(pred_log_welfare, dtype=np.float64) - cut)
    return np.argsort(d, kind="stable").astype(np.int64)


def _n_distinct(positions: IntArray, n: int) -> int:
    """Distinct values among row positions in [0, n), by a mark per row.

    ``np.unique`` hashed 260,000 positions per ordering: most of a second of the audit.
    """
    seen = np.zeros(n, dtype=bool)
    seen[positions] = True
    return int(np.count_nonzero(seen))


def simulate_visits(
    selected: npt.ArrayLike,
    eligible_true: npt.ArrayLike,
    persons: npt.ArrayLike,
    orders: Mapping[str, npt.ArrayLike],
    visits: Sequence[int],
    *,
    random: bool = True,
) -> pd.DataFrame:
    """Errors corrected and errors left after N visits, for each ordering (row positions, best first).

    An ordering may be shorter than the registry (a flagged list ends): visits beyond it are not
    made, so its rows for larger N repeat its last state and report the visits actually made.
    With ``random``, a ``random`` row gives the exact expectation of visiting households uniformly
    at random (no simulation noise). Columns: ordering, visits, visits_made, households_corrected,
    persons_corrected, persons_corrected_per_1000_visits, exclusion_error, inclusion_error.
    """
    sel = np.asarray(selected, dtype=bool)
    truth = np.asarray(eligible_true, dtype=bool)
    pop = np.asarray(persons, dtype=np.float64)
    n = sel.size
    wrong = sel != truth
    poor_total = float(pop[truth].sum())
    excl0 = float(pop[truth & ~sel].sum())  # poor left out
    incl0 = float(pop[sel & ~truth].sum())  # non-poor selected
    sel_total0 = float(pop[sel].sum())
    rows = []

    def row(name: str, v: int, made: float, hh: float, persons_fixed: float, ex_fixed: float,
            in_fixed: float) -> None:
        # Correcting an exclusion adds the household to S; correcting an inclusion removes it.
        s_total = sel_total0 + ex_fixed - in_fixed
        rows.append({
            "ordering": name,
            "visits": v,
            "visits_made": made,
            "households_corrected": hh,
            "persons_corrected": persons_fixed,
            "persons_corrected_per_1000_visits": 1000 * persons_fixed / made if made else np.nan,
            "exclusion_error": (excl0 - ex_fixed) / poor_total if poor_total else np.nan,
            "inclusion_error": (incl0 - in_fixed) / s_total if s_total else np.nan,
        })

    for name, order in orders.items():
        o = np.asarray(order, dtype=np.int64)
        if o.size and (o.min() < 0 or o.max() >= n or _n_distinct(o, n) != o.size):
            raise ValueError(f"ordering {name!r} must list distinct row positions")
        ex = np.concatenate([[0.0], np.cumsum(np.where(truth & ~sel, pop, 0.0)[o])])
        inc = np.concatenate([[0.0], np.cumsum(np.where(sel & ~truth, pop, 0.0)[o])])
        hh = np.concatenate([[0], np.cumsum(wrong[o])])
        for v in visits:
            m = min(int(v), o.size)
            row(name, int(v), m, float(hh[m]), float(ex[m] + inc[m]), float(ex[m]), float(inc[m]))
    if random:
        ex_rate = excl0 / n
        in_rate = incl0 / n
        for v in visits:
            m = min(int(v), n)
            row(RANDOM, int(v), m, m * wrong.mean(), m * (ex_rate + in_rate), m * ex_rate, m * in_rate)
    return pd.DataFrame(rows)


def visit_curve(
    selected: npt.ArrayLike,
    eligible_true: npt.ArrayLike,
    persons: npt.ArrayLike,
    orders: Mapping[str, npt.ArrayLike],
    *,
    max_visits: int | None = None,
    points: int = 41,
) -> pd.DataFrame:
    """The curve the report draws: :func:`simulate_visits` on an even grid of visit counts."""
    n = np.asarray(selected).size
    top = n if max_visits is None else min(int(max_visits), n)
    grid = np.unique(np.linspace(0, top, points).round().astype(int))
    return simulate_visits(selected, eligible_true, persons, orders, list(grid))


def plot_visit_curve(curve: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Persons corrected, exclusion and inclusion error against visits, one line per ordering (a file)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    visit_curve_figure(curve, title=title).savefig(out, dpi=120)
    return out


def visit_curve_figure(curve: pd.DataFrame, *, title: str | None = None) -> Any:
    """The figure of :func:`plot_visit_curve` (a matplotlib ``Figure``; the report embeds it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, sharex=True)
    panels = (
        ("persons_corrected", "Orang terkoreksi / persons corrected"),
        ("exclusion_error", "Galat eksklusi / exclusion error"),
        ("inclusion_error", "Galat inklusi / inclusion error"),
    )
    for ax, (col, label) in zip(axes, panels, strict=True):
        for name, sub in curve.groupby("ordering", sort=False):
            ax.plot(sub["visits"], sub[col], label=str(name), linewidth=1.5,
                    linestyle="--" if name == RANDOM else "-")
        ax.set_xlabel("Kunjungan / visits")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def comparison_orders(
    frame: pd.DataFrame,
    *,
    cut: float,
    pred_log_column: str = "predicted_log_welfare",
    flagged_ids: Mapping[str, Sequence[str]] | None = None,
    eligible_true: npt.ArrayLike | None = None,
) -> dict[str, IntArray]:
    """The orderings the issue compares, as row positions of ``frame`` (best first).

    ``p_wrong × persons`` (:func:`targeting.verify.visit_order`); ``nearest cut`` (predicted log
    welfare closest to the selection cut ``cut``); each list of ``flagged_ids`` in its own order
    (e.g. today's flagged list); and with ``eligible_true`` an ``oracle`` (every wrong decision,
    largest household first): the most any ordering could correct.
    """
    from targeting.verify._order import visit_order

    orders: dict[str, IntArray] = {
        "p_wrong × persons": visit_order(frame),
        "nearest cut": nearest_cut_order(frame[pred_log_column].to_numpy(dtype=np.float64), cut),
    }
    if flagged_ids:
        pos = pd.Series(np.arange(len(frame)), index=frame["household_id"].astype("string").to_numpy())
        for name, ids in flagged_ids.items():
            orders[name] = pos.reindex(pd.Index(list(ids), dtype="string")).dropna().to_numpy(np.int64)
    if eligible_true is not None:
        wrong = frame["selected"].to_numpy(dtype=bool) != np.asarray(eligible_true, dtype=bool)
        persons = frame["household_size"].to_numpy(dtype=np.float64)
        idx = np.flatnonzero(wrong)
        orders["oracle"] = idx[np.argsort(-persons[idx], kind="stable")]
    return orders
