"""Spec features that let a survey be read as it comes: tiny hand-made files, answers worked out by hand."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.errors import InputFileError, SpecError
from targeting.survey.load import load_dataset
from targeting.survey.spec import load_spec

BASE = """
name: tiny
data_root: spec
files:
  - {name: hh, path: hh.csv}
household_id: [hid]
household_size: size
"""


def write(tmp: Path, spec: str, **files: str) -> Path:
    for name, text in files.items():
        (tmp / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    path = tmp / "spec.yaml"
    text = BASE + textwrap.dedent(spec[len(BASE):]) if spec.startswith(BASE) else textwrap.dedent(spec)
    path.write_text(text, encoding="utf-8")
    return path


HH = """
hid,size,income,resp,floor,rooms
1,2,100,1,0,2
2,3,0,2,1,3
3,1,250,1,1,9
4,4,x,1,0,1
5,2,80,1,yes,1
"""


def test_row_filters_exclude_with_their_reason_and_reject_what_they_cannot_compare(tmp_path):
    spec = write(tmp_path, BASE + """
        welfare: {column: income, kind: total}
        rows:
          keep_if:
            - {column: resp, equals: 1, because: non-respondents are coded as income 0}
          drop_if:
            - {column: income, gt: 200, because: top-coded outliers}
        features:
          rooms: {type: numeric}
        """, **{"hh.csv": HH})
    loaded = load_dataset(load_spec(spec))
    # Row 3 (hid 2) fails keep_if; row 4 (hid 3) income 250 > 200 is dropped; hid 4's income "x" cannot
    # be compared with 200: rejected, not silently kept or dropped. hid 5 has floor "yes", not a feature.
    assert loaded.n_input == 5
    assert loaded.excluded["household_id"].tolist() == ["2", "3"]
    assert loaded.excluded["reason_en"].tolist()[0].endswith("non-respondents are coded as income 0")
    assert loaded.rejects["household_id"].tolist() == ["4"]
    assert "cannot be compared" in loaded.rejects["reason_en"].iloc[0]
    assert loaded.data.household_id.tolist() == ["1", "5"]
    # A total per household is divided by household size.
    assert loaded.data.welfare.tolist() == [50.0, 40.0]
    effects = {e.get("rule"): e["n"] for e in loaded.effects if e["effect"] == "filter"}
    assert effects == {"keep_if resp equals 1": 1, "drop_if income gt 200": 1}


def test_recode_maps_text_and_counts_every_change(tmp_path):
    spec = write(tmp_path, BASE + """
        recode:
          floor: {"yes": 1, "no": 0}
        features:
          floor: {type: binary}
        """, **{"hh.csv": HH.replace("1,2,100,1,0,2", "1,2,100,1,No,2")})
    loaded = load_dataset(load_spec(spec))
    assert loaded.data.features["floor"].tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]
    counts = {(e["from"], e["to"]): e["n"] for e in loaded.effects if e["effect"] == "recode"}
    assert counts == {("yes", "1"): 1, ("no", "0"): 1}  # "No" matched case-insensitively


def test_out_of_range_missing_keeps_the_household_and_reports_the_value(tmp_path):
    spec = write(tmp_path, BASE + """
        features:
          rooms: {type: numeric, min: 1, max: 8, out_of_range: missing}
        """, **{"hh.csv": HH})
    loaded = load_dataset(load_spec(spec))
    assert len(loaded.data) == 5 and len(loaded.rejects) == 0
    rooms = loaded.data.features["rooms"].to_numpy()
    assert np.isnan(rooms[2]) and rooms[[0, 1, 3, 4]].tolist() == [2.0, 3.0, 1.0, 1.0]
    notes = loaded.notes[["row", "household_id", "column", "value"]].values.tolist()
    assert notes == [[4, "3", "rooms", "9"]]
    (effect,) = [e for e in loaded.effects if e["effect"] == "treated_as_missing"]
    assert effect["n"] == 1 and effect["column"] == "rooms"
    # The default stays strict: the same value rejects the household.
    strict = write(tmp_path, BASE + "features:\n  rooms: {type: numeric, min: 1, max: 8}\n")
    assert load_dataset(load_spec(strict)).rejects["household_id"].tolist() == ["3"]


GEO = """
hid,size,sub,vil,r_north,r_south,r_east
1,2,A,1,1,0,0
2,3,A,2,0,1,0
3,1,B,1,0,0,1
4,4,B,1,0,0,0
5,2,A,1,1,1,0
"""


def test_composite_cluster_and_one_hot_region(tmp_path):
    spec = write(tmp_path, BASE + """
        cluster: {columns: [sub, vil], name: village}
        region: {one_hot: {r_north: north, r_south: south, r_east: east}}
        features:
          size: {type: numeric}
        """, **{"hh.csv": GEO})
    loaded = load_dataset(load_spec(spec))
    # Village 1 exists in both sub-districts: only (sub, vil) is unique.
    assert loaded.data.cluster.tolist() == ["A/1", "A/2", "B/1"]
    assert loaded.data.region.tolist() == ["north", "south", "east"]
    assert loaded.data.cluster_column == "village" and loaded.data.region_column == "region"
    # No region set (hid 4) and two set (hid 5) are both rejected, with how many were set.
    assert loaded.rejects.set_index("household_id")["value"].to_dict() == {"4": "0 set", "5": "2 set"}


PERSONS = """
hid,pid,rel,age,disabled,earn
1,1,1,45,0,100
1,2,2,40,0,50
1,3,3,10,1,
2,1,1,70,0,30
3,1,2,30,0,10
,9,1,20,0,5
4,1,1,50,0,20
4,2,1,48,0,20
"""


def test_person_level_file_becomes_households_and_reports_what_it_cannot_place(tmp_path):
    spec = write(tmp_path, """
        name: persons
        files:
          - {name: people, path: people.csv}
        persons:
          file: people
          household: [hid]
          head: {column: rel, equals: 1}
          columns:
            size: {how: count}
            children: {how: count, where: {column: age, lt: 15}}
            any_disabled: {how: any, where: {column: disabled, equals: 1}}
            head_age: {how: head, column: age}
            oldest: {how: max, column: age}
            mean_age: {how: mean, column: age}
            earnings: {how: sum, column: earn}
        household_id: [hid]
        household_size: size
        welfare: {column: earnings, kind: total}
        features:
          children: {type: numeric}
          any_disabled: {type: binary}
          head_age: {type: numeric}
          oldest: {type: numeric}
          mean_age: {type: numeric}
        """, **{"people.csv": PERSONS})
    loaded = load_dataset(load_spec(spec))
    d = loaded.data
    assert d.household_id.tolist() == ["1", "2"]
    f = d.features
    assert f["children"].tolist() == [1.0, 0.0] and f["any_disabled"].tolist() == [1.0, 0.0]
    assert f["head_age"].tolist() == [45.0, 70.0] and f["oldest"].tolist() == [45.0, 70.0]
    assert f["mean_age"].tolist() == pytest.approx([95 / 3, 70.0])
    assert d.household_size.tolist() == [3.0, 1.0]
    assert d.welfare.tolist() == pytest.approx([150 / 3, 30.0])  # a blank earning is skipped, not 0
    # The person at row 7 has no household; household 3 has no head and 4 has two: all reported.
    reasons = loaded.rejects.set_index("household_id")["reason_en"].to_dict()
    assert reasons[""].startswith("person without a household")
    assert reasons["3"] == reasons["4"] == "a household must have exactly one head"
    assert loaded.rejects.set_index("household_id").loc["4", "value"] == "2 kepala / heads"
    assert loaded.n_input == 8  # rows read are persons
    counts = {e["effect"]: e for e in loaded.effects}
    assert counts["persons_without_household"]["n"] == 1
    assert counts["households_without_one_head"]["n"] == 2
    assert counts["persons_aggregated"]["households"] == 4


CLASS = """
hid,size,status,rooms
1,2,1,1
2,3,3,4
3,1,2,2
4,4,9,1
"""


def test_welfare_as_an_ordinal_class_is_a_rank_not_money(tmp_path):
    spec = write(tmp_path, BASE + """
        welfare: {column: status, kind: class, classes: [1, 2, 3], poor: [1, 2]}
        features:
          rooms: {type: numeric}
        """, **{"hh.csv": CLASS})
    loaded = load_dataset(load_spec(spec))
    d = loaded.data
    assert d.welfare_kind == "class" and not d.welfare_is_money
    assert d.welfare.tolist() == [1.0, 3.0, 2.0] and d.poor.tolist() == [True, False, True]
    assert loaded.rejects["value"].tolist() == ["9"]
    from targeting.pmt.design import target

    assert target(d, check_leaks=False).tolist() == [1.0, 3.0, 2.0]  # never log of a class
    with pytest.raises(SpecError, match="needs `classes`"):
        load_spec(write(tmp_path, BASE + "welfare: {column: status, kind: class}\n"
                                         "features: {rooms: {type: numeric}}\n"))


def test_welfare_as_a_poverty_flag_only(tmp_path):
    spec = write(tmp_path, BASE + """
        welfare: {column: status, kind: flag, poor: [1]}
        features:
          rooms: {type: numeric}
        """, **{"hh.csv": CLASS})
    d = load_dataset(load_spec(spec)).data
    assert d.poor.tolist() == [True, False, False, False] and d.welfare.tolist() == [0.0, 1.0, 1.0, 1.0]


def test_never_features_are_refused_as_roles_too(tmp_path):
    with pytest.raises(SpecError, match=r"region uses column\(s\) \['income_decile'\].*never_features"):
        load_spec(write(tmp_path, BASE + """
            region: income_decile
            never_features: [income_decile]
            features: {rooms: {type: numeric}}
            """))


def test_a_region_that_tracks_welfare_is_refused_unless_the_spec_says_why(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    income = rng.lognormal(10, 0.6, n)
    decile = np.searchsorted(np.quantile(income, np.arange(1, 10) / 10), income) + 1
    frame = pd.DataFrame({"hid": range(n), "size": 1, "income": income.round(2), "bracket": decile,
                          "rooms": rng.integers(1, 6, n)})
    frame.to_csv(tmp_path / "hh.csv", index=False)
    spec_text = BASE + """
        welfare: {column: income}
        region: bracket
        features: {rooms: {type: numeric}}
        """
    data = load_dataset(load_spec(write(tmp_path, spec_text))).data
    from targeting.pmt.design import target, welfare_correlations

    corr = welfare_correlations(data)
    assert corr["region"] > 0.95 and corr["rooms"] < 0.2
    with pytest.raises(SpecError, match=r"region \(0\.9\d\d\).*welfare_leak_allowed"):
        target(data)
    allowed = load_spec(write(tmp_path, spec_text + "welfare_leak_allowed: {region: a test of the check}\n"))
    assert len(target(load_dataset(allowed).data)) == n


def test_paths_start_from_the_spec_folder_and_a_missing_file_says_where_it_looked(tmp_path):
    folder = tmp_path / "district"
    folder.mkdir()
    spec = write(folder, BASE + "features: {rooms: {type: numeric}}\n", **{"hh.csv": HH})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import os

    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)
        assert len(load_dataset(load_spec(spec)).data) == 5
    finally:
        os.chdir(cwd)
    (folder / "hh.csv").unlink()
    with pytest.raises(InputFileError, match=r"file 'hh' not found at .*district/hh\.csv \(paths in "
                                             r"this spec start from the spec file's folder\)"):
        load_dataset(load_spec(spec))


def test_an_empty_problem_table_is_a_new_table_each_time() -> None:
    """Empty rejects/excluded tables come from one built once; what a caller adds stays its own."""
    from targeting.survey.prepare import REJECT_COLUMNS, _empty

    first = _empty(REJECT_COLUMNS)
    first["extra"] = pd.Series(dtype="object")
    first.loc[0] = ["row", "id", "col", "v", "r", "r_en", "x"]
    again = _empty(REJECT_COLUMNS)
    assert list(again.columns) == REJECT_COLUMNS and len(again) == 0
    assert all(dtype == np.dtype(object) for dtype in again.dtypes)
