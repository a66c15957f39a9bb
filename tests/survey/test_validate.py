"""The contract: every bad cell is reported with row, column, value and reason; nothing is coerced."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.errors import InputFileError
from targeting.survey.load import load_dataset
from targeting.survey.spec import load_spec
from tests.conftest import valid_household

SPEC = load_spec("indonesia_household")


def run(frame: pd.DataFrame, tmp_path: Path, suffix: str = ".csv"):
    path = tmp_path / f"households{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return load_dataset(SPEC, files={"households": path})


def test_valid_file_is_accepted_whole_and_typed(households, tmp_path):
    loaded = run(households, tmp_path)
    assert len(loaded.data) == 5 and loaded.n_rejected_rows == 0
    frame = loaded.data.frame
    assert frame["household_size"].tolist() == [4] * 5
    assert frame["urban"].tolist() == [True] * 5
    assert frame["food_share"].tolist() == [0.45] * 5
    assert list(frame["floor_material"].cat.categories)[:2] == ["earth", "bamboo"]
    # features exclude ids, personal data, welfare and rule-only fields, and include the region
    feats = set(loaded.data.features.columns)
    assert "kecamatan" in feats and "floor_material" in feats
    assert not feats & {"household_id", "head_nik", "desa", "has_shelter", "head_income_rp", "savings_rp"}


@pytest.mark.parametrize(
    ("column", "value", "reason_en"),
    [
        ("household_size", "4.5", "must be a whole number"),
        ("household_size", "empat", "not a number"),
        ("household_size", "0", "out of range [1, 30]"),
        ("food_share", "1,5", "not a number"),  # decimal comma is not guessed in a '.' file
        ("food_share", "1.2", "out of range [0, 1]"),
        ("urban", "maybe", "not a yes/no value (1/0, ya/tidak, true/false)"),
        ("floor_material", "earht", "not a valid code"),
        ("electricity_va", "1000", "value not allowed"),
        ("kecamatan", "", "required value is empty"),
        ("head_nik", "12345", "wrong format"),
        ("n_age_0_5", "2", "members by age band must add up to household size"),
        ("head_age", "70", "the head's age band must hold at least one member"),
    ],
)
def test_each_bad_cell_is_rejected_with_row_column_value_reason(tmp_path, column, value, reason_en):
    rows = [valid_household(i) for i in range(1, 4)]
    rows[1][column] = value
    loaded = run(pd.DataFrame(rows), tmp_path)
    assert len(loaded.data) == 2, "the bad row is rejected, the others kept"
    assert loaded.data.household_id.tolist() == ["H0001", "H0003"]
    rej = loaded.rejects
    assert set(rej["row"]) == {3}  # header is row 1, so the second household is row 3
    assert set(rej["household_id"]) == {"H0002"}
    hit = rej[rej["reason_en"].str.startswith(reason_en)]
    assert len(hit) == 1, rej.to_string()
    assert column in hit["column"].iloc[0]
    if column != "head_nik":
        assert value in hit["value"].iloc[0] or column.startswith("n_age")


def test_nik_never_appears_in_rejects(tmp_path):
    rows = [valid_household(1, head_nik="640212345678")]  # 12 digits: invalid, and personal
    loaded = run(pd.DataFrame(rows), tmp_path)
    text = loaded.rejects.to_csv(index=False)
    assert "640212345678" not in text
    assert "disamarkan" in text


def test_labels_are_accepted_as_codes_but_not_guessed(tmp_path):
    rows = [valid_household(1, floor_material="Tanah", head_sex="perempuan"),
            valid_household(2, floor_material="tanahh")]
    loaded = run(pd.DataFrame(rows), tmp_path)
    assert loaded.data.frame["floor_material"].tolist() == ["earth"]
    assert loaded.data.frame["head_sex"].tolist() == ["P"]
    assert loaded.rejects["value"].tolist() == ["tanahh"]


def test_indonesian_and_english_labels_give_the_same_code_and_an_unknown_one_is_rejected(tmp_path):
    spellings = ["tile_ceramic", "keramik", "Ubin/tegel/keramik", "tiles or ceramic", "TILES OR CERAMIC"]
    rows = [valid_household(i + 1, floor_material=v) for i, v in enumerate(spellings)]
    rows.append(valid_household(9, floor_material="keramik_emas"))
    loaded = run(pd.DataFrame(rows), tmp_path)
    assert loaded.data.frame["floor_material"].astype(str).tolist() == ["tile_ceramic"] * 5
    allowed = ("earth, bamboo, low_quality_wood, plaster, cement_brick, quality_wood, tile_ceramic, "
               "marble_granite")
    assert loaded.rejects.to_dict("records") == [{
        "row": 7, "household_id": "H0009", "column": "floor_material", "value": "keramik_emas",
        "reason": f"bukan kode yang sah (pilihan: {allowed})",
        "reason_en": f"not a valid code (allowed: {allowed})",
    }]


@pytest.mark.parametrize(("field", "value", "code"), [
    ("floor_material", "keramik", "tile_ceramic"),      # one part of "Ubin/tegel/keramik"
    ("floor_material", "Keramik ", "tile_ceramic"),
    ("wall_material", "tembok", "concrete"),
    ("drinking_water", "PDAM", "piped"),
    ("head_education", "sd", "sd"),
])
def test_one_part_of_an_indonesian_label_names_its_code(tmp_path, field, value, code):
    loaded = run(pd.DataFrame([valid_household(1, **{field: value})]), tmp_path)
    assert loaded.n_rejected_rows == 0
    assert loaded.data.frame[field].tolist() == [code]


@pytest.mark.parametrize(("field", "value"), [
    ("head_education", "sederajat"),  # SD/sederajat, SMP/sederajat...: names no one code
    ("head_education", "tidak"),      # a boolean word, not "Tidak/belum sekolah"
    ("lighting", "surya)"),           # half of a bracket
])
def test_a_shared_or_partial_label_part_is_rejected(tmp_path, field, value):
    loaded = run(pd.DataFrame([valid_household(1, **{field: value})]), tmp_path)
    assert loaded.rejects["column"].tolist() == [field]


def test_missing_required_column_is_one_clear_error(households, tmp_path):
    with pytest.raises(InputFileError, match="missing required columns: floor_material"):
        run(households.drop(columns=["floor_material"]), tmp_path)


def test_duplicate_household_ids_are_one_clear_error(tmp_path):
    rows = [valid_household(1), valid_household(2), valid_household(1)]
    with pytest.raises(InputFileError, match=r"duplicate household ids: H0001 \(baris/rows 2,4\)"):
        run(pd.DataFrame(rows), tmp_path)


def test_unreadable_encoding_is_one_clear_error(households, tmp_path):
    path = tmp_path / "latin.csv"
    households.assign(desa="Désa Ñ").to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(InputFileError, match="cannot be read as utf-8"):
        load_dataset(SPEC, files={"households": path})


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_excel_and_parquet_read_the_same(households, tmp_path, suffix):
    bad = households.copy()
    bad.loc[2, "meals_per_day"] = "9"
    loaded = run(bad, tmp_path, suffix)
    assert len(loaded.data) == 4
    assert loaded.rejects[["row", "column", "value"]].values.tolist() == [[4, "meals_per_day", "9"]]


def test_cli_writes_rejects_and_exit_code(households, tmp_path):
    from typer.testing import CliRunner

    from targeting.cli import app

    bad = households.copy()
    bad.loc[0, "toilet"] = "bucket"
    src = tmp_path / "in.csv"
    bad.to_csv(src, index=False)
    result = CliRunner().invoke(app, ["validate", str(src), "--out-dir", str(tmp_path / "out")],
                                env={"TARGETING_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1, result.output
    rejects = pd.read_csv(tmp_path / "out" / "in.rejects.csv")
    assert rejects[["row", "column", "value"]].values.tolist() == [[2, "toilet", "bucket"]]
    said = " ".join(result.output.split())  # the table wraps at the terminal's width
    problems = said[said.index("Masalah terbanyak / most frequent problems"):]
    assert problems.index("│ toilet │ bukan kode yang sah") < problems.index("/ not a valid code")
    assert f"ditolak / rejects: {tmp_path / 'out' / 'in.rejects.csv'}" in result.output
    accepted = pd.read_csv(tmp_path / "out" / "in.accepted.csv", dtype=str)
    assert len(accepted) == 4
    assert "head_nik" not in accepted.columns
    assert accepted["head_nik_pseudonym"].str.match(r"^p[0-9a-f]{16}$").all()
    assert not accepted.apply(lambda c: c.str.contains("6402000000000002", na=False)).any().any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["ok", "size", "share", "floor", "blank_kec"]), min_size=1, max_size=12))
def test_every_row_is_accounted_for(tmp_path_factory, kinds):
    """Accepted + rejected rows always equal the rows read: nothing is silently dropped."""
    bad = {"size": {"household_size": "x"}, "share": {"food_share": "2"},
           "floor": {"floor_material": "?"}, "blank_kec": {"kecamatan": " "}}
    rows = [valid_household(i, **bad.get(k, {})) for i, k in enumerate(kinds, start=1)]
    loaded = run(pd.DataFrame(rows), tmp_path_factory.mktemp("h"))
    n_bad = sum(k != "ok" for k in kinds)
    assert len(loaded.data) == len(kinds) - n_bad
    assert loaded.n_rejected_rows == n_bad
    assert len(loaded.data) + loaded.n_rejected_rows == loaded.n_input


def test_absent_optional_features_are_missing_not_errors(households, tmp_path):
    loaded = run(households.drop(columns=["has_boat", "roof_condition"]), tmp_path)
    assert loaded.n_rejected_rows == 0
    feats = loaded.data.features
    assert feats["has_boat"].isna().all() and feats["roof_condition"].isna().all()
    assert list(feats["roof_condition"].cat.categories) == ["good", "damaged"]


def test_whole_number_too_large_for_int64_is_a_reject_not_a_crash(tmp_path):
    rows = [valid_household(1, livestock_units="1e20"), valid_household(2)]
    loaded = run(pd.DataFrame(rows), tmp_path)
    assert loaded.data.household_id.tolist() == ["H0002"]
    reasons = loaded.rejects.query("column == 'livestock_units'")["reason_en"].tolist()
    assert reasons[0] == "number too large"


def test_boolean_words_are_one_list_for_validator_rules_and_audit():
    """'t' means true in English and tidak in Indonesian: every reader refuses it instead of guessing."""
    import numpy as np
    import pandas as pd

    from targeting.audit.decisions import _bool_column
    from targeting.errors import InputFileError
    from targeting.survey.booleans import FALSE_WORDS, TRUE_WORDS
    from targeting.survey.validate import _BOOL_LOOKUP

    assert "t" not in TRUE_WORDS | FALSE_WORDS and "f" not in TRUE_WORDS | FALSE_WORDS
    assert set(_BOOL_LOOKUP.keys) == TRUE_WORDS | FALSE_WORDS
    frame = pd.DataFrame({"household_id": ["a", "b"], "x": pd.array(["ya", "Tidak"], dtype="string")})
    values, known = _bool_column(frame, "x", nullable=False)
    assert values.tolist() == [True, False] and known.all()
    with pytest.raises(InputFileError, match="true/false"):
        _bool_column(frame.assign(x=pd.array(["t", "ya"], dtype="string")), "x", nullable=False)
    assert np.isin(["1", "0"], list(TRUE_WORDS | FALSE_WORDS)).all()


def test_audit_groups_compare_the_specs_value_as_a_cell_prints_it(tmp_path):
    """``equals: true`` on a yes/no field is the field itself; ``1.0`` equals a count of 1.

    The group once compared ``str(True)`` ("True") with the cell's text ("true"), so every household
    was outside the urban group, and the welfare intervals calibrated by urban had one class only.
    """
    from targeting.survey.spec import GroupSpec

    rows = pd.DataFrame([valid_household(1, urban="1"), valid_household(2, urban="tidak"),
                         valid_household(3, urban="ya", head_sex="P"), valid_household(4, urban="0")])
    groups = {**SPEC.groups,
              "urban_listed": GroupSpec(column="urban", isin=[True]),
              "one_disabled": GroupSpec(column="n_disabled", equals=0.0),
              "not_urban": GroupSpec(column="urban", equals=False)}
    spec = SPEC.model_copy(update={"groups": groups})
    path = tmp_path / "households.csv"
    rows.to_csv(path, index=False)
    g = load_dataset(spec, files={"households": path}).data.groups
    assert g["urban"].tolist() == [True, False, True, False]
    assert g["urban_listed"].tolist() == [True, False, True, False]
    assert g["not_urban"].tolist() == [False, True, False, True]
    assert g["female_head"].tolist() == [False, False, True, False]
    assert g["one_disabled"].tolist() == [True] * 4
