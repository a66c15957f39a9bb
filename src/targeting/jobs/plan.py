"""`targeting run PLAN.yaml`: a district's whole job as data, from survey and registry to the report.

A plan names the training survey (an experiment: validate against OLS, fit, register) or a model
already trained, the registry to score, the rule set and its k, who the model selects (a programme,
a desil cut-off or a quota per kecamatan), how to audit (unit, groups, bootstrap) and the report's
language. Everything lands in one folder under ``<TARGETING_HOME>/runs/<plan>-<time>/``:
``training/`` (validation table, targeting curve, the model), ``decisions.parquet`` with its rejects
and summary, and ``audit/`` (HTML/PDF report, flagged lists, tables).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console

from targeting.decide.selection import Selection
from targeting.errors import SpecError
from targeting.settings import Settings
from targeting.yaml_models import load_yaml_model


class GenerateStep(BaseModel):
    """Write the synthetic Kukar data first (the demo's plan only)."""

    model_config = ConfigDict(extra="forbid")
    n_survey: int = Field(default=20_000, ge=100)
    n_registry: int = Field(default=260_000, ge=100)
    seed: int = 2024


class TrainingStep(BaseModel):
    """An experiment (shipped name, path, or written inline) and what to change in it."""

    model_config = ConfigDict(extra="forbid")
    experiment: str | dict[str, Any]
    overrides: dict[str, Any] = Field(default_factory=dict)


class RegistryStep(BaseModel):
    """The households to decide: a spec, and optionally the file (else the spec's own)."""

    model_config = ConfigDict(extra="forbid")
    spec: str
    file: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    ranking: Literal["within", "reference"] = "within"
    top_k: int = Field(default=4, ge=0, le=10)


class RulesStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ruleset: str = "kepmensos_262_2022"
    k: int | None = Field(default=None, ge=1, description="Minimum criteria met (default: the rule set's).")
    as_of: date | None = None


class AuditStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: Literal["person", "household"] = "person"
    n_boot: int = Field(default=200, ge=0)
    seed: int = 2024
    pdf: bool | Literal["if_available"] = "if_available"


class Plan(BaseModel):
    """One district's job (``plans/*.yaml``); relative paths start from the plan file's folder."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""
    district: str = "Kutai Kartanegara"
    generate: GenerateStep | None = None
    training: TrainingStep | None = None
    model: str = Field(default="trained", description="trained (this plan's training), champion, "
                       "challenger, default, or a model folder.")
    registry: RegistryStep
    rules: RulesStep | None = Field(default_factory=RulesStep)
    selection: Selection = Field(default_factory=Selection)
    quota_file: str | None = Field(default=None, description="CSV kecamatan,households: quota per kecamatan.")
    audit: AuditStep = Field(default_factory=AuditStep)
    lang: Literal["id", "en"] = "id"
    synthetic: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Plan:
        if self.model == "trained" and self.training is None:
            raise ValueError("model: trained needs a `training` step (or name a model: champion, default, "
                             "a folder)")
        if self.quota_file is not None and self.selection != Selection():
            raise ValueError("give either `selection` or `quota_file`, not both")
        return self


def load_plan(name_or_path: str | Path) -> tuple[Plan, Path | None]:
    """A plan by shipped name or path, and the folder its relative paths start from."""
    from targeting.shipped import find

    path = find("plans", name_or_path)
    plan = load_yaml_model(path.read_text(encoding="utf-8"), Plan, str(path))
    shipped = Path(str(path)).parent.name == "plans" and "shipped" in Path(str(path)).parts
    return plan, None if shipped else path.resolve().parent


def _experiment(step: TrainingStep, base: Path | None) -> Any:
    from targeting.experiment import Experiment, load_experiment
    from targeting.shipped import find

    if isinstance(step.experiment, dict):
        exp = Experiment.model_validate(step.experiment)
    else:
        where = step.experiment
        if base is not None and (base / where).exists():
            where = str(base / where)
        exp = load_experiment(find("experiments", where))
    if step.overrides:
        from targeting.yaml_models import merged

        exp = Experiment.model_validate(merged(exp.model_dump(by_alias=True), step.overrides))
    return exp


def run_plan(settings: Settings, plan: Plan, *, base: Path | None = None, console: Console | None = None,
             out_dir: Path | None = None) -> dict[str, Path]:
    """Run every step of a plan; return the paths it wrote (decisions, report, lists, tables)."""
    from targeting.jobs.audit import audit_job
    from targeting.jobs.console import print_frame, step_with_progress
    from targeting.jobs.models import ModelChoice, resolve_model
    from targeting.jobs.score import run_dir, score_job

    console = console or Console(width=max(140, Console().width))
    start = time.perf_counter()
    out = out_dir or run_dir(settings, "run", plan.name)
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]{plan.title or plan.name}[/bold] → {out}")
    if plan.generate is not None:
        from targeting.jobs.demo import generate_kukar

        g = plan.generate
        generate_kukar(settings, n_survey=g.n_survey, n_registry=g.n_registry, seed=g.seed, console=console)

    chosen: ModelChoice | None = None
    if plan.training is not None:
        from targeting.experiment import run_experiment

        exp = _experiment(plan.training, base)
        if plan.model == "trained":
            _ensure_signing_key(settings, console)
        title = f"Validasi dan pelatihan / {exp.validation.kind} validation of {', '.join(exp.backends)}"
        with step_with_progress(console, title) as progress:
            outcome = run_experiment(exp, settings, out_dir=out / "training", progress=progress)
        print_frame(console, outcome.comparison.reset_index(),
                    f"Validasi di luar sampel / out-of-sample validation (Δ = backend − {exp.baseline})")
        if plan.model == "trained":
            if outcome.model_dir is None:
                raise SpecError(f"plan {plan.name}: the experiment fits no final model (final: null)")
            chosen = _trained_choice(settings, outcome, console)
    if chosen is None:
        chosen = resolve_model(settings, plan.model if plan.model != "trained" else "champion")
        if chosen.note:
            console.print(f"[yellow]{chosen.note}[/yellow]")

    selection = plan.selection
    if plan.quota_file is not None:
        qpath = Path(plan.quota_file)
        selection = Selection.from_quota_file(qpath if qpath.is_absolute() or base is None else base / qpath)
    reg = plan.registry
    file = None if reg.file is None else (Path(reg.file) if base is None else base / reg.file)
    rules = plan.rules
    scored = score_job(
        settings, file, spec=_spec(reg.spec, base), model=str(chosen.path), model_choice=chosen,
        ruleset=None if rules is None else rules.ruleset, min_criteria_met=None if rules is None else rules.k,
        as_of=None if rules is None else rules.as_of, ranking=reg.ranking, selection=selection,
        top_k=reg.top_k, out_dir=out, variables=reg.variables, console=console,
    )  # fmt: skip
    audit_title = "Audit dan laporan / audit and report (HTML, PDF, flagged lists)"
    with step_with_progress(console, audit_title) as told:
        report = audit_job(settings, scored.decisions, out_dir=out / "audit", lang=plan.lang,
                           unit=plan.audit.unit, synthetic=plan.synthetic, n_boot=plan.audit.n_boot,
                           seed=plan.audit.seed, pdf=plan.audit.pdf, progress=told)
    console.print(f"[bold]Selesai / done[/bold] in {time.perf_counter() - start:.0f} s")
    written = {"decisions": scored.decisions, **{k: Path(v) for k, v in vars(report).items()
                                                  if isinstance(v, Path)}}
    if scored.rejects is not None:
        written["rejects"] = scored.rejects
    for name, path in written.items():
        console.print(f"  {name}: {path}")
    return written


def _ensure_signing_key(settings: Settings, console: Console) -> None:
    """A plan scores the model it trains: sign it with this machine's key, made here if there is none.

    Without a key the trained model would be saved unsigned and the scoring step would refuse it.
    The key stays on this machine (0600); the scoring service elsewhere trusts it only once its .pub is
    copied there (`targeting models keygen --help`).
    """
    from targeting.pmt.signing import default_signing_key, fingerprint, generate_signing_key

    if default_signing_key(settings.home) is not None:
        return
    key_path, pub = generate_signing_key(home=settings.home)
    from targeting.pmt.signing import load_private_key

    console.print(f"kunci penandatangan model dibuat / model-signing key created: "
                  f"{fingerprint(load_private_key(key_path))} ({key_path}; public key {pub})")


def _spec(name: str, base: Path | None) -> Any:
    from targeting.survey.spec import load_spec

    if base is not None and name.endswith((".yaml", ".yml")) and not Path(name).is_absolute():
        return load_spec(base / name)
    return load_spec(name)


def _trained_choice(settings: Settings, outcome: Any, console: Console) -> Any:
    """The model the plan just trained: its registry version when it was registered."""
    from targeting import tracking
    from targeting.jobs.models import ModelChoice

    name = settings.model_name
    if outcome.model_version is None:
        return ModelChoice(outcome.model_dir, name, "dir", f"folder {outcome.model_dir}")
    version = outcome.model_version
    if tracking.download_alias(settings, alias=tracking.CHAMPION) is None:
        tracking.promote(settings, version)
        console.print(f"  model v{version} dipromosikan / promoted to @champion (first model)")
    else:
        console.print(f"  model v{version} terdaftar / registered as @challenger; @champion unchanged "
                      "(promote with `targeting models promote`)")
    return ModelChoice(outcome.model_dir, name, f"v{version}",
                       f"models:/{name}/{version} (folder {outcome.model_dir})")
