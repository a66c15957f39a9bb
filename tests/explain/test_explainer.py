"""The Explainer: per-household explanations, the registry table and its agreement with both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.explain import Explainer, HouseholdExplanation, ReasonCatalogueError, load_catalogue
from targeting.pmt import PMTRegressor

from .conftest import Kukar


@pytest.fixture(scope="module")
def explainer(models: dict) -> Explainer:
    return Explainer(models["lightgbm"])


def _cutoff(explainer: Explainer, kukar: Kukar) -> float:
    return float(np.quantile(explainer.engine.predict(kukar.registry.features), 0.3))


def test_household_explanation_is_exact_and_serialisable(explainer: Explainer, kukar: Kukar) -> None:
    X = kukar.registry.features.iloc[:20]
    ids = kukar.registry.household_id.iloc[:20]
    cut = _cutoff(explainer, kukar)
    out = explainer.explain(X, household_id=ids, cutoff=cut)
    assert [e.household_id for e in out] == ids.tolist()
    for e in out:
        total = e.base_value + sum(c.contribution for c in e.contributions)
        assert total == pytest.approx(e.prediction, abs=1e-6)
        assert e.prediction_rp == pytest.approx(np.exp(e.prediction))
        assert e.selected == (e.prediction <= cut)
        assert [c.indicator for c in e.contributions] == list(explainer.indicators)
        assert 1 <= len(e.reasons) <= 4
        signs = [np.sign(r.contribution) for r in e.reasons]
        assert signs == [-1.0 if e.selected else 1.0] * len(e.reasons)
        sizes = [abs(r.contribution) for r in e.reasons]
        assert sizes == sorted(sizes, reverse=True)
        assert all(r.direction == ("down" if e.selected else "up") for r in e.reasons)
        again = HouseholdExplanation.model_validate(json.loads(json.dumps(e.to_dict())))
        assert again == e
    assert any(e.selected for e in out) and not all(e.selected for e in out)


def test_reason_texts_name_the_household_value(explainer: Explainer, kukar: Kukar) -> None:
    X = kukar.registry.features.iloc[:50]
    out = explainer.explain(X, selected=np.ones(50, dtype=bool))
    r = explainer.renderer
    for e in out:
        for reason in e.reasons:
            j = explainer.indicators.index(reason.code)
            name_id = r.indicator_name(j, "id")
            assert reason.text("id").startswith(f"{name_id}: ")
            assert reason.text_id.endswith("— menurunkan perkiraan kesejahteraan")
            assert reason.text_en.endswith("— lowers the welfare estimate")
            contribution = next(c for c in e.contributions if c.indicator == reason.code)
            assert reason.value == contribution.value
            assert f": {contribution.value_text_id} — " in reason.text_id


def test_registry_table_agrees_with_household_explanations(explainer: Explainer, kukar: Kukar) -> None:
    reg = kukar.registry
    cut = _cutoff(explainer, kukar)
    result = explainer.explain_survey(reg, cutoff=cut, keep_contributions=True)
    table = result.table
    assert len(table) == len(reg)
    assert result.max_residual() < 1e-6
    assert table["household_id"].tolist() == reg.household_id.tolist()
    np.testing.assert_allclose(table["prediction"], explainer.engine.predict(reg.features), atol=1e-9)
    assert (table["selected"] == (table["prediction"] <= cut)).all()
    some = explainer.explain(reg.features.iloc[:30], household_id=reg.household_id.iloc[:30], cutoff=cut)
    for i, e in enumerate(some):
        row = table.iloc[i]
        assert row["n_reasons"] == len(e.reasons)
        for rank, reason in enumerate(e.reasons, start=1):
            assert row[f"reason_{rank}_code"] == reason.code
            assert row[f"reason_{rank}_text_id"] == reason.text_id
            assert row[f"reason_{rank}_text_en"] == reason.text_en
            assert row[f"reason_{rank}_direction"] == reason.direction
            assert row[f"reason_{rank}_contribution"] == pytest.approx(reason.contribution, abs=1e-12)
        for rank in range(len(e.reasons) + 1, 5):
            assert pd.isna(row[f"reason_{rank}_code"]) and pd.isna(row[f"reason_{rank}_text_id"])
    # global views from the same pass, per kecamatan
    assert set(result.importance.by_group["group"]) == set(reg.region.unique())
    mean_abs = np.abs(result.contributions.values).mean(axis=0)
    overall = result.importance.overall.set_index("indicator")["mean_abs_contribution"]
    np.testing.assert_allclose(overall[list(explainer.indicators)], mean_abs)


def test_streamed_chunks_equal_the_whole_table(models: dict, kukar: Kukar) -> None:
    ex = Explainer(models["ensemble"], chunk_rows=64)
    reg = kukar.registry
    selected = np.arange(len(reg)) % 3 == 0
    whole = ex.explain_registry(reg.features, household_id=reg.household_id, selected=selected).table
    parts = pd.concat(list(ex.iter_registry(reg.features, household_id=reg.household_id, selected=selected)))
    assert len(parts) == len(whole)
    pd.testing.assert_frame_equal(parts.astype(object), whole.astype(object))


def test_table_is_parquet_friendly(explainer: Explainer, kukar: Kukar, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    table = explainer.explain_survey(kukar.registry, cutoff=_cutoff(explainer, kukar)).table
    table.to_parquet(tmp_path / "reasons.parquet")
    back = pd.read_parquet(tmp_path / "reasons.parquet")
    assert (
        back["reason_1_text_id"].astype(object).tolist() == table["reason_1_text_id"].astype(object).tolist()
    )
    assert "head_nik" not in back.columns and "family_card_no" not in back.columns


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"selected": np.ones(5, dtype=bool), "cutoff": 13.0}, "exactly one"),
        ({"selected": np.ones(4, dtype=bool)}, "shape"),
        ({"selected": np.array([1, 0, 2, 1, 0])}, "booleans"),
        ({"cutoff": float("nan")}, "finite"),
    ],
)
def test_the_decision_must_be_given_once(
    explainer: Explainer, kukar: Kukar, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        explainer.explain(kukar.registry.features.iloc[:5], **kwargs)


def test_catalogue_is_checked_when_the_explainer_is_built(kukar: Kukar) -> None:
    X = kukar.survey.features.assign(asset_score=np.linspace(0, 1, len(kukar.survey)))
    model = PMTRegressor("ols").fit(X, kukar.y)
    with pytest.raises(ReasonCatalogueError, match="asset_score"):
        Explainer(model)
    smaller = load_catalogue().model_copy(
        update={"indicators": {k: v for k, v in load_catalogue().indicators.items() if k != "toilet"}}
    )
    with pytest.raises(ReasonCatalogueError, match="toilet"):
        Explainer(PMTRegressor("ols").fit(kukar.survey.features, kukar.y), smaller)


def test_ols_reason_for_an_earth_floor() -> None:
    """Earth floor and no refrigerator lower the estimate: a selected household is told so."""
    from targeting.survey.contract import load_contract

    rng = np.random.default_rng(5)
    n = 400
    floors = load_contract().code_list("floor_material")
    floor = rng.choice(["earth", "cement_brick", "tile_ceramic"], n)
    fridge = (rng.random(n) < 0.5).astype(float)
    X = pd.DataFrame({"floor_material": pd.Categorical(floor, categories=floors), "has_refrigerator": fridge})
    y = 13.0 - 0.5 * (floor == "earth") + 0.3 * fridge + rng.normal(scale=0.05, size=n)
    ex = Explainer(PMTRegressor("ols").fit(X, y))
    household = pd.DataFrame(
        {"floor_material": pd.Categorical(["earth"], categories=floors), "has_refrigerator": [0.0]}
    )
    e = ex.explain(household, household_id=["R1"], selected=[True])[0]
    assert e.reason_texts("id") == [
        "Lantai rumah: tanah — menurunkan perkiraan kesejahteraan",
        "Memiliki lemari es: tidak — menurunkan perkiraan kesejahteraan",
    ]
    assert e.reason_texts("en")[0] == "House floor: earth — lowers the welfare estimate"
    assert [r.value for r in e.reasons] == ["earth", False]
    # the same household, not selected: nothing pushed its estimate up, so no reasons
    assert ex.explain(household, selected=[False])[0].reasons == []


def test_a_decision_that_needs_every_prediction(explainer: Explainer, kukar: Kukar) -> None:
    """``select``: coverage by population share, decided after the single scoring pass."""
    from targeting.pmt.ranking import select_coverage

    reg = kukar.registry
    size = reg.household_size.to_numpy()
    result = explainer.explain_survey(reg, select=lambda pred: select_coverage(pred, size, 0.3))
    pred = explainer.engine.predict(reg.features)
    expected = select_coverage(pred, size, 0.3)
    np.testing.assert_array_equal(result.table["selected"].to_numpy(), expected)
    direct = explainer.explain_survey(reg, selected=expected).table
    pd.testing.assert_frame_equal(result.table.astype(object), direct.astype(object))
    with pytest.raises(ValueError, match="exactly one"):
        explainer.explain_survey(reg, cutoff=13.0, select=lambda pred: pred < 13.0)


def test_nik_like_ids_are_refused(explainer: Explainer, kukar: Kukar) -> None:
    X = kukar.registry.features.iloc[:2]
    with pytest.raises(ValueError, match="look like NIK") as info:
        explainer.explain(X, household_id=["R1", "6402011203850001"], cutoff=13.0)
    assert "6402011203850001" not in str(info.value)
