"""Report figures: matplotlib (Agg canvas, no display), embedded as base64 SVG data URIs.

Each figure is drawn on its own ``Figure`` object (no pyplot, so no global figure state to close)
under fixed rcParams, and saved without a date and with a fixed SVG id salt, so the same data give
byte-identical figures. Text stays text in the SVG (DejaVu Sans, shipped with matplotlib and
installed with Chromium), so the report reads well when printed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from targeting.report.i18n import Translator

RC: dict[Any, Any] = {  # typed loosely: matplotlib types its keys as a Literal
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.fonttype": "none",
    "svg.hashsalt": "targeting-report",
    "path.simplify": True,
}
#: Colours by subject (colour-blind safe, Okabe–Ito).
COLOURS = {
    "model": "#0072B2",
    "rules": "#D55E00",
    "model_within_rules": "#009E73",
    "truth": "#555555",
    "perfect": "#999999",
    "quota_kecamatan": "#CC79A7",
}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def svg_data_uri(fig: Figure) -> str:
    """The figure as a self-contained ``data:image/svg+xml;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class CurvePoint:
    """Where a selection sits on the targeting curve."""

    subject: str
    coverage: float
    poor_coverage: float


def targeting_curve_figure(curve: pd.DataFrame, points: Sequence[CurvePoint], t: Translator) -> str:
    """Two panels: share of the poor reached, and both error rates, as coverage grows."""
    with matplotlib.rc_context(RC):
        fig = _new_figure(9.0, 3.6)
        left, right = fig.subplots(1, 2)
        x = 100 * curve["coverage"]
        left.plot([0, 100], [0, 100], color=COLOURS["perfect"], ls=":", lw=1, label=t("fig.random"))
        left.plot(x, 100 * curve["poor_coverage_perfect"], color=COLOURS["perfect"], lw=1.2,
                  label=t("fig.perfect"))  # fmt: skip
        left.plot(x, 100 * curve["poor_coverage"], color=COLOURS["model"], lw=2, label=t("fig.model_ranking"))
        for p in points:
            left.scatter([100 * p.coverage], [100 * p.poor_coverage], s=40, zorder=5,
                         color=COLOURS[p.subject], edgecolor="white",
                         label=t(f"subjects.{p.subject}"))  # fmt: skip
        left.set_xlim(0, 100)
        left.set_ylim(0, 101)
        left.set_xlabel(t("fig.coverage_axis"))
        left.set_ylabel(t("fig.poor_reached_axis"))
        left.set_title(t("fig.curve_title"))
        left.legend(loc="lower right")
        right.plot(x, 100 * curve["exclusion_error"], color=COLOURS["model"], lw=2,
                   label=t("metrics.exclusion_error.name"))  # fmt: skip
        right.plot(x, 100 * curve["inclusion_error"], color=COLOURS["rules"], lw=2,
                   label=t("metrics.inclusion_error.name"))  # fmt: skip
        model = next((p for p in points if p.subject == "model"), None)
        if model is not None:
            right.axvline(100 * model.coverage, color="#333333", lw=1, ls="--")
            right.annotate(t("fig.model_cutoff"), (100 * model.coverage, 98), fontsize=8,
                           xytext=(4, 0), textcoords="offset points", va="top")  # fmt: skip
        right.set_xlim(0, 100)
        right.set_ylim(0, 101)
        right.set_xlabel(t("fig.coverage_axis"))
        right.set_ylabel(t("fig.error_axis"))
        right.set_title(t("fig.errors_title"))
        right.legend(loc="center right")
        return svg_data_uri(fig)


@dataclass(frozen=True)
class GroupBar:
    """One group's rate for a chart: label, estimate and interval per subject (nan = too small)."""

    section: str
    label: str
    values: dict[str, tuple[float, float, float]]  # subject -> (estimate, low, high)


