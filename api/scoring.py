"""The service's scorer: a thin adapter over `targeting.decide.Scorer` (the one scoring path).

`Scorer` is what the routes call. `ModelScorer` is the real one: the library's scorer, ranking each
household against the model's reference distribution (a request has no population of its own), with
the service's rule set and selection, and its decisions turned into the JSON records of
`targeting.decide.Scorer.records`. `targeting score FILE --rank reference` gives the same values.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from targeting.decide import ScorerInfo, file_version
from targeting.survey.dataset import SurveyData

__all__ = ["ModelScorer", "Scorer", "ScorerInfo", "file_version", "load_scorer", "rule_outputs"]


class Scorer(Protocol):
    """Turns validated households into decision outputs (one JSON-ready dict per household).

    Each output holds ``predicted_log_welfare``, ``predicted_welfare_pc``, ``national``
    (``percentile``, ``desil``), ``regional`` (``region``, ``percentile``, ``desil``, or None),
    ``programs`` (programme id -> bool), ``selected``, ``rules`` (``ruleset_id``, ``verdict``,
    ``stage``, ``n_met``, ``n_unknown``, ``criteria``), ``reasons`` (``rank``, ``code``, ``value``,
    ``direction``, ``contribution``, ``effect_pct``, ``text``), ``lang`` and ``components``
    (versions of the contract, reference, programme file and reason catalogue), in the order of
    ``data``'s rows.
    """

    @property
    def info(self) -> ScorerInfo: ...

    def score(self, data: SurveyData, *, lang: str, top_k: int, as_of: date) -> list[dict[str, Any]]: ...


def rule_outputs(frame: pd.DataFrame, ruleset: Any, as_of: date) -> list[dict[str, Any]]:
    """The rule set's verdict and every criterion's flag (None = unknown), for test doubles."""
    from targeting.eligibility import criterion_column, evaluate

    trace = evaluate(frame, ruleset, as_of=as_of)
    ids = [c.id for c in ruleset.criteria]
    flags = {cid: trace[criterion_column(cid)].to_numpy(dtype=object, na_value=None).tolist() for cid in ids}
    return [
        {"ruleset_id": ruleset.id, "verdict": str(trace["verdict"].iloc[i]),
         "stage": str(trace["stage"].iloc[i]), "n_met": int(trace["n_met"].iloc[i]),
         "n_unknown": int(trace["n_unknown"].iloc[i]),
         "criteria": {cid: (None if flags[cid][i] is None else bool(flags[cid][i])) for cid in ids}}
        for i in range(len(trace))
    ]


class ModelScorer:
    """The library's scorer behind the service: reference ranks, the service's rule set and selection.

    ``model_version`` is ``<label>+<16 hex digits>``: the label says where the model came from
    (registry version ``v3``, ``default``, ``dir``) and the digits are a hash of the model card
    (which holds the hash of every model file) and of the reference distribution, so the same
    version string always means the same numbers.
    """

    def __init__(self, model_dir: Path, *, model_name: str, label: str, source: str,
                 ruleset: str = "kepmensos_262_2022", selection: Any = None,
                 allow_unsigned: bool = False) -> None:
        from targeting.decide import Scorer as LibraryScorer
        from targeting.errors import ModelIntegrityError
        from targeting.survey.contract import load_contract

        # The rule set must be in force today: otherwise every decision would fail, so refuse to start.
        self.scorer = LibraryScorer(model_dir, model_name=model_name, label=label, source=source,
                                    ruleset=ruleset, ranking="reference", selection=selection,
                                    allow_unsigned=allow_unsigned)
        contract = load_contract()
        # Training adds the region as a feature when the features lack it (pmt.design.design_frame).
        derived = {"region", "kecamatan_region"}
        unknown = [f for f in self.scorer.features if f not in contract.fields and f not in derived]
        if unknown:
            raise ModelIntegrityError(
                f"{model_dir}: model features {unknown} are not survey-contract fields; the service "
                "cannot fill them from a request"
            )

    @property
    def info(self) -> ScorerInfo:
        return self.scorer.info

    @property
    def model(self) -> Any:
        return self.scorer.model

    @property
    def explainer(self) -> Any:
        return self.scorer.explainer

    @property
    def features(self) -> list[str]:
        return self.scorer.features

    @property
    def reference(self) -> Any:
        return self.scorer.reference

    def contribution_changes(self, before: SurveyData, after: SurveyData) -> list[dict[str, Any]]:
        """Why a corrected household's prediction moved (`targeting.decide.Scorer.contribution_changes`)."""
        return self.scorer.contribution_changes(before, after)

    def score(self, data: SurveyData, *, lang: str, top_k: int, as_of: date) -> list[dict[str, Any]]:
        scorer = self.scorer
        if as_of != scorer.as_of:
            # The service's day changed since start-up (or a test pins the date): decide as of that day.
            scorer.as_of = as_of
        decisions = scorer.decide(data, top_k=top_k)
        if not np.all(np.isfinite(np.asarray(decisions.columns["predicted_log_welfare"]))):
            raise ValueError("the model returned a non-finite prediction")
        return scorer.records(decisions, lang=lang)


def load_scorer(settings: Any) -> ModelScorer:
    """The model to serve (`api.config.ApiSettings` says where to look).

    ``settings.model_dir`` if given, else the MLflow registry's ``@champion``, else the shipped
    default model (``settings.project.default_model()``).
    """
    from targeting.errors import TargetingError

    project = settings.project
    name = project.model_name
    unsigned = bool(getattr(settings, "allow_unsigned", False))
    if settings.model_dir is not None:
        return ModelScorer(Path(settings.model_dir), model_name=name, label="dir",
                           source=f"folder {settings.model_dir}", ruleset=settings.ruleset,
                           allow_unsigned=unsigned)
    if settings.use_registry and _registry_exists(project.tracking_uri()):
        from targeting.tracking import CHAMPION, download_alias

        found = download_alias(project, alias=CHAMPION)
        if found is not None:
            path, version = found
            return ModelScorer(path, model_name=name, label=f"v{version}",
                               source=f"models:/{name}@{CHAMPION} (version {version})",
                               ruleset=settings.ruleset, allow_unsigned=unsigned)
    default = Path(project.default_model())
    if (default / "model_card.json").exists():
        return ModelScorer(default, model_name=name, label="default", source=f"default model {default}",
                           ruleset=settings.ruleset, allow_unsigned=unsigned)
    raise TargetingError(
        f"no model to serve: no @champion in the registry ({project.tracking_uri()}) and no default "
        f"model at {default}; train one (targeting train) or pass --model-dir"
    )


def _registry_exists(uri: str) -> bool:
    """False for a SQLite registry file that does not exist (looking would create an empty one)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True
