"""`design_frame` adds the region as a feature only when no feature already holds the same values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.pmt.design import design_frame
from targeting.survey.dataset import SurveyData

REGION = ["Tenggarong", None, "Loa Kulu"]


def _data(features: dict[str, object], region: list[str | None] = REGION) -> SurveyData:
    n = len(region)
    return SurveyData(
        name="t", frame=pd.DataFrame(features), features=pd.DataFrame(features),
        feature_types={k: "categorical" for k in features}, household_id=pd.Series(["a", "b", "c"][:n]),
        weight=pd.Series(np.ones(n)), household_size=pd.Series(np.ones(n)),
        region=pd.Series(region, dtype="string", name="kecamatan"), region_column="kecamatan",
    )


@pytest.mark.parametrize(("features", "added"), [
    # A contract survey: the region is itself a categorical feature (texts), in any column.
    ({"kecamatan": pd.Categorical(REGION)}, None),
    ({"x": pd.Categorical(["1", "2", "1"]),
      "place": pd.Categorical(REGION, categories=["Loa Kulu", "Tenggarong"])}, None),
    ({"kecamatan": pd.Series(REGION, dtype=object)}, None),  # object texts: compared as text
    # Different values, or a missing cell elsewhere: the region is added (renamed if the name is taken).
    ({"kecamatan": pd.Categorical(["Tenggarong", "Loa Kulu", "Loa Kulu"])}, "kecamatan_region"),
    ({"other": pd.Categorical(["Tenggarong", "Loa Kulu", None])}, "kecamatan"),
    ({"kecamatan": pd.Categorical([1, 2, 3])}, "kecamatan_region"),  # numbers never equal texts
])
def test_the_region_is_added_only_when_no_feature_holds_it(features, added):
    data = _data(features)
    X = design_frame(data)
    extra = [c for c in X.columns if c not in features]
    assert extra == ([] if added is None else [added])
    if added is not None:
        assert X[added].astype("string").tolist() == pd.Series(REGION, dtype="string").tolist()
        assert list(X[added].cat.categories) == ["Loa Kulu", "Tenggarong"]
    assert list(data.features.columns) == list(features)  # the survey's own features are left as they were
