"""Writes notebooks/walkthrough.ipynb from the cells below (kept as code so diffs stay readable).

Run: ``.venv/bin/python notebooks/build_walkthrough.py``. The notebook only calls the package: no logic
lives only here. ``TARGETING_NOTEBOOK_SMALL=1`` makes it run on a small sample (the test suite does).
"""

from pathlib import Path

import nbformat as nbf

CELLS = [
    ("md", """# Panduan analis / analyst walkthrough

Memuat survei, melatih dan membandingkan model PMT di luar sampel, membaca tabel validasi, lalu
mempromosikan model ke registri. *Load a survey, train and compare PMT backends out of sample, read the
validation table, and promote a model in the MLflow registry.* Everything below calls `targeting`."""),
    ("code", """import os
import tempfile
from pathlib import Path

import pandas as pd

from targeting.settings import get_settings
from targeting.survey import synthetic

SMALL = os.environ.get("TARGETING_NOTEBOOK_SMALL") == "1"
home = Path(os.environ.get("TARGETING_HOME") or tempfile.mkdtemp(prefix="targeting-nb-"))
settings = get_settings(home=home)
n_survey = 2_000 if SMALL else 20_000
data = synthetic.generate(n_survey=n_survey, n_registry=1_000 if SMALL else 260_000, seed=2024)
synthetic.write(data, settings.data_dir / "kukar")
synthetic.calibration_table(data)"""),
    ("md", """## 1. Muat survei dengan spesifikasi data / load the survey through its dataset spec
Every rejected row would be listed with its row, column, value and reason."""),
    ("code", """from targeting.survey.load import load_dataset

loaded = load_dataset("kukar_survey", data_dir=settings.data_dir)
survey = loaded.data
print(f"{len(survey):,} households accepted, {loaded.n_rejected_rows} rejected")
survey.features.dtypes.value_counts()"""),
    ("md", """## 2. Bandingkan model di luar sampel / compare backends out of sample
Folds are whole villages (the survey's clusters); intervals are cluster-bootstrap 95% CIs and
`Δ` columns are paired differences to the OLS PMT."""),
    ("code", """from targeting.pmt import compare_backends, cross_validate

backends = ["ols", "lightgbm"] if SMALL else ["ols", "lightgbm", "quantile", "ensemble"]
result = cross_validate(survey, backends, n_splits=3 if SMALL else 5,
                        n_bootstrap=50 if SMALL else 200)
compare_backends(result.table)"""),
    ("code", """from IPython.display import Image

from targeting.pmt import plot_targeting_curve, targeting_curve

curve = targeting_curve(result.predictions, list(result.backends))
png = plot_targeting_curve(curve, settings.home / "curve.png", poverty_rate=result.poverty_rate)
Image(filename=str(png))"""),
    ("md", """## 3. Latih, catat, daftarkan, promosikan / train, record, register, promote
An experiment fits the final model on all data, logs the run to the SQLite MLflow store under
`TARGETING_HOME` and registers it with the alias `challenger`."""),
    ("code", """from targeting import tracking
from targeting.experiment import DatasetRef, Experiment, FinalModel, run_experiment

exp = Experiment(name="walkthrough", dataset=DatasetRef(spec="kukar_survey", data="home"),
                 backends=["ols"], n_bootstrap=20, validation={"kind": "kfold", "folds": 3},
                 final=FinalModel(backend="lightgbm" if SMALL else "ensemble", register=True))
outcome = run_experiment(exp, settings)
tracking.promote(settings, outcome.model_version)
pd.DataFrame([m.__dict__ for m in tracking.list_models(settings)])[["name", "version", "aliases"]]"""),
    ("md", """## 4. Kriteria Kepmensos 262/HUK/2022 pada registri / the decree's criteria on the registry"""),
    ("code", """from targeting.eligibility import evaluate, load_ruleset

registry = load_dataset("kukar_registry", data_dir=settings.data_dir).data
trace = evaluate(registry.frame, load_ruleset("kepmensos_262_2022"))
trace["verdict"].value_counts(normalize=True)"""),
]


def build() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in CELLS]
    return nb


if __name__ == "__main__":
    out = Path(__file__).with_name("walkthrough.ipynb")
    nbf.write(build(), out)
    print(out)
