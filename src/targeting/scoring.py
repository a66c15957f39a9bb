"""Score a whole registry: predicted welfare, population-share ranks, desil, programmes and reasons.

A registry is the whole population (DTSEN ranks everybody in it), so ranks and deciles are computed
within the registry itself, in equal shares of persons (weight x household size). The scoring service
ranks *new* households against a stored reference distribution instead (see ``api/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targeting.survey.dataset import SurveyData


@dataclass(frozen=True)
class ScoredRegistry:
    """One row per household, plus the explanation's global views."""

    table: pd.DataFrame
    explanation: Any  # targeting.explain.RegistryExplanation
    desil_max: int


def score_registry(model: Any, data: SurveyData, *, desil_max: int = 1, top_k: int = 4,
                   n_jobs: int = 1) -> ScoredRegistry:
    """Score and explain every household; ``selected`` = national desil <= ``desil_max``.

    Reasons follow the decision: a selected household's reasons are what lowered its predicted
    welfare most, a non-selected one's what raised it most (see `targeting.explain`).
    """
    from targeting.explain import Explainer
    from targeting.pmt import assign_deciles, population_shares, program_eligibility
    from targeting.pmt.validation import design_frame

    if not 1 <= desil_max <= 10:
        raise ValueError(f"desil_max must be in 1..10, got {desil_max}")
    pop = data.population_weight.to_numpy(dtype=np.float64)
    X = design_frame(data)[list(model.schema_.names)]

    ranks: dict[str, np.ndarray] = {}

    def select(pred: np.ndarray) -> np.ndarray:
        # Called once with every prediction; the deciles it ranks are kept for the table below.
        ranks["desil"] = assign_deciles(pred, pop)
        return ranks["desil"] <= desil_max

    explainer = Explainer(model, top_k=top_k, n_jobs=n_jobs)
    explanation = explainer.explain_registry(
        X, household_id=data.household_id.to_numpy(dtype=object), select=select, sample_weight=pop,
        groups=None if data.region is None else data.region.to_numpy(dtype=object),
    )
    table = explanation.table
    pred = table["prediction"].to_numpy()
    out = pd.DataFrame({
        "household_id": data.household_id.to_numpy(),
        "predicted_log_welfare": pred,
        "predicted_welfare": np.exp(pred),
        "percentile": population_shares(pred, pop),
        "desil": ranks["desil"],
    })
    if data.region is not None:
        out["desil_region"] = assign_deciles(pred, pop, by=data.region.to_numpy(dtype=object))
    out["selected"] = table["selected"].to_numpy(dtype=bool)
    programs = program_eligibility(out["desil"].to_numpy())
    for name in programs.columns:
        out[f"program_{name}"] = programs[name].to_numpy(dtype=bool)
    for lang in ("id", "en"):
        cols = [f"reason_{i}_text_{lang}" for i in range(1, explanation.top_k + 1)]
        texts = table[cols].astype("string")
        joined = texts[cols[0]].fillna("")
        for c in cols[1:]:
            joined = joined.str.cat(texts[c].fillna(""), sep="; ").str.rstrip("; ")
        out[f"reasons_{lang}"] = joined.to_numpy()
    for i in range(1, explanation.top_k + 1):
        out[f"reason_{i}_code"] = table[f"reason_{i}_code"].to_numpy()
    return ScoredRegistry(table=out, explanation=explanation, desil_max=desil_max)


def decisions_frame(data: SurveyData, scored: ScoredRegistry, trace: pd.DataFrame,
                    truth: pd.DataFrame | None = None, *, poverty_line: float | None = None) -> pd.DataFrame:
    """The audit's decisions frame: model pick, rule verdict and flags, truth, groups, reasons."""
    frame = data.frame
    out = scored.table.copy()
    out.insert(1, "weight", data.weight.to_numpy())
    out.insert(2, "household_size", data.household_size.to_numpy())
    for col in ("head_nik", "kecamatan", "desa"):
        if col in frame.columns:
            out[col] = frame[col].astype("string").to_numpy()
    groups = data.groups
    for col in ("urban", "female_head", "elderly_head", "disability", "size_band"):
        if col in groups.columns:
            out[col] = groups[col].to_numpy()
    out["rule_verdict"] = trace["verdict"].astype("string").to_numpy()
    out["rule_stage"] = trace["stage"].astype("string").to_numpy()
    out["rule_n_met"] = trace["n_met"].to_numpy()
    for col in [c for c in trace.columns if c.startswith("crit_")]:
        out[col] = trace[col].to_numpy()
    if truth is not None:
        merged = out[["household_id"]].merge(truth, on="household_id", how="left", validate="one_to_one")
        welfare = merged["expenditure_pc"].to_numpy(dtype=np.float64)
        out["welfare_true"] = welfare
        if poverty_line is not None:
            poor = pd.array(welfare < poverty_line, dtype="boolean")
            poor[np.isnan(welfare)] = pd.NA
            out["poor_true"] = poor
    return out
