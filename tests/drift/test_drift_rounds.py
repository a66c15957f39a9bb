"""Two hand-made rounds of decisions: every transition, flow and mover's reason worked out by hand.

previous round                                  current round
  A desil 1, 4 persons, pkh, sembako  (x)         A desil 1, 4 persons, pkh, sembako       stayed
  B desil 3, 2 persons, pkh, sembako  (x)         B desil 6, 3 persons, -                  left both
  C desil 5, 3 persons, sembako       (y)         C desil 4, 3 persons, pkh, sembako       entered pkh
  D desil 2, 5 persons, pkh, sembako  (x)         -                                        gone
  -                                               E desil 2, 1 person,  pkh, sembako (y)   new
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.drift import (
    compare_rounds,
    desil_transitions,
    entrant_reasons,
    leaver_reasons,
    link_rounds,
    programme_flows,
)
from targeting.errors import InputFileError
from targeting.explain import ReasonCatalogueError, load_catalogue


def previous() -> pd.DataFrame:
    return pd.DataFrame({
        "household_id": ["pA", "pB", "pC", "pD"],
        "weight": [1.0, 1.0, 1.0, 1.0],
        "household_size": [4, 2, 3, 5],
        "desil": [1, 3, 5, 2],
        "program_pkh": [True, True, False, True],
        "program_sembako": [True, True, True, True],
        "kecamatan": ["x", "x", "y", "x"],
        "head_nik": ["6402000000000001", "6402000000000002", "6402000000000003", "6402000000000004"],
        "predicted_log_welfare": [12.0, 13.0, 14.0, 12.5],
        "contrib_floor_material": [-0.5, -0.25, 0.0, -0.5],
        "contrib_household_size": [-0.5, -0.25, 0.0, -0.5],
        "contrib_has_tv": [0.0, -0.125, 0.25, 0.0],
    })


def current() -> pd.DataFrame:
    return pd.DataFrame({
        "household_id": ["pE", "pC", "pB", "pA"],
        "weight": [1.0, 1.0, 1.0, 1.0],
        "household_size": [1, 3, 3, 4],
        "desil": [2, 4, 6, 1],
        "program_pkh": [True, True, False, True],
        "program_sembako": [True, True, False, True],
        "kecamatan": ["y", "y", "x", "x"],
        "predicted_log_welfare": [12.25, 13.625, 13.5, 12.0],
        "contrib_floor_material": [-0.5, 0.0, 0.125, -0.5],
        "contrib_household_size": [-0.5, -0.125, -0.25, -0.5],
        "contrib_has_tv": [0.0, -0.125, 0.0, 0.0],
    })


def test_links_keep_everybody_in_input_order_and_never_the_nik():
    links = link_rounds(previous(), current())
    assert links["household_id"].tolist() == ["pA", "pB", "pC", "pD", "pE"]
    assert links["presence"].tolist() == ["both", "both", "both", "previous_only", "current_only"]
    assert links["desil_previous"].tolist()[:4] == [1, 3, 5, 2]
    assert links["desil_previous"].isna().tolist() == [False] * 4 + [True]
    assert links["desil_current"].tolist()[:3] == [1, 6, 4]
    assert not any("nik" in c for c in links.columns)


def test_transition_matrix_by_persons_at_current_size():
    m = desil_transitions(previous(), current())
    assert m.shape == (11, 11)
    expected = {("1", "1"): 4.0, ("3", "6"): 3.0, ("5", "4"): 3.0, ("2", "absent"): 5.0, ("absent", "2"): 1.0}
    for (r, c), v in expected.items():
        assert m.loc[r, c] == v
    assert m.to_numpy().sum() == sum(expected.values())
    assert m.loc["absent", "absent"] == 0


def test_transition_matrix_other_weights():
    # B counted at its previous size (2) instead of its current one (3).
    assert desil_transitions(previous(), current(), weight_from="previous").loc["3", "6"] == 2.0
    counts = desil_transitions(previous(), current(), unit="count")
    assert counts.to_numpy().sum() == 5
    assert counts.loc["3", "6"] == 1
    prev = previous().assign(weight=[2.0, 1.0, 1.0, 1.0])
    households = desil_transitions(prev, current().assign(weight=[1.0, 1.0, 1.0, 3.0]), unit="household")
    assert households.loc["1", "1"] == 3.0  # A's current weight


def test_row_shares():
    prev = previous().assign(desil=[1, 1, 5, 2])  # A and B both start in desil 1
    m = desil_transitions(prev, current(), normalize="row")
    # desil 1: A (4 persons) stays, B (3 persons) goes to 6
    assert m.loc["1", "1"] == pytest.approx(4 / 7)
    assert m.loc["1", "6"] == pytest.approx(3 / 7)
    assert m.loc["3"].isna().all()  # nobody started in desil 3


def test_programme_flows_by_persons():
    f = programme_flows(previous(), current()).set_index("program")
    pkh, sembako = f.loc["pkh"], f.loc["sembako"]
    # pkh: stayed A (4), entered C (3), left B (3 now), new E (1), gone D (5)
    assert [pkh[k] for k in ("stayed", "entered", "left", "new_in", "gone")] == [1, 1, 1, 1, 1]
    assert [pkh[f"{k}_weighted"] for k in ("stayed", "entered", "left", "new_in", "gone")] == [4, 3, 3, 1, 5]
    assert (pkh["in_previous"], pkh["in_previous_weighted"]) == (3, 12.0)  # A + B + D
    assert (pkh["in_current"], pkh["in_current_weighted"]) == (3, 8.0)  # A + C + E
    # sembako: stayed A and C (7), left B (3), new E (1), gone D (5), nobody entered
    flows = ("stayed", "entered", "left", "new_in", "gone")
    assert [sembako[f"{k}_weighted"] for k in flows] == [7, 0, 3, 1, 5]
    for row in (pkh, sembako):
        for s in ("", "_weighted"):
            assert row[f"in_previous{s}"] == row[f"stayed{s}"] + row[f"left{s}"] + row[f"gone{s}"]
            assert row[f"in_current{s}"] == row[f"stayed{s}"] + row[f"entered{s}"] + row[f"new_in{s}"]


def test_programme_flows_by_kecamatan():
    f = programme_flows(previous(), current(), by="kecamatan", unit="count")
    pkh = f[f["program"] == "pkh"].set_index("kecamatan")
    # x: A stayed, B left, D gone; y: C entered, E new
    assert pkh.loc["x", ["stayed", "entered", "left", "new_in", "gone"]].tolist() == [1, 0, 1, 0, 1]
    assert pkh.loc["y", ["stayed", "entered", "left", "new_in", "gone"]].tolist() == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="personal identifier"):
        programme_flows(previous(), current(), by="head_nik")


def test_group_comes_from_the_current_round_where_the_household_is_in_it():
    cur = current().assign(kecamatan=["y", "y", "z", "x"])  # B moved to kecamatan z
    f = programme_flows(previous(), cur, by="kecamatan", unit="count")
    pkh = f[f["program"] == "pkh"].set_index("kecamatan")
    assert pkh.loc["z", "left"] == 1
    assert pkh.loc["x", "gone"] == 1  # D is only in the previous round: its previous kecamatan


def test_leaver_reasons_hand_worked():
    lv = leaver_reasons(previous(), current(), top_k=2)
    assert lv["household_id"].tolist() == ["pB", "pB"]
    assert lv["program"].tolist() == ["pkh", "sembako"]
    b = lv.iloc[0]
    # B's changes: floor -0.25 -> 0.125 (+0.375), size 0 change, tv -0.125 -> 0 (+0.125)
    assert (b.desil_previous, b.desil_current) == (3, 6)
    assert b.prediction_change == pytest.approx(0.5)
    assert b.indicators_change == pytest.approx(0.5)
    assert b.other_change == pytest.approx(0.0)
    assert b.n_reasons == 2
    assert (b.reason_1_indicator, b.reason_1_change) == ("floor_material", pytest.approx(0.375))
    assert (b.reason_2_indicator, b.reason_2_change) == ("has_tv", pytest.approx(0.125))


def test_entrant_reasons_hand_worked():
    en = entrant_reasons(previous(), current(), top_k=3)
    assert en["household_id"].tolist() == ["pC"]
    c = en.iloc[0]
    # C: floor 0 -> 0, size 0 -> -0.125, tv 0.25 -> -0.125 (-0.375); prediction 14 -> 13.625
    assert c.prediction_change == pytest.approx(-0.375)
    assert c.indicators_change == pytest.approx(-0.5)
    assert c.other_change == pytest.approx(0.125)  # the part no indicator explains
    assert c.n_reasons == 2  # the floor did not move: not a reason
    assert (c.reason_1_indicator, c.reason_1_change) == ("has_tv", pytest.approx(-0.375))
    assert (c.reason_2_indicator, c.reason_2_change) == ("household_size", pytest.approx(-0.125))
    assert c.reason_3_indicator is None and np.isnan(c.reason_3_change)


def test_reasons_in_the_catalogue_words():
    lv = leaver_reasons(previous(), current(), top_k=1, catalogue=load_catalogue())
    assert lv["reason_1_text_id"].iloc[0] == "Lantai rumah: berubah, menaikkan perkiraan kesejahteraan"
    assert lv["reason_1_text_en"].iloc[0] == "House floor: changed, raises the welfare estimate"
    en = entrant_reasons(previous(), current(), top_k=1, catalogue=load_catalogue())
    assert en["reason_1_text_id"].iloc[0] == "Memiliki televisi: berubah, menurunkan perkiraan kesejahteraan"
    odd = current().rename(columns={"contrib_has_tv": "contrib_not_in_catalogue"})
    with pytest.raises(ReasonCatalogueError, match="not_in_catalogue"):
        leaver_reasons(previous(), odd, catalogue=load_catalogue())


def test_a_leaver_moved_by_others_has_no_reasons():
    # B's own prediction and contributions unchanged, yet its desil rose: others moved, not B.
    prev = previous()
    cur = current()
    same = ("predicted_log_welfare", "contrib_floor_material", "contrib_household_size", "contrib_has_tv")
    for col in same:
        cur.loc[cur["household_id"] == "pB", col] = prev.loc[prev["household_id"] == "pB", col].iloc[0]
    lv = leaver_reasons(prev, cur).set_index("program")
    assert lv.loc["pkh", "n_reasons"] == 0
    assert lv.loc["pkh", "prediction_change"] == 0.0
    assert lv.loc["pkh", "moved_by_others"]
    assert not leaver_reasons(previous(), current())["moved_by_others"].any()


def test_without_contributions_the_leavers_are_still_listed():
    strip = [c for c in previous().columns if c.startswith("contrib_")] + ["predicted_log_welfare"]
    lv = leaver_reasons(previous().drop(columns=strip), current().drop(columns=strip))
    assert lv["household_id"].tolist() == ["pB", "pB"]
    assert lv["n_reasons"].tolist() == [0, 0]
    assert lv["prediction_change"].isna().all()
    assert lv["moved_by_others"].isna().all()


def test_compare_rounds_metrics():
    cmp = compare_rounds(previous(), current())
    assert cmp.presence_counts() == {"both": 3, "previous_only": 1, "current_only": 1}
    m = cmp.flat_metrics()
    # linked persons: A 4 (same desil), B 3 (3 -> 6), C 3 (5 -> 4): 4/10 same; (0 + 3 x 3 + 3 x 1)/10
    assert m["rounds.share_same_desil"] == pytest.approx(0.4)
    assert m["rounds.mean_abs_desil_change"] == pytest.approx(1.2)
    assert m["rounds.pkh.left"] == 3.0
    assert m["rounds.pkh.exit_rate"] == pytest.approx(3 / 7)
    assert m["rounds.n_current_only"] == 1
    assert cmp.transitions_count.to_numpy().sum() == 5


@pytest.mark.parametrize(("frame", "message"), [
    (previous().assign(household_id=["pA", "pA", "pC", "pD"]), "household_id 'pA' appears 2 times"),
    (previous().assign(desil=[1, 11, 5, 2]), "row 1: desil 11 is not 1..10"),
    (previous().assign(weight=[1.0, -1.0, 1.0, 1.0]), "row 1: weight -1.0 is not a finite non-negative"),
    (previous().drop(columns=["desil"]), "missing column"),
    (previous().assign(program_pkh=[True, None, False, True]), "row 1: program_pkh is missing"),
])
def test_bad_decisions_are_refused_with_the_row(frame, message):
    with pytest.raises(InputFileError, match=message):
        link_rounds(frame, current())


def test_a_programme_in_one_round_only_is_an_error_unless_left_out():
    cur = current().assign(program_new=True)
    with pytest.raises(InputFileError, match="new are in one round"):
        programme_flows(previous(), cur)
    f = programme_flows(previous(), cur, programs=["pkh"])
    assert f["program"].tolist() == ["pkh"]
