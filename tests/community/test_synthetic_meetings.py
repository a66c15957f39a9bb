"""Village-meeting ranks in the synthetic Kukar survey and registry truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml

from targeting.community import direction_check, rank_percentiles
from targeting.errors import SpecError
from targeting.survey.synthetic import CALIBRATION_FILE, generate, load_parameters

N_SURVEY, N_REGISTRY = 6_000, 12_000


@pytest.fixture(scope="module")
def params():
    p = load_parameters()
    p = dataclasses.replace(p, calibration={**p.calibration, "n_households": 60_000})
    return p


@pytest.fixture(scope="module")
def with_meetings(params):
    p = dataclasses.replace(params, village_meetings={**params.village_meetings, "share_of_desa": 0.5})
    return generate(n_survey=N_SURVEY, n_registry=N_REGISTRY, seed=7, params=p)


@pytest.fixture(scope="module")
def without(params):
    return generate(n_survey=N_SURVEY, n_registry=N_REGISTRY, seed=7, params=params)


def test_every_meeting_parameter_is_documented_data():
    raw = yaml.safe_load(CALIBRATION_FILE.read_text(encoding="utf-8"))["village_meetings"]
    assert raw["share_of_desa"] == 0.0  # the default tables carry no ranks
    assert load_parameters().village_meetings == raw
    needs = {"noise_sd", "elderly_head", "disabled_member", "widowed_head", "recent_shock", "shock_rate"}
    assert needs | {"elite_capture", "log_household_size"} <= set(raw)
    assert set(raw["elite_capture"]) == {"share", "richer", "size"}


def test_meetings_add_columns_and_change_nothing_else(with_meetings, without):
    assert "musdes_rank" not in without.survey and "musdes_rank" not in without.truth
    pd.testing.assert_frame_equal(with_meetings.registry, without.registry)
    pd.testing.assert_frame_equal(with_meetings.survey[without.survey.columns], without.survey)
    pd.testing.assert_frame_equal(with_meetings.truth[without.truth.columns], without.truth)
    assert list(with_meetings.survey.columns[-2:]) == ["musdes_rank", "village_head_relative"]
    assert list(with_meetings.truth.columns[-3:]) == ["musdes_rank", "village_head_relative", "recent_shock"]


@pytest.mark.parametrize("table", ["survey", "truth"])
def test_ranks_run_one_to_n_inside_each_meeting_desa_and_are_missing_elsewhere(with_meetings, table):
    frame = getattr(with_meetings, table)
    if table == "truth":
        frame = frame.merge(with_meetings.registry[["household_id", "desa"]], on="household_id")
    held = frame.groupby("desa")["musdes_rank"].apply(lambda r: r.notna().any())
    assert 0.3 < held.mean() < 0.7  # about half the desa met
    for desa, ranks in frame.groupby("desa")["musdes_rank"]:
        if held[desa]:
            assert sorted(ranks.astype(int)) == list(range(1, len(ranks) + 1)), desa
        else:
            assert ranks.isna().all(), desa


def test_ranks_follow_welfare_and_weigh_need_and_elite_ties(with_meetings):
    t = with_meetings.truth.merge(with_meetings.registry, on="household_id")
    t = t[t["musdes_rank"].notna()].reset_index(drop=True)
    pct = rank_percentiles(t["musdes_rank"].astype(float).to_numpy(), t["desa"], poorer="low")
    assert 0.4 < direction_check(pct, t["expenditure_pc"], t["desa"]) < 0.9  # informative but noisy
    # Percentile of true welfare within the desa vs the meeting's percentile: residual by group.
    welfare_pct = rank_percentiles(t["expenditure_pc"].to_numpy(float), t["desa"], poorer="low")
    residual = pct - welfare_pct
    relative = t["village_head_relative"].to_numpy(bool)
    elderly = t["head_age"].to_numpy() >= 60
    shock = t["recent_shock"].to_numpy(bool)
    assert residual[relative].mean() < residual[~relative].mean() - 0.05  # ranked poorer than they are
    assert residual[elderly].mean() < residual[~elderly].mean() - 0.02
    assert residual[shock].mean() < residual[~shock].mean() - 0.05
    assert 0.02 < relative.mean() < 0.06 and 0.05 < shock.mean() < 0.11


def test_survey_with_ranks_passes_contract_validation(tmp_path: Path, params):
    from targeting.survey.load import load_dataset
    from targeting.survey.synthetic import write

    p = dataclasses.replace(params, village_meetings={**params.village_meetings, "share_of_desa": 0.5})
    d = generate(n_survey=400, n_registry=300, seed=2, params=p)
    write(d, tmp_path / "kukar", params=p)
    loaded = load_dataset("kukar_survey", data_dir=tmp_path)
    assert loaded.n_rejected_rows == 0, loaded.rejects.head()
    assert "musdes_rank" in loaded.data.frame.columns
    assert "musdes_rank" not in loaded.data.features.columns  # never a PMT feature


def test_invalid_meeting_parameters_are_rejected(tmp_path: Path):
    raw = yaml.safe_load(CALIBRATION_FILE.read_text(encoding="utf-8"))
    raw["village_meetings"]["share_of_desa"] = 1.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError, match="share_of_desa"):
        load_parameters(bad)
    raw["village_meetings"] = {"share_of_desa": 0.2, "noise": 1}
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError, match="unknown keys"):
        load_parameters(bad)
