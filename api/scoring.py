"""The glue from validated households to decisions: model, reference ranks, programmes, rules, reasons.

`Scorer` is what the routes call. `ModelScorer` is the real one: it loads a saved PMT model
(`targeting.pmt.persistence`), its reference distribution (`targeting.pmt.reference`), the programme cut-offs
(`targeting.pmt.programs`), a rule set (`targeting.eligibility`) and the reason catalogue
(`targeting.explain`), and records the version of each in every decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from targeting.survey.dataset import SurveyData


@dataclass(frozen=True)
class ScorerInfo:
    """What a scorer is made of: recorded with every decision it makes."""

    model_name: str
    model_version: str
    ruleset_id: str
    ruleset_version: str
    source: str
    card: dict[str, Any] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)


class Scorer(Protocol):
    """Turns validated households into decision outputs (one JSON-ready dict per household).

    Each output holds ``predicted_log_welfare``, ``predicted_welfare_pc``, ``national``
    (``percentile``, ``desil``), ``regional`` (``region``, ``percentile``, ``desil``, or None),
    ``programs`` (programme id -> bool), ``rules`` (``ruleset_id``, ``verdict``, ``stage``,
    ``n_met``, ``n_unknown``, ``criteria``), ``reasons`` (``rank``, ``code``, ``value``,
    ``direction``, ``contribution``, ``effect_pct``, ``text``), ``lang`` and ``components``
    (versions of the contract, reference, programme file and reason catalogue), in the order of
    ``data``'s rows.
    """

    @property
    def info(self) -> ScorerInfo: ...

    def score(self, data: SurveyData, *, lang: str, top_k: int, as_of: date) -> list[dict[str, Any]]: ...


def file_version(path: str | Path) -> str:
    """Content version of a data file: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def rule_outputs(frame: pd.DataFrame, ruleset: Any, as_of: date) -> list[dict[str, Any]]:
    """The rule set's verdict and every criterion's flag (None = unknown) for each household."""
    from targeting.eligibility import criterion_column, evaluate

    trace = evaluate(frame, ruleset, as_of=as_of)
    ids = [c.id for c in ruleset.criteria]
    flags = {cid: trace[criterion_column(cid)].to_numpy(dtype=object, na_value=None).tolist() for cid in ids}
    verdict = trace["verdict"].astype(str).tolist()
    stage = trace["stage"].astype(str).tolist()
    n_met = trace["n_met"].to_numpy(dtype=np.int64).tolist()
    n_unknown = trace["n_unknown"].to_numpy(dtype=np.int64).tolist()
    return [
        {
            "ruleset_id": ruleset.id,
            "verdict": verdict[i],
            "stage": stage[i],
            "n_met": n_met[i],
            "n_unknown": n_unknown[i],
            "criteria": {cid: (None if flags[cid][i] is None else bool(flags[cid][i])) for cid in ids},
        }
        for i in range(len(trace))
    ]


# ---- the real scorer -------------------------------------------------------------------------------


def _resource_version(package: str, name: str) -> str:
    from importlib import resources

    return hashlib.sha256(resources.files(package).joinpath(name).read_bytes()).hexdigest()[:16]


