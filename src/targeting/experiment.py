"""Experiments as YAML: a dataset spec, backends and a validation plan, run and recorded in MLflow."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from targeting.errors import SpecError
from targeting.settings import Settings
from targeting.spreadsheet import write_csv
from targeting.yaml_models import load_yaml_model

Coverage = float | Literal["poverty_rate", "poverty_line"]


class DatasetRef(BaseModel):
    """Which spec to load, with which variables, from which data folder."""

    model_config = ConfigDict(extra="forbid")
    spec: str
    variables: dict[str, Any] = Field(default_factory=dict)
    data: Literal["home", "shared"] | None = Field(
        default=None,
        description="home: <TARGETING_HOME>/data (generated synthetic data); shared: the real-survey folder; "
        "default: the spec's own data_root.",
    )


class ValidationPlan(BaseModel):
    """K-fold (grouped by the spec's cluster when it has one) or temporal (train one round, test the next)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["kfold", "temporal"] = "kfold"
    folds: int = Field(default=5, ge=2)
    seed: int = 0
    train_variables: dict[str, Any] = Field(default_factory=dict)
    test_variables: dict[str, Any] = Field(default_factory=dict)


class FinalModel(BaseModel):
    """The model fitted on all training data after validation, and whether to register it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    backend: str = "ensemble"
    to_registry: bool = Field(default=True, alias="register")
    intervals: bool = Field(
        default=True, description="Calibrate welfare intervals (intervals.json beside the model): from the "
        "K-fold validation's out-of-fold predictions when it ran this backend, else 5 more cross-fits.",
    )


class CommunityPlan(BaseModel):
    """Compare PMT, community targeting, the hybrid and the blend out of sample by community.

    Needs the spec's ``community_ranks`` role (`targeting.community.evaluation`): ranks from ``ks``
    training communities, evaluated in ``n_eval`` others, ``n_repeats`` times.
    """

    model_config = ConfigDict(extra="forbid")
    ks: list[int] = Field(default_factory=lambda: [5, 10, 15, 25])
    n_repeats: int = Field(default=30, ge=1)
    n_eval: int = Field(default=25, ge=2)
    seed: int = 0
    n_boot: int = Field(default=200, ge=0)
    community_share: float = Field(default=0.2, gt=0, lt=1, description="Share the community calls poorest.")
    share_column: str | None = Field(
        default=None, description="A 0/1 column whose mean in each ranking is that ranking's share (e.g. "
        "the households the programme actually treated)."
    )
    evaluate_column: str | None = None
    evaluate_equals: Any = None


class Experiment(BaseModel):
    """One experiment definition (``experiments/*.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str = ""
    dataset: DatasetRef
    validation: ValidationPlan = Field(default_factory=ValidationPlan)
    backends: list[str] = Field(default_factory=lambda: ["ols", "lightgbm", "quantile", "ensemble"])
    baseline: str = "ols"
    coverages: list[Coverage] = Field(default_factory=lambda: ["poverty_rate", 0.2, 0.3, 0.4])  # type: ignore[arg-type]
    n_bootstrap: int = Field(default=200, ge=0)
    poor_share: float | None = Field(default=None, gt=0, lt=1)
    unit: Literal["person", "household"] = Field(
        default="person", description="What shares and rates count: persons (default) or households."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="PMTRegressor parameters.")
    final: FinalModel | None = Field(default_factory=FinalModel)
    community: CommunityPlan | None = None

    @model_validator(mode="after")
    def _known_backends(self) -> Experiment:
        # Refused here, before any data is read or any model fitted.
        from targeting.pmt.estimator import BACKENDS

        names = [*self.backends, *([self.final.backend] if self.final else [])]
        unknown = [b for b in dict.fromkeys(names) if b not in BACKENDS]
        if unknown:
            raise ValueError(f"unknown backend(s) {', '.join(unknown)} (choose from {', '.join(BACKENDS)})")
        if self.baseline not in self.backends:
            raise ValueError(f"baseline {self.baseline!r} is not among the backends {self.backends}")
        return self


def load_experiment(path: Path) -> Experiment:
    """Read and validate an experiment file; errors name the file and the field."""
    if not path.exists():
        raise SpecError(f"experiment file not found: {path}")
    return load_yaml_model(path.read_text(encoding="utf-8"), Experiment, str(path))


@dataclass(frozen=True)
class ExperimentOutcome:
    """What a run produced: the validation result, the side-by-side table, and the registered model."""

    experiment: Experiment
    result: Any  # targeting.pmt.ValidationResult (imported lazily)
    comparison: pd.DataFrame
    curve_png: Path
    run_id: str | None
    model_version: str | None
    model_dir: Path | None
    n_rejected: int
    community: Any = None  # targeting.community.evaluation.CommunityEvaluation when the plan asks for it


def _check_rounds(experiment: Experiment, settings: Settings) -> None:
    """A temporal split needs two different rounds: refuse one that would test on its training rows."""
    from targeting.survey.spec import load_spec

    plan = experiment.validation
    spec = load_spec(experiment.dataset.spec)
    used = {name for f in spec.files for name in _placeholders(f.path)}
    asked = set(plan.train_variables) | set(plan.test_variables)
    if not asked or not asked <= used:
        missing = sorted(asked - used) or ["(none given)"]
        raise SpecError(
            f"temporal validation of spec {spec.name!r}: its files do not vary with {', '.join(missing)} "
            f"(its paths use {sorted(used) or 'no variables'}), so train and test would be the same "
            "households; use K-fold validation, or a spec whose file paths hold the round, e.g. {year}"
        )
    data_dir = _data_dir(experiment.dataset, spec, settings)
    base = {**spec.variables, **experiment.dataset.variables}
    train = [spec.resolve_path(f, data_dir, {**base, **plan.train_variables}) for f in spec.files]
    test = [spec.resolve_path(f, data_dir, {**base, **plan.test_variables}) for f in spec.files]
    if train == test:
        raise SpecError(f"temporal validation of spec {spec.name!r}: train and test rounds are the same "
                        f"files ({', '.join(map(str, train))})")


def _placeholders(path: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(path) if name}


def _data_dir(ref: DatasetRef, spec: Any, settings: Settings) -> Path:
    from targeting.survey.load import default_data_dir

    root = ref.data or (spec.data_root if spec.data_root in ("home", "shared") else None)
    if root is None:
        return spec.base_dir()
    return settings.data_dir if root == "home" else default_data_dir()


def _load(ref: DatasetRef, settings: Settings, variables: dict[str, Any]) -> tuple[Any, pd.DataFrame]:
    from targeting.survey.load import load_dataset
    from targeting.survey.spec import load_spec

    spec = load_spec(ref.spec)
    data_dir = _data_dir(ref, spec, settings)
    if spec.name.startswith("kukar") and data_dir == settings.data_dir and not (data_dir / "kukar").exists():
        from targeting.survey import synthetic

        synthetic.write(synthetic.generate(seed=settings.seed), data_dir / "kukar")
    values = {**ref.variables, **variables}
    loaded = load_dataset(spec, data_dir=data_dir, variables=values)
    data = loaded.data
    if values:  # e.g. "paraguay_ephc[year=2023]": tables and cards say which round
        label = ",".join(f"{k}={v}" for k, v in sorted(values.items()))
        data = dataclasses.replace(data, name=f"{data.name}[{label}]")
    return data, loaded.rejects


def run_experiment(experiment: Experiment, settings: Settings, *, out_dir: Path | None = None,
                   track: bool = True, progress: Callable[[str], None] | None = None) -> ExperimentOutcome:
    """Validate every backend out of sample, fit the final model, and record it all in MLflow.

    ``progress`` is told each step as it starts or ends, with counts (fold i of k, backend, bootstrap).
    """
    def told(message: str) -> None:
        if progress is not None:
            progress(message)

    from targeting.pmt import (
        PMTRegressor,
        compare_backends,
        cross_validate,
        design_frame,
        plot_targeting_curve,
        save_model,
        targeting_curve,
        temporal_validation,
    )
    from targeting.pmt.design import size_feature, target
    from targeting.pmt.reference import reference_from_predictions, save_reference

    plan = experiment.validation
    common: dict[str, Any] = dict(params=experiment.params, seed=plan.seed, coverages=experiment.coverages,
                  n_bootstrap=experiment.n_bootstrap, poor_share=experiment.poor_share,
                  baseline=experiment.baseline, unit=experiment.unit, progress=progress)
    if plan.kind == "temporal":
        _check_rounds(experiment, settings)
    told(f"membaca / reading {experiment.dataset.spec}")
    if plan.kind == "kfold":
        train, rejects = _load(experiment.dataset, settings, {})
        told(f"{len(train):,} rumah tangga / households; validasi {plan.folds} lipatan / "
             f"{plan.folds}-fold validation of {', '.join(experiment.backends)}")
        result = cross_validate(train, experiment.backends, n_splits=plan.folds, **common)
    else:
        train, rej_train = _load(experiment.dataset, settings, plan.train_variables)
        test, rej_test = _load(experiment.dataset, settings, plan.test_variables)
        rejects = pd.concat([rej_train.assign(round="train"), rej_test.assign(round="test")])
        result = temporal_validation(train, test, experiment.backends, **common)
    comparison = compare_backends(result.table, baseline=experiment.baseline)
    community = None
    if experiment.community is not None:
        community = _community(experiment, train)
    out_dir = out_dir or settings.home / "experiments" / experiment.name
    out_dir.mkdir(parents=True, exist_ok=True)
    curve = targeting_curve(result.predictions, list(result.backends))
    curve_png = plot_targeting_curve(curve, out_dir / "targeting_curve.png",
                                     poverty_rate=result.poverty_rate,
                                     title=experiment.title or experiment.name)
    write_csv(result.table, out_dir / "validation.csv")
    write_csv(comparison.reset_index(), out_dir / "comparison.csv")
    n_rejected = int(rejects["row"].nunique()) if len(rejects) else 0
    tables: dict[str, pd.DataFrame] = {"validation": result.table, "comparison": comparison.reset_index()}
    if community is not None:
        write_csv(community.summary, out_dir / "community.csv")
        write_csv(community.groups, out_dir / "community_groups.csv")
        tables.update({"community": community.summary, "community_groups": community.groups})

    run_id = version = None
    model_dir: Path | None = None
    if experiment.final is not None:
        told(f"model akhir / final model: {experiment.final.backend}, {len(train):,} rumah tangga / "
             "households")
        est = PMTRegressor(experiment.final.backend,  # type: ignore[arg-type]
                           **{"size_feature": size_feature(train), **experiment.params})
        groups = None if train.cluster is None else train.cluster.astype("string").to_numpy()
        X_train = design_frame(train)
        est.fit(X_train, target(train), train.weight.to_numpy(), groups=groups)
        model_dir = out_dir / "model"
        save_model(est, model_dir, dataset_name=train.name, dataset_spec=experiment.dataset.spec,
                   feature_types=dict(train.feature_types), validation=result, overwrite=True,
                   card_extra={"experiment": experiment.name, "poverty_rate": result.poverty_rate})
        # Where new households stand: ranks and desil against the training survey's predictions.
        save_reference(reference_from_predictions(
            est.predict(X_train), train.population_weight.to_numpy(),
            None if train.region is None else train.region.to_numpy(dtype=object),
        ), model_dir)
        if experiment.final.intervals and train.welfare_is_money:
            told("rentang kesejahteraan, dikalibrasi di luar lipatan / welfare intervals, calibrated out "
                 "of fold")
            _save_intervals(experiment, train, est, result, model_dir)
        _save_blend(experiment, train, result, model_dir)
    if track:
        from targeting import tracking

        told("MLflow: mencatat / logging the run")
        metrics = _flat_metrics(result.table)
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp)
            run_id = tracking.log_training_run(
                settings,
                run_name=experiment.name,
                params={"dataset": experiment.dataset.spec, "variables": experiment.dataset.variables,
                        "validation": plan.model_dump(), "backends": experiment.backends,
                        "final_backend": experiment.final.backend if experiment.final else None,
                        "n_bootstrap": experiment.n_bootstrap, **experiment.params},
                metrics={**metrics, "n_households": len(train), "n_rejected": n_rejected},
                model_dir=model_dir or empty,
                tables=tables,
                figures={"": curve_png},
                tags={"experiment": experiment.name, "dataset": train.name},
            )
        if experiment.final is not None and experiment.final.to_registry:
            version = tracking.register(settings, run_id, description=experiment.title)
    return ExperimentOutcome(experiment, result, comparison, curve_png, run_id, version, model_dir,
                             n_rejected, community)


def _save_intervals(experiment: Experiment, train: Any, model: Any, result: Any, model_dir: Path) -> None:
    """Calibrated welfare intervals beside the model (`targeting.pmt.intervals`)."""
    import numpy as np
    from sklearn.base import clone

    from targeting.pmt.intervals import CrossFit, fit_intervals, save_intervals

    final = experiment.final
    assert final is not None
    plan = experiment.validation
    cross_fit = None
    if plan.kind == "kfold" and final.backend in result.backends:
        # The validation's out-of-fold predictions of this backend: the protocol fit_intervals runs.
        p = result.predictions
        cross_fit = CrossFit(prediction=p[f"pred_{final.backend}"].to_numpy(dtype=np.float64),
                             log_welfare=p["log_welfare"].to_numpy(dtype=np.float64),
                             weight=p["weight"].to_numpy(dtype=np.float64),
                             fold=p["fold"].to_numpy(dtype=np.int64))
    iv = fit_intervals(clone(model), train, model=model, n_splits=plan.folds if plan.kind == "kfold" else 5,
                       seed=plan.seed, cross_fit=cross_fit)
    save_intervals(iv, model_dir)


def _save_blend(experiment: Experiment, train: Any, result: Any, model_dir: Path) -> None:
    """γ of the PMT + community blend beside the model, when the survey has community ranks.

    From the K-fold validation's out-of-fold residuals of the final backend (no refit); skipped for
    other validation plans, and when no household is ranked.
    """
    import numpy as np

    from targeting.community._saved import fit_blend_gamma, save_blend
    from targeting.survey.spec import load_spec

    spec = load_spec(experiment.dataset.spec)
    final = experiment.final
    if spec.community_ranks is None or final is None or experiment.validation.kind != "kfold" \
            or final.backend not in result.backends:
        return
    ranks = spec.community_ranks.rank_spec()
    if not all(c in train.frame.columns for c in (*ranks.columns, *ranks.community)):
        return
    from targeting.community import community_percentiles

    w = train.weight.to_numpy(dtype=np.float64)
    pct = community_percentiles(train.frame, ranks, sample_weight=w)["consensus"].to_numpy(dtype=np.float64)
    p = result.predictions
    residual = (p["log_welfare"] - p[f"pred_{final.backend}"]).to_numpy(dtype=np.float64)
    gamma, n = fit_blend_gamma(residual, pct, w)
    if n:
        save_blend(gamma, ranks, n, model_dir, source="out-of-fold residuals of the K-fold validation")


def _community(experiment: Experiment, survey: Any) -> Any:
    """The community comparison of an experiment (`targeting.community.evaluation`)."""
    from targeting.community.evaluation import CommunityData, Protocol, evaluate_community_targeting
    from targeting.survey.spec import load_spec

    plan = experiment.community
    assert plan is not None
    spec = load_spec(experiment.dataset.spec)
    if spec.community_ranks is None:
        raise SpecError(f"experiment {experiment.name}: spec {spec.name!r} has no community_ranks role")
    ranks = spec.community_ranks.rank_spec()
    frame = survey.frame
    share: Any = plan.community_share
    if plan.share_column is not None:
        keys = [frame[c].astype(str) for c in ranks.community]
        share = pd.to_numeric(frame[plan.share_column]).groupby(keys).transform("mean").to_numpy()
    evaluable = None
    if plan.evaluate_column is not None:
        evaluable = equals_mask(frame[plan.evaluate_column], plan.evaluate_equals)
    data = CommunityData.from_survey(survey, ranks, community_share=share, evaluable=evaluable)
    protocol = Protocol(ks=tuple(plan.ks), n_repeats=plan.n_repeats, n_eval=plan.n_eval, seed=plan.seed,
                        n_boot=plan.n_boot)
    return evaluate_community_targeting(data, protocol)


def equals_mask(column: pd.Series, value: Any) -> Any:
    """Where a validated column holds ``value``, both written as a cell prints them (missing: never).

    ``astype(str)`` against ``str(value)`` missed a float year (``2009.0`` is not ``2009``) and a
    yes/no answer (``True`` against YAML's ``true`` only by luck of spelling). The cells' text is the
    validation's (as the spec's groups and poverty flag compare them), the value's `cell_text`.
    """
    from targeting.survey.read import cell_text
    from targeting.survey.validate import _as_text

    wanted = cell_text(value)
    if wanted == "":  # a missing value: nothing equals it
        return np.zeros(len(column), dtype=bool)
    return (_as_text(column) == wanted).to_numpy(dtype=bool, na_value=False)


def _flat_metrics(table: pd.DataFrame) -> dict[str, float]:
    """MLflow metric names like ``ensemble.exclusion_error.at_0.2``."""
    out = {}
    for row in table.itertuples(index=False):
        label = f".at_{row.coverage_label}" if row.coverage_label else ""
        key = f"{row.backend}.{row.metric}{label}".replace(" ", "_").replace("%", "pct")
        out[key] = float(row.estimate)
    return out
