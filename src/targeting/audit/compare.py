"""Per household: the model's pick, the rules' verdict and the truth side by side, with flags.

Flags: inclusion error (selected, not poor), exclusion error (poor, not selected), and model–rules
disagreement both ways. Each row carries the model's reasons and the criteria met, not met and
unknown, so an inspector can see why the two disagree. Personal identifiers never come out in
clear: NIK becomes a keyed pseudonym, family card numbers are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.audit.decisions import (
    CRITERION_PREFIX,
    PERSONAL_COLUMNS,
    AuditData,
    as_audit_data,
)
from targeting.decide.schema import reason_text_columns
from targeting.privacy import pseudonymize

#: Flag columns, in the order an inspector should look at them (field-verification priority).
FLAGS: tuple[str, ...] = ("exclusion_error", "rules_not_model", "inclusion_error", "model_not_rules")
PSEUDONYM_COLUMN = "head_nik_pseudonym"
#: Columns that say where a household is, kept for field lists when the decisions table has them.
LOCATION_COLUMNS: tuple[str, ...] = ("desa", "desa_name", "dusun", "rt", "rw", "address")


def _code_text(code: np.ndarray, names: tuple[str, ...], sep: str) -> pd.Series:
    """Names of the bits set in each code, joined by ``sep``: one text per distinct code, not per row."""
    uniq, inverse = np.unique(code, return_inverse=True)
    texts = [sep.join(n for j, n in enumerate(names) if int(u) >> j & 1) for u in uniq.tolist()]
    return pd.Series(np.asarray(texts, dtype=object)[inverse.reshape(-1)], dtype="string")


def _criteria_texts(frame: pd.DataFrame, criteria: tuple[str, ...]) -> dict[str, pd.Series]:
    """Comma-separated criterion ids met / not met / unknown, per household (one pass per criterion)."""
    codes = {s: np.zeros(len(frame), dtype=np.int64) for s in ("met", "not_met", "unknown")}
    for j, cid in enumerate(criteria):  # about ten criteria
        col = frame[CRITERION_PREFIX + cid].astype("boolean")
        known = col.notna().to_numpy(dtype=bool)
        met = col.to_numpy(dtype=bool, na_value=False)
        codes["met"] |= met.astype(np.int64) << j
        codes["not_met"] |= (known & ~met).astype(np.int64) << j
        codes["unknown"] |= (~known).astype(np.int64) << j
    return {s: _code_text(c, criteria, ", ") for s, c in codes.items()}


def compare(
    decisions: pd.DataFrame | AuditData,
    *,
    key: bytes | None = None,
    pseudonymize_household_id: bool = False,
) -> pd.DataFrame:
    """Three verdicts side by side, with error and disagreement flags, for every household.

    Parameters
    ----------
    decisions : the decisions frame (or an :class:`AuditData`).
    key : pseudonymisation key (:func:`targeting.privacy.load_key`); with it, a ``head_nik``
        column becomes ``head_nik_pseudonym``. Without it, NIK is dropped. Other personal
        columns (family card number) are always dropped.
    pseudonymize_household_id : also replace ``household_id`` by a keyed pseudonym (for lists
        that leave the social office; field teams then need the key holder to find the house).

    Returns
    -------
    DataFrame, one row per household, in input order: ``household_id``, pseudonym (if any),
    ``weight``, ``desil``, ``predicted_welfare``, ``selected``, ``rule_verdict``,
    ``model_within_rules``, ``poor_true`` and ``welfare_true`` (nullable), the flags
    ``exclusion_error`` and ``inclusion_error`` (nullable: unknown without a truth),
    ``model_not_rules`` (selected, verdict not eligible), ``rules_not_model`` (eligible, not
    selected), ``rules_unknown``, ``flagged`` (any of the four flags), ``flags`` (their names),
    ``n_criteria_met``, ``criteria_met`` / ``criteria_not_met`` / ``criteria_unknown`` (ids),
    the model's reasons if given, and the group attributes present.
    """
    data = as_audit_data(decisions)
    frame = data.frame
    out = pd.DataFrame({"household_id": frame["household_id"].astype("string")})
    if pseudonymize_household_id:
        if key is None:
            raise ValueError("pseudonymize_household_id needs the pseudonymisation key")
        out["household_id"] = pseudonymize(out["household_id"], key, prefix="h")
    if key is not None and "head_nik" in frame:
        out[PSEUDONYM_COLUMN] = pseudonymize(frame["head_nik"], key)
    elif PSEUDONYM_COLUMN in frame:
        out[PSEUDONYM_COLUMN] = frame[PSEUDONYM_COLUMN].astype("string")
    truth = pd.array(data.poor, dtype="boolean")
    truth[~data.truth_known] = pd.NA
    selected = pd.array(data.selected, dtype="boolean")
    eligible = data.eligible
    out["weight"] = data.weight
    out["desil"] = data.desil
    out["predicted_welfare"] = data.predicted
    out["selected"] = data.selected
    out["rule_verdict"] = pd.Categorical(data.verdict, categories=["eligible", "not_eligible", "unknown"])
    out["model_within_rules"] = data.selected & eligible
    out["poor_true"] = truth
    out["welfare_true"] = data.welfare_true
    out["exclusion_error"] = truth & ~selected
    out["inclusion_error"] = selected & ~truth
    out["model_not_rules"] = data.selected & (data.verdict == "not_eligible")
    out["rules_not_model"] = eligible & ~data.selected
    out["rules_unknown"] = data.rules_unknown
    flag_np = np.column_stack([out[f].to_numpy(dtype=bool, na_value=False) for f in FLAGS])
    out["flagged"] = flag_np.any(axis=1)
    out["flags"] = _code_text(flag_np.astype(np.int64) @ (1 << np.arange(len(FLAGS))), FLAGS, "; ")
    out["n_criteria_met"] = data.n_met
    for status, text in _criteria_texts(frame, data.criteria).items():
        out[f"criteria_{status}"] = text
    # Reason slots as stored (dictionary-encoded): joined into one text per language only for the
    # flagged rows that are written out (`flagged_households`).
    for col in reason_text_columns(frame) + _reason_code_columns(frame):
        out[col] = frame[col]
    for col in data.group_columns():
        out[col] = frame[col]
    for col in LOCATION_COLUMNS:  # where a field team finds the household
        if col in frame.columns and col not in out.columns:
            out[col] = frame[col]
    assert not set(PERSONAL_COLUMNS) & set(out.columns)
    return out


def _reason_code_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if str(c).startswith("reason_") and str(c).endswith("_code")]


def flagged_households(flags: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows of :func:`compare`, in field-verification order.

    Poor households left out come first (exclusion errors, then rule-eligible households the model
    left out), then households selected without being poor or eligible; within each, the lowest
    predicted welfare first.
    """
    hit = flags[flags["flagged"]]
    flag_np = np.column_stack([hit[f].to_numpy(dtype=bool, na_value=False) for f in FLAGS])
    priority = np.where(flag_np.any(axis=1), flag_np.argmax(axis=1), len(FLAGS))
    order = np.lexsort((hit["predicted_welfare"].to_numpy(), priority))
    out = hit.iloc[order].reset_index(drop=True)
    slots = reason_text_columns(out)
    codes = _reason_code_columns(out)
    context = _context_mask(out, codes)
    for lang in ("id", "en"):
        cols = [c for c in slots if c.endswith(f"_text_{lang}")]
        if cols:
            out[f"reasons_{lang}"] = _joined(out, cols)
            if codes:
                # Reasons a household can check at a visit, and context (where it lives) apart.
                out[f"reasons_checkable_{lang}"] = _joined(out, cols, keep=~context)
                out[f"reasons_context_{lang}"] = _joined(out, cols, keep=context)
    return out.drop(columns=slots + codes)


