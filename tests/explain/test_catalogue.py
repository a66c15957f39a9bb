"""The reason catalogue as data: validation on load, against a model, and the way values are written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import SpecError, TargetingError
from targeting.explain import (
    ReasonCatalogue,
    ReasonCatalogueError,
    ReasonRenderer,
    format_number,
    load_catalogue,
)
from targeting.pmt.schema import InputSchema
from targeting.survey.contract import load_contract
from targeting.survey.spec import load_spec

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "targeting" / "explain" / "reasons.yaml"


def _schema(*features: tuple[str, str]) -> InputSchema:
    contract = load_contract()
    cats = tuple(tuple(contract.code_list(n)) if k == "categorical" else None for n, k in features)
    return InputSchema(tuple(n for n, _ in features), tuple(k for _, k in features), cats)  # type: ignore[arg-type]


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "reasons.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_packaged_catalogue_covers_every_contract_feature() -> None:
    cat = load_catalogue()
    contract = load_contract()
    features = contract.by_role("feature") + ["kecamatan"]
    cat.require(features)  # raises if any is missing
    assert cat.entry("floor_material").name.get("id") == "Lantai rumah"
    assert cat.entry("floor_material").name.get("en") == "House floor"


def test_missing_indicator_is_an_error_naming_it() -> None:
    cat = load_catalogue()
    schema = InputSchema(
        ("floor_material", "asset_index", "x9"),
        ("categorical", "numeric", "numeric"),
        (tuple(load_contract().code_list("floor_material")), None, None),
    )
    with pytest.raises(ReasonCatalogueError, match=r"asset_index, x9") as info:
        ReasonRenderer(cat, schema)
    assert isinstance(info.value, TargetingError) and isinstance(info.value, SpecError)
    assert "reasons.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r["indicators"]["floor_material"].update(value="number"), "floor_material: contract type"),
        (
            lambda r: r["indicators"].update(flooor={"id": "x", "en": "x", "value": "code"}),
            "flooor: not a field",
        ),
        (
            lambda r: r["indicators"]["toilet"].update(labels={"golden": {"id": "emas", "en": "gold"}}),
            r"labels for unknown codes \['golden'\]",
        ),
        (lambda r: r["template"].update(id="{indicator}: {value}"), "must contain {direction}"),
        (lambda r: r["indicators"]["has_car"].update(unit={"id": "buah", "en": "units"}), "unit applies"),
        (lambda r: r["indicators"]["land_area_m2"].update(colour="red"), "land_area_m2.colour"),
        (lambda r: r["indicators"]["has_tv"].update(id=""), "has_tv.id"),
    ],
)
def test_invalid_catalogue_files_are_refused(tmp_path: Path, mutate, match: str) -> None:
    with pytest.raises(ReasonCatalogueError, match=match) as info:
        load_catalogue(_write(tmp_path, mutate))
    assert str(tmp_path) in str(info.value)


def test_unreadable_catalogue(tmp_path: Path) -> None:
    with pytest.raises(ReasonCatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("indicators: [", encoding="utf-8")
    with pytest.raises(ReasonCatalogueError, match="not valid YAML"):
        load_catalogue(bad)


def test_kind_mismatch_with_the_model_is_an_error() -> None:
    schema = InputSchema(("floor_area_m2",), ("categorical",), (("small", "large"),))
    with pytest.raises(ReasonCatalogueError, match="floor_area_m2 is categorical in the model"):
        ReasonRenderer(load_catalogue(), schema)


def test_codes_without_a_label_are_an_error() -> None:
    schema = InputSchema(("floor_material",), ("categorical",), (("earth", "mud"),))
    with pytest.raises(ReasonCatalogueError, match=r"no label for code\(s\) \['mud'\]"):
        ReasonRenderer(load_catalogue(), schema)


SCHEMA = _schema(
    ("floor_material", "categorical"),
    ("lighting", "categorical"),
    ("kecamatan", "categorical"),
    ("has_refrigerator", "numeric"),
    ("floor_area_m2", "numeric"),
    ("land_area_m2", "numeric"),
    ("food_share", "numeric"),
    ("household_size", "numeric"),
    ("electricity_va", "numeric"),
    ("head_education", "categorical"),
)


@pytest.mark.parametrize(
    ("indicator", "value", "text_id", "text_en"),
    [
        ("floor_material", 0, "tanah", "earth"),  # contract label, small first letter
        ("lighting", 0, "listrik PLN dengan meteran", "PLN electricity with a meter"),
        ("head_education", 1, "SD/sederajat", "primary"),  # an acronym keeps its capitals
        ("kecamatan", 17, "Tabang", "Tabang"),  # place names are not lowered
        ("has_refrigerator", 1.0, "ya", "yes"),
        ("has_refrigerator", 0.0, "tidak", "no"),
        ("floor_area_m2", 54.0, "54 m²", "54 m²"),
        ("land_area_m2", 12500.4, "12.500 m²", "12,500 m²"),
        ("food_share", 0.554, "55%", "55%"),
        ("household_size", 1.0, "1 orang", "1 person"),
        ("household_size", 6.0, "6 orang", "6 persons"),
        ("electricity_va", 0.0, "tidak tersambung PLN", "not connected to PLN"),
        ("electricity_va", 1300.0, "1.300 VA", "1,300 VA"),
        ("floor_area_m2", np.nan, "tidak diketahui", "unknown"),
        ("floor_material", np.nan, "tidak diketahui", "unknown"),
    ],
)
def test_values_are_written_per_catalogue(indicator: str, value: float, text_id: str, text_en: str) -> None:
    r = ReasonRenderer(load_catalogue(), SCHEMA)
    j = SCHEMA.names.index(indicator)
    assert r.value_text(j, float(value), "id") == text_id
    assert r.value_text(j, float(value), "en") == text_en


def test_reason_sentences() -> None:
    r = ReasonRenderer(load_catalogue(), SCHEMA)
    assert r.reason_text(0, 0.0, True, "id") == "Lantai rumah: tanah — menurunkan perkiraan kesejahteraan"
    assert r.reason_text(0, 0.0, True, "en") == "House floor: earth — lowers the welfare estimate"
    assert r.reason_text(3, 1.0, False, "id") == "Memiliki lemari es: ya — menaikkan perkiraan kesejahteraan"
    assert r.reason_text(3, 1.0, False, "en") == "Owns a refrigerator: yes — raises the welfare estimate"


def test_vectorised_texts_equal_one_by_one_texts() -> None:
    r = ReasonRenderer(load_catalogue(), SCHEMA)
    rng = np.random.default_rng(0)
    idx = rng.integers(-1, 3, 200)  # -1 = empty reason slot
    val = rng.integers(0, 4, 200).astype(float)
    val[rng.random(200) < 0.1] = np.nan
    down = rng.random(200) < 0.5
    for lang in ("id", "en"):
        texts = r.reason_texts(idx, val, down, lang)
        expected = [
            None if j < 0 else r.reason_text(int(j), float(x), bool(d), lang)
            for j, x, d in zip(idx, val, down, strict=True)
        ]
        assert [None if isinstance(t, float) else t for t in texts] == expected
    raw = r.raw_value_strings(idx, val)
    expected_raw = [
        None if j < 0 or np.isnan(x) else SCHEMA.categories[j][int(x)] for j, x in zip(idx, val, strict=True)
    ]
    assert [None if isinstance(t, float) else t for t in raw] == expected_raw


@pytest.mark.parametrize(
    ("x", "decimals", "lang", "text"),
    [
        (1250.5, 1, "id", "1.250,5"),
        (1250.5, 1, "en", "1,250.5"),
        (0.0, 0, "id", "0"),
        (1234567.0, 0, "id", "1.234.567"),
        (3.14159, 2, "en", "3.14"),
    ],
)
def test_format_number(x: float, decimals: int, lang: str, text: str) -> None:
    assert format_number(x, decimals, lang) == text


def test_catalogue_from_a_spec_uses_its_labels() -> None:
    spec = load_spec("paraguay_ephc")
    cat = ReasonCatalogue.from_spec(spec)
    assert set(cat.indicators) == set(spec.features)
    name, f = next(iter(spec.features.items()))
    assert cat.entry(name).name.get("id") == f.label
    assert cat.directions == load_catalogue().directions


def test_packaged_burkina_spec_carries_labels_for_every_feature() -> None:
    # Labels come from the survey's variables.csv, so its reasons read "Floor is cement: ...".
    spec = load_spec("burkina_faso")
    catalogue = ReasonCatalogue.from_spec(spec)
    assert spec.features["floor"].label == "Floor is cement"
    assert catalogue.entry("floor").en == "Floor is cement"
    assert set(catalogue.indicators) >= set(spec.features)
    unlabelled = dict(spec.features)
    unlabelled["floor"] = unlabelled["floor"].model_copy(update={"label": ""})
    with pytest.raises(ReasonCatalogueError, match=r"burkina_faso.*floor"):
        ReasonCatalogue.from_spec(spec.model_copy(update={"features": unlabelled}))


def test_catalogue_from_a_spec_refuses_unlabelled_features() -> None:
    spec = load_spec("paraguay_ephc")
    first = next(iter(spec.features))
    features = dict(spec.features)
    features[first] = features[first].model_copy(update={"label": " "})
    with pytest.raises(ReasonCatalogueError, match=f"feature\\(s\\) {first} have no `label`"):
        ReasonCatalogue.from_spec(spec.model_copy(update={"features": features}))


def test_spec_catalogue_writes_raw_codes_and_numbers() -> None:
    spec = load_spec("paraguay_ephc")
    cat = ReasonCatalogue.from_spec(spec)
    schema = InputSchema(("V04", "V02A"), ("categorical", "numeric"), (("1", "2", "3"), None))
    r = ReasonRenderer(cat, schema)
    assert (
        r.reason_text(0, 1.0, True, "en") == f"{spec.features['V04'].label}: 2 — lowers the welfare estimate"
    )
    assert r.value_text(1, 3.0, "id") == "3"  # whole numbers without decimals
    assert r.value_text(1, 2.5, "id") == "2,50"
    assert r.value_text(1, 2.5, "en") == "2.50"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_render_groups_triples_once_with_the_same_texts_and_dictionaries(seed: int, n: int) -> None:
    # render() sorts all triples once; the dictionaries (categories, in order) and every cell must be
    # what rendering each triple alone gives, and what the one-language methods give.
    r = ReasonRenderer(load_catalogue(), SCHEMA)
    rng = np.random.default_rng(seed)
    idx = rng.integers(-1, len(SCHEMA.names), n)
    val = rng.integers(0, 4, n).astype(float)
    val[rng.random(n) < 0.2] = np.nan
    down = rng.random(n) < 0.5
    raw, texts = r.render(idx, val, down)
    assert list(raw.categories) == list(r.raw_value_strings(idx, val).categories)
    assert raw.codes.tolist() == r.raw_value_strings(idx, val).codes.tolist()
    for lang in ("id", "en"):
        one = r.reason_texts(idx, val, down, lang)
        assert list(texts[lang].categories) == list(one.categories)
        assert texts[lang].codes.tolist() == one.codes.tolist()
        expected = [None if j < 0 else r.reason_text(int(j), float(x), bool(d), lang)
                    for j, x, d in zip(idx, val, down, strict=True)]
        assert [None if isinstance(t, float) else t for t in texts[lang]] == expected