def _content_version(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


class ModelScorer:
    """Scores households with a saved PMT model, its reference ranks, programmes, rules and reasons.

    ``model_version`` is ``<label>+<16 hex digits>``: the label says where the model came from
    (registry version ``v3``, ``default``, ``dir``) and the digits are a hash of the model card
    (which holds the hash of every model file) and of the reference distribution, so the same
    version string always means the same numbers.
    """

    def __init__(self, model_dir: Path, *, model_name: str, label: str, source: str,
                 ruleset: str = "kepmensos_262_2022", allow_unsigned: bool = False) -> None:
        from targeting.eligibility import load_ruleset
        from targeting.errors import ModelIntegrityError, RuleSetError
        from targeting.explain import Explainer
        from targeting.pmt.persistence import CARD_FILE, load_model, signing_key_fingerprint
        from targeting.pmt.programs import load_programs
        from targeting.pmt.reference import REFERENCE_FILE, load_reference
        from targeting.survey.contract import load_contract

        model_dir = Path(model_dir)
        self.model, card = load_model(model_dir, allow_unsigned=allow_unsigned)
        self.reference = load_reference(model_dir, card)
        self.ruleset = load_ruleset(ruleset)
        if not self.ruleset.in_force_on(date.today()):
            # Every decision would fail: refuse to start instead.
            raise RuleSetError(
                f"rule set {self.ruleset.id} is not in force today (from {self.ruleset.in_force_from}, "
                f"revoked {self.ruleset.revoked_on}); configure TARGETING_API_RULESET"
            )
        self.programs = load_programs()
        # Compiles the model for exact contributions and checks the reason catalogue covers it.
        self.explainer = Explainer(self.model)
        self.features = list(self.model.schema_.names)
        contract = load_contract()
        # Training adds the region as a feature when the features lack it (pmt.validation.design_frame).
        derived = {"region", "kecamatan_region"}
        unknown = [f for f in self.features if f not in contract.fields and f not in derived]
        if unknown:
            raise ModelIntegrityError(
                f"{model_dir}: model features {unknown} are not survey-contract fields; the service "
                "cannot fill them from a request"
            )
        version = _content_version(model_dir / CARD_FILE, model_dir / REFERENCE_FILE)
        card_dict = card.model_dump(mode="json")
        card_dict["reference"] = {"file": REFERENCE_FILE, "sha256": self.reference.sha256,
                                  "regions": sorted(self.reference.regions)}
        self._info = ScorerInfo(
            model_name=model_name,
            model_version=f"{label}+{version}",
            ruleset_id=self.ruleset.id,
            ruleset_version=file_version(self.ruleset.path) if self.ruleset.path else "unknown",
            source=source,
            card=card_dict,
            components={
                "contract": f"{contract.name}@{contract.version}",
                "reference": self.reference.sha256[:16],
                "programs": _resource_version("targeting.pmt", "programs.yaml"),
                "reasons": f"{self.explainer.catalogue.name}@{self.explainer.catalogue.version}",
                "explain_method": self.explainer.method,
                # The key that signed the model card (which lists every model file and the reference).
                "model_signing_key": signing_key_fingerprint(card),
            },
        )

    @property
    def info(self) -> ScorerInfo:
        return self._info

    def score(self, data: SurveyData, *, lang: str, top_k: int, as_of: date) -> list[dict[str, Any]]:
        from targeting.pmt.programs import program_eligibility
        from targeting.pmt.validation import design_frame

        # The same input frame as in training (experiment.run_experiment fits on design_frame).
        X = design_frame(data)[self.features]
        M = self.explainer.engine.matrix(X)
        contributions = self.explainer.engine.compute(M)
        pred = contributions.prediction
        if not np.all(np.isfinite(pred)):
            raise ValueError("the model returned a non-finite prediction")
        position, desil = self.reference.national.rank(pred)
        region = (data.region if data.region is not None else pd.Series([""] * len(data))).astype(str)
        r_pos, r_desil, r_known = self.reference.rank_regional(pred, region.to_numpy())
        programs = program_eligibility(desil, self.programs)
        program_cols = {k: programs[k].to_numpy(dtype=bool).tolist() for k in programs.columns}
        selected = programs.to_numpy(dtype=bool).any(axis=1)
        rules = rule_outputs(data.frame, self.ruleset, as_of)
        reasons = self.reasons(M, contributions.values, selected, lang=lang, top_k=top_k)
        regions = region.tolist()
        return [
            {
                "predicted_log_welfare": float(pred[i]),
                "predicted_welfare_pc": float(np.exp(pred[i])),
                "national": {"percentile": float(position[i]), "desil": int(desil[i])},
                "regional": (
                    {"region": regions[i], "percentile": float(r_pos[i]), "desil": int(r_desil[i])}
                    if r_known[i] else None
                ),
                "programs": {k: bool(v[i]) for k, v in program_cols.items()},
                "rules": rules[i],
                "reasons": reasons[i],
                "lang": lang,
                "components": self._info.components,
            }
            for i in range(len(data))
        ]

    def reasons(self, M: np.ndarray, values: np.ndarray, selected: np.ndarray, *, lang: str, top_k: int
                ) -> list[list[dict[str, Any]]]:
        """The catalogue's reasons (`targeting.explain`): what pushed each household's way most.

        A household eligible for a programme gets the indicators that lowered its predicted welfare
        most; one eligible for none, those that raised it most.
        """
        from targeting.explain import select_reasons

        if top_k == 0 or len(M) == 0:
            return [[] for _ in range(len(M))]
        idx = select_reasons(values, selected, top_k, min_abs=self.explainer.min_abs)
        safe = np.maximum(idx, 0)
        has = idx >= 0
        x = np.where(has, np.take_along_axis(M, safe, axis=1), np.nan)
        contrib = np.take_along_axis(values, safe, axis=1)
        down = np.repeat(selected, idx.shape[1])
        renderer = self.explainer.renderer
        texts = np.asarray(renderer.reason_texts(idx.reshape(-1), x.reshape(-1), down, lang),
                           dtype=object).reshape(idx.shape)
        out: list[list[dict[str, Any]]] = []
        for i in range(len(M)):
            direction = "down" if selected[i] else "up"
            out.append([
                {"rank": rank + 1, "code": self.features[j],
                 "value": renderer.raw_value(int(j), float(x[i, rank])), "direction": direction,
                 "contribution": float(contrib[i, rank]),
                 "effect_pct": float(100.0 * np.expm1(contrib[i, rank])), "text": str(texts[i, rank])}
                for rank, j in enumerate(idx[i]) if j >= 0
            ])
        return out


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