def group_rate_figure(
    bars: Sequence[GroupBar], overall: dict[str, float], t: Translator, *, axis_label: str
) -> str:
    """Dot-and-whisker chart of one rate by group, model and rules side by side."""
    subjects = [s for s in ("model", "rules") if any(s in b.values for b in bars)]
    n = len(bars)
    with matplotlib.rc_context(RC):
        fig = _new_figure(8.0, 0.9 + 0.24 * n)
        ax = fig.subplots()
        y = np.arange(n)[::-1].astype(float)
        offsets = {"model": 0.14, "rules": -0.14} if len(subjects) > 1 else {subjects[0]: 0.0}
        for s in subjects:
            est = np.array([b.values.get(s, (np.nan,) * 3)[0] for b in bars]) * 100
            low = np.array([b.values.get(s, (np.nan,) * 3)[1] for b in bars]) * 100
            high = np.array([b.values.get(s, (np.nan,) * 3)[2] for b in bars]) * 100
            ok = np.isfinite(est)
            yy = y + offsets[s]
            err = np.vstack([est - low, high - est])
            err = np.where(np.isfinite(err), np.clip(err, 0, None), 0)
            ax.errorbar(est[ok], yy[ok], xerr=err[:, ok], fmt="o", ms=4, lw=1, capsize=2,
                        color=COLOURS[s], label=t(f"subjects.{s}"))  # fmt: skip
            if s in overall and np.isfinite(overall[s]):
                ax.axvline(100 * overall[s], color=COLOURS[s], lw=0.8, ls="--")
        small = [i for i, b in enumerate(bars) if not any(np.isfinite(v[0]) for v in b.values.values())]
        for i in small:
            ax.text(0.5, y[i], t("groups.too_small"), fontsize=7, color="#777777", va="center",
                    transform=ax.get_yaxis_transform())  # fmt: skip
        ax.set_yticks(y, [b.label for b in bars])
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlim(0, 100)
        ax.set_xlabel(axis_label)
        ax.legend(loc="lower right", ncols=len(subjects))
        return svg_data_uri(fig)


def kecamatan_figure(labels: Sequence[str], series: Mapping[str, Sequence[float]], t: Translator) -> str:
    """Horizontal bars per kecamatan (no map): e.g. poverty rate, model and rules coverage."""
    n = len(labels)
    keys = list(series)
    with matplotlib.rc_context(RC):
        fig = _new_figure(8.0, 1.0 + 0.3 * n)
        ax = fig.subplots()
        y = np.arange(n)[::-1].astype(float)
        height = 0.8 / max(len(keys), 1)
        colours = {"truth.poverty_rate": COLOURS["truth"], "model.coverage": COLOURS["model"],
                   "rules.coverage": COLOURS["rules"]}  # fmt: skip
        for j, key in enumerate(keys):
            vals = 100 * np.asarray(series[key], dtype=float)
            ax.barh(y + 0.4 - height * (j + 0.5), np.nan_to_num(vals), height=height,
                    color=colours.get(key, "#888888"), label=t(f"kecamatan.series.{key}"))  # fmt: skip
        ax.set_yticks(y, list(labels))
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xlabel(t("fig.percent_of_units"))
        ax.legend(loc="lower right")
        return svg_data_uri(fig)


def cost_curve_figure(curves: Mapping[tuple[str, str], pd.DataFrame], programs: Sequence[str], before: float,
                      t: Translator, *, official: float | None = None) -> str:
    """Per programme: poverty reduction (headcount, percentage points) against the yearly cost, per method."""
    progs = [p for p in programs if any(k[0] == p for k in curves)]
    with matplotlib.rc_context(RC):
        fig = _new_figure(9.0, 3.8)
        axes = np.atleast_1d(fig.subplots(1, max(len(progs), 1)))
        handles: dict[str, Any] = {}
        for ax, prog in zip(axes, progs, strict=False):
            for (p, method), curve in curves.items():
                if p != prog or curve.empty:
                    continue
                style = {"ls": ":"} if method == "perfect" else {}
                (line,) = ax.plot(curve["cost"] / 1e9, 100 * (before - curve["headcount_after"]), lw=1.6,
                                  color=COLOURS.get(method, "#444444"), label=t(f"budget.method.{method}"),
                                  **style)
                handles.setdefault(method, line)
            ax.set_title(t.get(f"budget.program_short.{prog}") or prog)
            ax.set_xlabel(t("budget.cost_axis"))
            ax.set_ylabel(t("budget.reduction_axis"))
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
        labels = [h.get_label() for h in handles.values()]
        fig.legend(list(handles.values()), labels, loc="outside lower center", ncols=min(len(handles), 3),
                   fontsize=8)
        return svg_data_uri(fig)
