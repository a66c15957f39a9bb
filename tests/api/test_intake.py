"""Request households go through the CLI's own contract validation: same verdicts, same reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.intake import canonical_inputs, cell_text, sha256_json, validate_households
from targeting.survey.contract import load_contract
from targeting.survey.load import frame_to_survey
from targeting.survey.read import read_raw
from targeting.survey.spec import load_spec
from tests.conftest import valid_household

BAD_ROWS: list[dict[str, Any]] = [
    valid_household(1),
    valid_household(2, floor_material="marmer_emas"),                       # not a code
    valid_household(3, household_size="4.5"),                           # not whole
    valid_household(4, household_size="5"),                             # age bands no longer add up
    valid_household(5, head_nik="640212345678"),                        # 12 digits, personal
    valid_household(6, urban="mungkin"),                                # not yes/no
    valid_household(7, electricity_va="1000"),                          # not an allowed tier
    valid_household(8, food_share="1.2", head_age="9"),                 # two ranges at once
    valid_household(9, floor_material="Tanah", head_sex="perempuan"),   # labels are accepted
    valid_household(10, kecamatan=""),                                  # required value empty
]


def cli_rejects(rows: list[dict[str, Any]], tmp_path: Path) -> list[tuple[str, str, str, str, str]]:
    """What `targeting validate` reports for the same rows written to a CSV file."""
    import pandas as pd

    path = tmp_path / "households.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    loaded = frame_to_survey(read_raw(path), load_spec("indonesia_household"))
    return sorted(
        (str(r.household_id), str(r.column), str(r.value), str(r.reason), str(r.reason_en))
        for r in loaded.rejects.itertuples()
    )


def test_api_and_cli_agree_on_every_problem(tmp_path: Path) -> None:
    intake = validate_households(BAD_ROWS)
    api = sorted((p["household_id"], p["field"], p["value"], p["reason"], p["reason_en"])
                 for p in intake.problems)
    assert api == cli_rejects(BAD_ROWS, tmp_path)
    assert intake.data.household_id.tolist() == ["H0001", "H0009"]
    assert intake.positions.tolist() == [0, 8]
    # The positions of the problems name the request's households.
    assert {p["index"] for p in intake.problems} == {1, 2, 3, 4, 5, 6, 7, 9}


def test_nik_is_redacted_in_problems() -> None:
    intake = validate_households([valid_household(1, head_nik="640212345678")])
    (problem,) = intake.problems
    assert problem["field"] == "head_nik"
    assert "640212345678" not in str(problem)
    assert problem["value"] == "<disamarkan: 12 karakter>"


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (False, "false"), (4, "4"), (4.0, "4.0"), (0.1, "0.1"),
     ("ya", "ya"), (float("nan"), "nan")],
)
def test_json_scalars_become_csv_cells(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_json_types_and_csv_text_give_the_same_household_and_hash() -> None:
    as_text = valid_household(1)
    as_json = valid_household(1, urban=True, household_size=4, food_share=0.45, has_car=False,
                              electricity_va=900, floor_area_m2=54, head_age=40.0)
    a, b = validate_households([as_text]), validate_households([as_json])
    assert not a.problems and not b.problems
    assert a.inputs == b.inputs
    assert sha256_json(a.inputs[0]) == sha256_json(b.inputs[0])
    assert a.inputs[0]["household_size"] == 4 and a.inputs[0]["urban"] is True
    assert a.inputs[0]["food_share"] == 0.45 and a.inputs[0]["floor_material"] == "tile_ceramic"


def test_canonical_input_leaves_out_personal_fields_and_the_id() -> None:
    intake = validate_households([valid_household(1)])
    (record,) = canonical_inputs(intake.data, load_contract())
    assert "head_nik" not in record and "family_card_no" not in record and "household_id" not in record
    assert "6402" not in sha256_json(record)  # a hash, and the record holds no NIK digits either
    assert not any("6402000000000001" in str(v) for v in record.values())


def test_inputs_read_from_the_validations_arrays_equal_the_frames() -> None:
    """The request's stored inputs (from the typed arrays) are the accepted frame's values."""
    households = [valid_household(1), valid_household(2, floor_material="Tanah", urban="ya"),
                  {k: v for k, v in valid_household(3).items() if k != "head_income_rp"}]
    intake = validate_households(households)
    assert len(intake.data) == 3
    from_frame = canonical_inputs(intake.data, load_contract())
    assert intake.inputs == from_frame
    assert from_frame[2]["head_income_rp"] is None and from_frame[1]["floor_material"] == "earth"
    assert from_frame[1]["urban"] is True and from_frame[0]["household_size"] == 4


@pytest.mark.parametrize(
    ("household", "field", "reason_en"),
    [
        ({**valid_household(1), "flor_material": "earth"}, "flor_material",
         "unknown field (not in the survey contract)"),
        ({k: v for k, v in valid_household(1).items() if k != "toilet"}, "toilet",
         "required field is missing"),
        (valid_household(1, household_id=""), "household_id", "required value is empty"),
        (valid_household(1, household_size=True), "household_size", "not a number"),
        (valid_household(1, household_size=float("inf")), "household_size", "not a number"),
        (valid_household(1, food_share=float("nan")), "food_share", "not a number"),
    ],
)
def test_request_level_problems(household: dict[str, Any], field: str, reason_en: str) -> None:
    intake = validate_households([household, valid_household(2)])
    assert [(p["index"], p["field"], p["reason_en"]) for p in intake.problems] == [(0, field, reason_en)]
    assert intake.data.household_id.tolist() == ["H0002"]


def test_repeated_ids_reject_every_copy_and_still_check_their_values() -> None:
    rows = [valid_household(1), valid_household(1, floor_material="x"), valid_household(2)]
    intake = validate_households(rows)
    found = sorted((p["index"], p["field"]) for p in intake.problems)
    assert found == [(0, "household_id"), (1, "floor_material"), (1, "household_id")]
    assert intake.data.household_id.tolist() == ["H0002"]
    assert intake.positions.tolist() == [2]


def test_optional_field_given_by_some_households_only() -> None:
    with_boat = valid_household(1, has_boat="1")
    without = {k: v for k, v in valid_household(2).items() if k != "has_boat"}
    intake = validate_households([with_boat, without])
    assert not intake.problems
    assert [r["has_boat"] for r in intake.inputs] == [True, None]


def test_an_indonesian_and_an_english_label_give_the_request_the_same_code_and_hash() -> None:
    spellings = ["tile_ceramic", "keramik", "tiles or ceramic"]
    intakes = [validate_households([valid_household(1, floor_material=v)]) for v in spellings]
    assert [i.problems for i in intakes] == [[], [], []]
    assert [i.data.frame["floor_material"].astype(str).tolist() for i in intakes] == [["tile_ceramic"]] * 3
    assert len({sha256_json(i.inputs[0]) for i in intakes}) == 1  # one household, however it was spelt
    (problem,) = validate_households([valid_household(1, floor_material="keramik_emas")]).problems
    assert (problem["index"], problem["field"], problem["value"]) == (0, "floor_material", "keramik_emas")
    assert problem["reason"].startswith("bukan kode yang sah (pilihan: earth,")
    assert problem["reason_en"].startswith("not a valid code (allowed: earth,")


_VALUES = {
    "Int64": st.integers(-(2**53), 2**53),
    "boolean": st.booleans(),
    "float64": st.floats(allow_nan=False),
    "string": st.text(max_size=5),
    "category": st.sampled_from(["earth", "bamboo", "tile_ceramic"]),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(0, 6))
def test_stored_inputs_are_the_values_given_as_plain_python(data: st.DataObject, n: int) -> None:
    """What the store keeps of a validated frame: each value as a plain int/float/bool/str, NA as None.

    One frame holding every dtype the validation gives (one conversion reads them all together).
    """
    import pandas as pd

    from api.intake import plain_rows
    from targeting._frames import python_values

    columns = {dtype: data.draw(st.lists(st.none() | _VALUES[dtype], min_size=n, max_size=n))
               for dtype in sorted(_VALUES)}
    frame = pd.DataFrame({dtype: pd.Series(values, dtype=dtype) for dtype, values in columns.items()})
    frame["nan"] = pd.Series([float("nan")] * n, dtype="float64")
    names = [*sorted(_VALUES)[::-1], "nan"]
    rows = plain_rows(frame, names)
    expected = [[columns[name][i] if name != "nan" else None for name in names] for i in range(n)]
    assert rows == expected
    # Never numpy scalars or pd.NA.
    assert [[type(v) for v in r] for r in rows] == [[type(v) for v in r] for r in expected]
    # Column by column from the typed arrays the validation builds (float columns as numpy arrays):
    # the same values and types.
    arrays = {name: frame[name].to_numpy() if frame[name].dtype == "float64" else frame[name].array
              for name in names}
    by_column = [python_values(arrays[name]) for name in names]
    assert [list(r) for r in zip(*by_column, strict=True)] == expected
    assert [[type(v) for v in col] for col in by_column] == [[type(r[j]) for r in expected]
                                                             for j in range(len(names))]
