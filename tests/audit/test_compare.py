from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targeting.audit.compare import compare, criteria_profile, flagged_households
from targeting.privacy import pseudonymize

KEY = bytes(range(32))


def households(frame):
    """Hand-worked numbers here count households (survey weight only), not persons."""
    from targeting.audit.decisions import AuditData

    return AuditData.from_frame(frame, unit="household")


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "household_id": ["H0", "H1", "H2", "H3", "H4"],
            "head_nik": [
                "6402000000000001",
                "6402000000000002",
                None,
                "6402000000000004",
                "6402000000000005",
            ],
            "family_card_no": ["6402990000000001"] * 5,
            "weight": [1.0, 1, 2, 1, 1],
            "household_size": [4, 2, 5, 3, 1],
            "predicted_welfare": [400_000.0, 700_000, 300_000, 2_000_000, 600_000],
            "desil": [1, 2, 1, 8, 2],
            "selected": [True, True, False, False, True],
            "rule_verdict": ["eligible", "not_eligible", "eligible", "not_eligible", "unknown"],
            "poor_true": pd.array([True, False, True, False, None], dtype="boolean"),
            "crit_a": pd.array([True, False, True, False, None], dtype="boolean"),
            "crit_b": pd.array([True, None, False, False, True], dtype="boolean"),
            "reasons_id": ["Lantai tanah", "Motor", "Dinding bambu", "Mobil", "Lantai tanah"],
        }
    )


def test_flags_side_by_side():
    out = compare(frame(), key=KEY).set_index("household_id")
    assert out["exclusion_error"].tolist() == [False, False, True, False, False]
    assert out["inclusion_error"].isna().tolist() == [False, False, False, False, True]  # H4: truth unknown
    assert out["inclusion_error"].fillna(False).tolist() == [False, True, False, False, False]
    assert out["model_not_rules"].tolist() == [False, True, False, False, False]
    assert out["rules_not_model"].tolist() == [False, False, True, False, False]
    assert out["rules_unknown"].tolist() == [False, False, False, False, True]
    assert out["flagged"].tolist() == [False, True, True, False, False]
    assert out.loc["H2", "flags"] == "exclusion_error; rules_not_model"
    assert out.loc["H1", "flags"] == "inclusion_error; model_not_rules"
    assert out.loc["H0", "criteria_met"] == "a, b"
    assert out.loc["H1", "criteria_not_met"] == "a" and out.loc["H1", "criteria_unknown"] == "b"
    assert out.loc["H4", "criteria_unknown"] == "a"
    assert out.loc["H4", "poor_true"] is pd.NA


def test_unknown_truth_gives_known_flags_where_logic_allows():
    out = compare(frame())
    h4 = out.iloc[4]  # selected, truth unknown: cannot be excluded; inclusion error unknown
    assert h4["exclusion_error"] == False  # noqa: E712
    assert h4["inclusion_error"] is pd.NA


def test_nik_never_in_clear_and_pseudonym_matches_privacy_module():
    f = frame()
    out = compare(f, key=KEY)
    assert "head_nik" not in out and "family_card_no" not in out
    expected = pseudonymize(f["head_nik"], KEY)
    assert out["head_nik_pseudonym"].tolist() == expected.tolist()
    assert out["head_nik_pseudonym"].isna().tolist() == [False, False, True, False, False]
    text = out.to_csv()
    assert "6402000000000001" not in text and "6402990000000001" not in text
    assert "head_nik_pseudonym" not in compare(f)


def test_household_ids_can_be_pseudonymised_too():
    out = compare(frame(), key=KEY, pseudonymize_household_id=True)
    assert out["household_id"].str.startswith("h").all()
    assert "H0" not in out["household_id"].tolist()
    with pytest.raises(ValueError, match="needs the pseudonymisation key"):
        compare(frame(), pseudonymize_household_id=True)


def test_flagged_households_poor_left_out_first_then_by_predicted_welfare():
    f = frame()
    f["selected"] = [False, True, False, True, True]
    f["poor_true"] = pd.array([True, False, True, False, False], dtype="boolean")
    flagged = flagged_households(compare(f))
    # H2 (300k) and H0 (400k): poor left out; then the non-poor selected: H4 (600k), H1, H3 (2M).
    assert flagged["household_id"].tolist() == ["H2", "H0", "H4", "H1", "H3"]


def test_criteria_profile_hand_worked():
    prof = criteria_profile(households(frame()))
    # both = H0 (a, b met); model_only = H1 (not eligible) + H4 (unknown): weights 1, 1;
    # b met by H4 only -> 1/2; a met by neither (unknown is not met) -> 0. rules_only = H2: a only.
    assert prof.loc["a", "both"] == 1.0 and prof.loc["b", "both"] == 1.0
    assert prof.loc["a", "model_only"] == 0.0 and prof.loc["b", "model_only"] == 0.5
    assert prof.loc["a", "rules_only"] == 1.0 and prof.loc["b", "rules_only"] == 0.0
    assert prof.attrs["weighted_households"]["rules_only"] == 2.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[st.one_of(st.none(), st.sampled_from(["", "a", "b; c", "Kecamatan: X"]))] * 3),
                min_size=0, max_size=12),
       st.lists(st.booleans(), min_size=3, max_size=3))
def test_joined_reasons_equal_the_row_by_row_join(rows: list[tuple[str | None, ...]],
                                                  keep_slot: list[bool]) -> None:
    """The Arrow join of the flagged list's reason slots is the plain Python join, empty slots skipped."""
    import numpy as np
    import pandas as pd

    from targeting.audit.compare import _joined

    frame = pd.DataFrame({f"s{j}": pd.array([r[j] for r in rows], dtype="string") for j in range(3)},
                         index=np.arange(len(rows)) + 7)
    got = _joined(frame, ["s0", "s1", "s2"])
    assert got.tolist() == ["; ".join(p for p in r if p) for r in rows]
    assert got.index.tolist() == frame.index.tolist()
    keep = np.tile(np.array(keep_slot), (len(rows), 1))
    assert _joined(frame, ["s0", "s1", "s2"], keep=keep).tolist() == [
        "; ".join(p for p, k in zip(r, keep_slot, strict=True) if p and k) for r in rows]
