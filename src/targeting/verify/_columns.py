"""Column names the verification functions read and write (the decisions table's, where it has them)."""

from __future__ import annotations

HOUSEHOLD_ID = "household_id"
PERSONS = "household_size"
SELECTED = "selected"
#: Probability that the household's decision is wrong (from :func:`targeting.pmt.borderline.borderline`).
P_WRONG = "p_other_side"
#: Probability that the household truly lies on the programme's side of the cut.
P_ELIGIBLE = "p_eligible"
STATUS = "status"
KECAMATAN = "kecamatan"
DESA = "desa"
DESIL = "desil"
PREDICTED = "predicted_welfare"
RULE_VERDICT = "rule_verdict"
RULE_N_MET = "rule_n_met"
REASON_PREFIX = "reason_"
#: Written by :func:`targeting.verify.select_visits`.
EXPECTED = "expected_corrections"
RANK = "rank"
RANK_IN_KECAMATAN = "rank_in_kecamatan"
CUMULATIVE = "cumulative_expected_corrections"
#: Personal identifiers (UU 27/2022) that never reach a verification list.
PERSONAL_COLUMNS: tuple[str, ...] = ("head_nik", "family_card_no", "head_nik_pseudonym")


def reason_column(slot: int, part: str) -> str:
    """``reason_<slot>_<part>`` (parts: code, value, contribution, text_id, text_en)."""
    return f"{REASON_PREFIX}{slot}_{part}"


def reason_slots(columns: object) -> list[int]:
    """Reason slots present in a frame's columns (those with a code), in order."""
    slots = []
    for c in columns:  # type: ignore[attr-defined]
        name = str(c)
        if name.startswith(REASON_PREFIX) and name.endswith("_code"):
            middle = name[len(REASON_PREFIX) : -len("_code")]
            if middle.isdigit():
                slots.append(int(middle))
    return sorted(slots)
