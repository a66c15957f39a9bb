"""Small real models for tests: trained on the synthetic Kukar survey, saved as a user's would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train_model_folder(directory: Path, *, n_survey: int = 2000, seed: int = 1, subset: Any = None,
                       **params: Any) -> Path:
    """A real saved PMT (OLS unless ``params`` say otherwise) trained on the synthetic Kukar survey,
    with its reference distribution."""
    from targeting.pmt import PMTRegressor
    from targeting.pmt.design import design_frame, log_welfare, size_feature
    from targeting.pmt.persistence import save_model
    from targeting.pmt.reference import reference_from_predictions, save_reference
    from targeting.survey.load import frame_to_survey
    from targeting.survey.spec import load_spec
    from targeting.survey.synthetic import generate

    survey = frame_to_survey(generate(n_survey=n_survey, n_registry=10, seed=seed).survey,
                             load_spec("kukar_survey")).data
    if subset is not None:
        import pandas as pd

        survey = survey.subset(pd.Series(subset))
    assert survey.welfare is not None and survey.cluster is not None and survey.region is not None
    # As `targeting experiment run` fits its final model.
    X = design_frame(survey)
    model = PMTRegressor(**{"backend": "ols", "size_feature": size_feature(survey), **params})
    groups = survey.cluster.astype("string").to_numpy()
    model.fit(X, log_welfare(survey), survey.weight.to_numpy(), groups=groups)
    save_model(model, directory, dataset_name="synthetic kukar (tests)", dataset_spec="kukar_survey",
               feature_types=dict(survey.feature_types))
    save_reference(reference_from_predictions(model.predict(X), survey.population_weight, survey.region),
                   directory)
    return directory