def _context_mask(frame: pd.DataFrame, codes: list[str]) -> np.ndarray:
    """(rows x slots): the slot's indicator is context (`targeting.explain.context`), not a reason."""
    from targeting.explain.context import context_indicators

    ctx = context_indicators()
    if not codes:
        return np.zeros((len(frame), 0), dtype=bool)
    return np.column_stack([frame[c].astype("string").isin(ctx).to_numpy(dtype=bool, na_value=False)
                            for c in codes])


def _joined(frame: pd.DataFrame, columns: list[str], sep: str = "; ",
            keep: np.ndarray | None = None) -> pd.Series:
    """One text per row joining the reason slots (as `join_reason_texts`, row by row over the flagged rows).

    ``keep`` (rows x slots) leaves out the slots marked False. Joined in Arrow (empty and missing
    slots skipped): a Python loop over 31,000 rows and six columns took most of a second.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pa.scalar("", pa.large_string())
    glue = pa.scalar(sep, pa.large_string())
    acc = None
    for j, c in enumerate(columns):
        text = pc.fill_null(pa.Array.from_pandas(frame[c].astype("string")).cast(pa.large_string()), empty)
        if keep is not None and keep.shape[1] == len(columns):
            text = pc.if_else(pa.array(keep[:, j], type=pa.bool_()), text, empty)
        if acc is None:
            acc = text
            continue
        # Pairwise, without nulls (Arrow 25's null_handling="skip" dropped rows whose slots were all null).
        both = pc.and_(pc.not_equal(acc, empty), pc.not_equal(text, empty))
        acc = pc.if_else(both, pc.binary_join_element_wise(acc, text, glue),
                         pc.if_else(pc.equal(acc, empty), text, acc))
    if acc is None:
        return pd.Series("", index=frame.index, dtype="string")
    out = acc.to_pandas().astype("string")
    out.index = frame.index
    return out


def criteria_profile(decisions: pd.DataFrame | AuditData) -> pd.DataFrame:
    """Why the model and the rules disagree, in aggregate: how often each criterion is met.

    Weighted share of households meeting each criterion (unknown counts as not met) among those
    both select, the model only, the rules only, and neither. Rows: criterion ids; columns:
    ``both``, ``model_only``, ``rules_only``, ``neither``; ``attrs["weighted_households"]`` holds
    each column's weighted size.
    """
    data = as_audit_data(decisions)
    sel, elig = data.selected, data.eligible
    masks = {
        "both": sel & elig,
        "model_only": sel & ~elig,
        "rules_only": ~sel & elig,
        "neither": ~sel & ~elig,
    }
    table = pd.DataFrame(index=pd.Index(list(data.criteria), name="criterion"), columns=list(masks))
    sizes = {}
    for name, mask in masks.items():
        w = data.rate_weight * mask
        total = float(w.sum())
        sizes[name] = total
        for cid in data.criteria:  # about ten criteria
            met = data.frame[CRITERION_PREFIX + cid].astype("boolean").fillna(False).to_numpy(dtype=bool)
            table.loc[cid, name] = float(w @ met) / total if total > 0 else np.nan
    table = table.astype(float)
    table.attrs["weighted_households"] = sizes
    return table
