"""A model trained with village-meeting ranks decides with them, and says so, for households that have one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from targeting.community import RankSpec, normal_score
from targeting.community._saved import BLEND_FILE, save_blend
from targeting.decide import Scorer, Selection
from targeting.survey.load import frame_to_survey
from targeting.survey.spec import load_spec
from targeting.survey.synthetic import generate, load_parameters
from tests.models import train_model_folder


@pytest.fixture(scope="module")
def survey():
    p = load_parameters()
    p = dataclasses.replace(p, village_meetings={**p.village_meetings, "share_of_desa": 0.5})
    raw = generate(n_survey=1500, n_registry=20, seed=6, params=p).survey
    spec = load_spec("kukar_survey").model_copy(update={"community_ranks": None})
    return frame_to_survey(raw, spec).data


def test_the_rank_adds_an_exact_contribution_where_a_household_has_one(survey, tmp_path):
    folder = train_model_folder(tmp_path / "m", n_survey=1500, seed=6)
    plain = Scorer(folder, ruleset=None, selection=Selection(desil_max=2), ranking="reference")
    before = plain.decide(survey).table
    gamma = 0.2
    save_blend(gamma, RankSpec(("musdes_rank",), ("desa",), "low"), 100, folder)
    blended = Scorer(folder, ruleset=None, selection=Selection(desil_max=2), ranking="reference")
    assert blended.info.model_version != plain.info.model_version  # the blend is part of the model
    after = blended.decide(survey).table
    pct = after["community_percentile"].to_numpy()
    ranked = ~np.isnan(pct)
    assert 0 < ranked.sum() < len(after)
    expected = before["predicted_log_welfare"].to_numpy() + np.where(ranked, gamma * normal_score(
        np.where(ranked, pct, 0.5)), 0.0)
    np.testing.assert_allclose(after["predicted_log_welfare"], expected, atol=1e-12)
    assert (after["method"].astype(str) == np.where(ranked, "model+community", "model")).all()
    # The poorest-ranked household of a meeting is pulled down, and its rank can be a reason.
    codes = pd.concat([after[f"reason_{i}_code"].astype(str) for i in range(1, 5)])
    assert "community_rank" in set(codes)
    row = after[after["reason_1_code"].astype(str) == "community_rank"].iloc[0]
    assert row["reason_1_text_id"].startswith("Peringkat musyawarah desa: persentil ")
    # Unranked households are decided exactly as before.
    pd.testing.assert_series_equal(after.loc[~ranked, "predicted_log_welfare"],
                                   before.loc[~ranked, "predicted_log_welfare"])
    assert (folder / BLEND_FILE).is_file()
