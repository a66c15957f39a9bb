"""Burkina Faso (Hillebrecht et al. 2020): the real community ranks, their direction, a short run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def survey():
    data_dir = shared_data("burkina_faso").parent
    from targeting.survey.load import load_dataset

    return load_dataset("burkina_faso", data_dir=data_dir).data


def test_larger_informant_rank_is_poorer(survey):
    from targeting.community import RankSpec, community_percentiles, direction_check

    f = survey.frame
    columns, community = ("informant1", "informant2", "informant3"), ("community", "year")
    high = community_percentiles(f, RankSpec(columns, community, "high"))
    low = community_percentiles(f, RankSpec(columns, community, "low"))
    comm = f[["community", "year"]]
    # Declared "high = poorer", the consensus rises with consumption inside communities, and with the
    # "treated" flag (the community's own selection for the fee discount) it falls.
    assert direction_check(high["consensus"], survey.welfare, comm) > 0.08
    assert direction_check(low["consensus"], survey.welfare, comm) < -0.08
    treated = pd.to_numeric(f["treated"]).to_numpy() == 1
    assert high["consensus"][treated].mean() < 0.4 < high["consensus"][~treated].mean()


def test_short_protocol_run(survey):
    from benchmarks.community import burkina_data
    from targeting.community.evaluation import Protocol, evaluate_community_targeting

    data = burkina_data()
    result = evaluate_community_targeting(data, Protocol(ks=(5,), n_repeats=3, n_boot=30))
    s = result.summary.set_index(["method", "metric"])["estimate"]
    chance = float(np.mean(data.community_share[data.evaluable]))
    assert s["cbt", "community_recall"] == 1.0
    assert s["hybrid", "community_recall"] > chance + 0.15  # the hybrid learns the villages' view
    assert 0.3 < s["pmt", "exclusion_error_40"] < 0.8
