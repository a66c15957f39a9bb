"""Rebuild ``models/default`` (the model the scoring service ships with): ``python models/build_default.py``.

Deterministic for the seed: the synthetic Kukar survey is generated afresh, the kukar_kfold experiment
validates every backend against OLS, and the ensemble fitted on all households is written here as LightGBM
text + OLS JSON + a JSON card (no pickles) with ``reference.json`` for ranking new households.
"""

from pathlib import Path

from targeting.pipeline import build_default_model

if __name__ == "__main__":
    print(build_default_model(Path(__file__).resolve().parent / "default"))
