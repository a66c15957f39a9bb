"""The embedded default: synthetic Kukar data, and the demo (`targeting run kukar_demo` on them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from targeting.errors import TargetingError
from targeting.settings import Settings


def calibration_for_terminal(table: Any) -> Any:  # pandas.DataFrame -> pandas.DataFrame
    """The synthetic data's calibration table with measures and headings in Bahasa Indonesia, then English."""
    import pandas as pd

    measure = table["measure_id"] + " / " + table["measure"] if "measure_id" in table else table["measure"]
    return pd.DataFrame({
        "ukuran / measure": measure,
        "sasaran / target": table["target"],
        "capaian / achieved": table["achieved"],
        "toleransi / tolerance": table["tolerance"],
        "sesuai / ok": table["ok"].map({True: "ya / yes", False: "tidak / no"}),
    })


def generate_kukar(settings: Settings, *, out_dir: Path | None = None, n_survey: int = 20_000,
                   n_registry: int = 260_000, seed: int = 2024, rounds: int = 1,
                   partitions: int | None = None, console: Console | None = None) -> dict[str, Path]:
    """Generate and write the synthetic Kukar tables; print the calibration table.

    ``rounds`` > 1 also writes later registry rounds (shocks, recoveries, splits; the truth kept).
    With ``partitions``, the registry is written part by part (``registry_parts/part-*.parquet``),
    never held whole: a province of several million households fits in the memory of one part.
    """
    import pandas as pd

    from targeting.jobs.console import print_frame, step
    from targeting.survey import synthetic

    # Wide enough that the calibration table's bilingual measures are not broken into many lines.
    console = console or Console(width=max(140, Console().width))
    out_dir = out_dir or settings.data_dir / "kukar"
    if partitions is not None:
        if rounds > 1:
            raise TargetingError("--rounds and --partitions cannot be combined (rounds are written whole)")
        title = (f"Membuat registri berpartisi / writing a partitioned registry ({n_registry:,} households, "
                 f"{partitions:,} parts) and the survey ({n_survey:,})")
        with step(console, title):
            paths = synthetic.write_partitioned(out_dir, n_survey=n_survey, n_registry=n_registry,
                                                partitions=partitions, seed=seed)
        print_frame(console, calibration_for_terminal(pd.read_csv(paths["calibration"])),
                    "Kalibrasi / calibration (sasaran dan capaian; registri: bagian pertama / target vs "
                    "achieved; registry: the first part)")
        return paths
    title = f"Membuat data sintetis / generating survey ({n_survey:,}), registry ({n_registry:,})"
    with step(console, title):
        data = synthetic.generate(n_survey=n_survey, n_registry=n_registry, seed=seed)
    with step(console, f"Menulis / writing {out_dir}"):
        paths = synthetic.write(data, out_dir)
    print_frame(console, calibration_for_terminal(synthetic.calibration_table(data)),
                "Kalibrasi / calibration (sasaran dan capaian / target vs achieved)")
    if rounds > 1:
        import dataclasses

        from targeting.survey.next_round import next_round, write_round

        current = data
        for k in range(2, rounds + 1):
            later = next_round(current, seed=seed + k)
            written = write_round(later, out_dir, round_no=k)
            counts = later.changes["change"].value_counts().to_dict()
            console.print(f"✓ putaran / round {k}: {len(later.registry):,} rumah tangga / households "
                          f"({', '.join(f'{c} {n:,}' for c, n in counts.items())}) → {written['registry']}")
            paths.update({f"{name}_round{k}": p for name, p in written.items()})
            current = dataclasses.replace(current, registry=later.registry, truth=later.truth)
    return paths


def run_demo(settings: Settings, *, n_registry: int | None = None, n_survey: int | None = None,
             seed: int | None = None, lang: str | None = None, n_bootstrap: int | None = None,
             pdf: Any = None, console: Console | None = None) -> dict[str, Path]:
    """`targeting run kukar_demo`, with the demo's command-line overrides."""
    from targeting.jobs.plan import load_plan, run_plan

    plan, base = load_plan("kukar_demo")
    generate = plan.generate.model_copy(update={k: v for k, v in
                                                 {"n_registry": n_registry, "n_survey": n_survey,
                                                  "seed": seed}.items() if v is not None}) \
        if plan.generate is not None else None
    audit = plan.audit.model_copy(update={k: v for k, v in {"n_boot": n_bootstrap, "pdf": pdf}.items()
                                          if v is not None})
    training = plan.training
    if training is not None and n_bootstrap is not None:
        overrides = {**training.overrides, "n_bootstrap": n_bootstrap}
        training = training.model_copy(update={"overrides": overrides})
    plan = plan.model_copy(update={"generate": generate, "audit": audit, "training": training,
                                   **({"lang": lang} if lang else {})})
    return run_plan(settings, plan, base=base, console=console)


def build_default_model(out_dir: Path, *, seed: int = 2024, n_bootstrap: int = 200,
                        console: Console | None = None) -> Path:
    """Train the model shipped in ``targeting/shipped/models/default``.

    The kukar_kfold experiment on a fresh synthetic survey (seed ``seed``): validated, fitted on all
    20,000 households, saved with its reference ranks. ``python -m targeting.jobs.demo OUT_DIR``.
    """
    import shutil
    import tempfile

    from targeting.experiment import load_experiment, run_experiment
    from targeting.jobs.console import print_frame, step
    from targeting.settings import get_settings
    from targeting.shipped import find

    console = console or Console()
    with tempfile.TemporaryDirectory() as home:
        settings = get_settings(home=Path(home), seed=seed)
        exp = load_experiment(find("experiments", "kukar_kfold"))
        exp = exp.model_copy(update={"n_bootstrap": n_bootstrap})
        with step(console, "Melatih model bawaan / training the shipped default model"):
            outcome = run_experiment(exp, settings, track=False)
        assert outcome.model_dir is not None
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(outcome.model_dir, out_dir)
    print_frame(console, outcome.comparison.reset_index(), "Validasi / validation of the default model")
    return out_dir


if __name__ == "__main__":  # pragma: no cover - maintainers rebuild the shipped model by hand
    import sys

    print(build_default_model(Path(sys.argv[1])))
