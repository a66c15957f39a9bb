"""`targeting experiment run burkina_community`: the community comparison through the experiment runner."""

from __future__ import annotations

import pandas as pd
import pytest

from targeting.errors import SpecError
from targeting.experiment import load_experiment, run_experiment
from targeting.settings import get_settings
from targeting.shipped import find
from tests.conftest import shared_data


def test_burkina_community_experiment_runs_the_protocol_from_the_spec_role(tmp_path, monkeypatch):
    shared_data("burkina_faso")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    exp = load_experiment(find("experiments", "burkina_community"))
    exp = exp.model_copy(update={"n_bootstrap": 0, "community": exp.community.model_copy(
        update={"ks": [5], "n_repeats": 2, "n_boot": 0})})
    outcome = run_experiment(exp, get_settings(home=tmp_path), track=False)
    s = outcome.community.summary
    methods = set(s["method"])
    assert {"pmt", "cbt", "hybrid", "blend"} <= methods and set(s["k"]) == {5}
    cbt = s[(s.method == "cbt") & (s.metric == "community_recall")]["estimate"].iloc[0]
    assert cbt == pytest.approx(1.0)  # the community's own ranking finds the community-poorest
    assert (tmp_path / "experiments" / "burkina_community" / "community.csv").is_file()


def test_a_community_experiment_needs_the_spec_role(tmp_path):
    exp = load_experiment(find("experiments", "burkina_community"))
    exp = exp.model_copy(update={"dataset": exp.dataset.model_copy(update={"spec": "indonesia_household"})})
    from targeting.experiment import _community

    with pytest.raises(SpecError, match="has no community_ranks role"):
        _community(exp, None)


def test_rank_columns_cannot_be_features():
    from targeting.survey.spec import DatasetSpec

    with pytest.raises(ValueError, match=r"community rank column\(s\) \['r1'\] cannot also be features"):
        DatasetSpec.model_validate({
            "name": "x", "files": [{"name": "f", "path": "f.csv"}], "household_id": ["id"],
            "household_size": "n", "features": {"r1": {"type": "numeric"}},
            "community_ranks": {"columns": ["r1"], "community": ["village"], "poorer": "low"}})


@pytest.mark.parametrize(("column", "value", "expected"), [
    (pd.Series([2009, 2014, None], dtype="Int64"), 2009, [True, False, False]),
    (pd.Series([2009.0, 2014.0, float("nan")]), 2009, [True, False, False]),  # astype(str) gave "2009.0"
    (pd.Series(["2009", "2014", None], dtype="string"), 2009, [True, False, False]),
    (pd.Series([True, False, None], dtype="boolean"), True, [True, False, False]),
    (pd.Categorical(["P", "L", None]), "P", [True, False, False]),
    (pd.Series([2009, 2014], dtype="Int64"), None, [False, False]),  # nothing equals a missing value
])
def test_evaluable_households_are_those_whose_cell_prints_as_the_value(column, value, expected):
    from targeting.experiment import equals_mask

    got = equals_mask(pd.Series(column), value)
    assert got.dtype == bool and got.tolist() == expected
