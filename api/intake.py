"""Request households -> the same contract validation as the CLI -> accepted `SurveyData` + problems.

Each JSON household becomes one row of a raw text frame, exactly as a CSV line would (numbers as
their decimal text, booleans as ``true``/``false``, null as an empty cell), and
`targeting.survey.load.frame_to_survey` judges it. So the API and ``targeting validate`` accept and
reject the same values with the same reasons.

A few checks that a file makes at file level (a required column absent, an id blank or repeated,
an unknown column) are per household here, so that one bad household cannot sink the others when
the caller asked ``on_error="score_valid"``. Two deliberate differences from the CLI: a JSON key
outside the contract is a problem (the CLI lists unknown columns as ignored; in a request it is
almost always a misspelt field that would otherwise be dropped silently), and a required key
missing from one household is a problem of that household.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting._frames import frame_of, python_values
from targeting.privacy import redact
from targeting.survey.contract import Contract, load_contract
from targeting.survey.dataset import SurveyData
from targeting.survey.load import frame_to_survey
from targeting.survey.read import ROW
from targeting.survey.spec import DatasetSpec, load_spec

SPEC_NAME = "indonesia_household"
#: pandas' ``string`` dtype (pyarrow storage), what a CSV column of text is read as.
_STRING = pd.StringDtype()


@dataclass(frozen=True)
class Intake:
    """Validated households of one request.

    Attributes
    ----------
    data : the accepted households (row ``i`` of every part is the same household).
    positions : position in the request of each accepted household.
    inputs : canonical, JSON-ready record of each accepted household (personal fields left out):
        what is hashed into ``input_sha256`` and stored to reproduce the decision.
    problems : one dict per bad value (index, household_id, field, value, reason, reason_en).
    """

    data: SurveyData
    positions: np.ndarray
    inputs: list[dict[str, Any]]
    problems: list[dict[str, Any]]


@cache
def survey_spec() -> DatasetSpec:
    """The dataset spec the CLI uses by default (the Indonesian household contract)."""
    return load_spec(SPEC_NAME)


def cell_text(value: object) -> str:
    """A JSON scalar as the text a CSV cell would hold (null -> empty)."""
    if type(value) is str:  # the common case first: this runs once per cell
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _problem(index: int, household_id: str | None, field: str, value: str, reason: str,
             reason_en: str) -> dict[str, Any]:
    return {"index": index, "household_id": household_id, "field": field, "value": value,
            "reason": reason, "reason_en": reason_en}


def _shown(contract: Contract, field: str, value: object) -> str:
    spec = contract.fields.get(field)
    return redact(value) if spec is not None and spec.role == "personal" else cell_text(value)


def _request_checks(households: Sequence[Mapping[str, Any]], contract: Contract,
                    ids: list[str]) -> list[dict[str, Any]]:
    """Per-household versions of the CLI's file-level checks (keys and ids)."""
    required = [n for n, f in contract.fields.items() if f.required]
    problems = []
    counts: dict[str, int] = {}
    for given in ids:
        counts[given] = counts.get(given, 0) + 1
    for i, h in enumerate(households):
        hid: str | None = ids[i] or None
        for key in h:
            if key not in contract.fields:
                problems.append(_problem(i, hid, key, _shown(contract, key, h[key]),
                                         "kolom tidak dikenal dalam kontrak data",
                                         "unknown field (not in the survey contract)"))
        for key in required:
            if key not in h:
                problems.append(_problem(i, hid, key, "", "kolom wajib tidak ada",
                                         "required field is missing"))
        if hid is not None and counts[hid] > 1:
            problems.append(_problem(i, hid, "household_id", ids[i],
                                     "household_id ganda dalam permintaan ini",
                                     "household_id repeated in this request"))
    return problems


def raw_frame(households: Sequence[Mapping[str, Any]], contract: Contract) -> pd.DataFrame:
    """The batch as a text table, one row per household, as a CSV file would give it.

    Columns are the required fields plus any field some household gives; a household without
    that key has an empty cell there, as in a CSV.
    """
    given = {k for h in households for k in h}
    names = [n for n, f in contract.fields.items() if f.required or n in given]
    # Each column straight to the pyarrow text array behind pandas' ``string`` dtype, and the frame
    # built once with the row numbers: ``dtype="string"`` from lists, then inserting ``_row``, costs
    # ~0.2 ms more for one household, the same frame.
    columns: dict[str, Any] = {
        name: _STRING.__from_arrow__(pa.array([cell_text(h.get(name)) for h in households],
                                              pa.large_string()))
        for name in names
    }
    columns[ROW] = np.arange(len(households))
    return frame_of(columns, pd.RangeIndex(len(households)))


def validate_households(households: Sequence[Mapping[str, Any]]) -> Intake:
    """Validate request households with the shared contract validation; never raises on bad values."""
    contract = load_contract()
    ids = [cell_text(h.get("household_id")).strip() for h in households]
    problems = _request_checks(households, contract, ids)
    raw = raw_frame(households, contract)
    # Blank or repeated ids would make the shared validation refuse the whole frame (a file-level
    # error); give those rows a unique stand-in so their other values are still checked, and
    # reject them through the problems above or the blank-id problem below.
    seen: dict[str, int] = {}
    for hid in ids:
        seen[hid] = seen.get(hid, 0) + 1
    stand_in = [not hid or seen[hid] > 1 for hid in ids]
    if any(stand_in):
        fixed = raw["household_id"].copy()
        fixed[np.asarray(stand_in)] = [f"#request-position-{i}" for i in np.flatnonzero(stand_in)]
        raw["household_id"] = fixed
    for i in np.flatnonzero([not hid for hid in ids]):
        problems.append(_problem(int(i), None, "household_id", "", "wajib diisi",
                                 "required value is empty"))
    loaded = frame_to_survey(raw, survey_spec(), where="request")
    rejects = loaded.rejects
    missing_keys = {(p["index"], p["field"]) for p in problems
                    if p["reason_en"] == "required field is missing"}
    for row in rejects.itertuples(index=False) if len(rejects) else ():  # ~0.5 ms even when empty
        index = int(row.row)
        if (index, row.column) in missing_keys or (row.column == "household_id" and not ids[index]):
            continue  # already reported as a missing key / blank id
        problems.append(_problem(index, ids[index] or None, str(row.column), str(row.value),
                                 str(row.reason), str(row.reason_en)))
    bad = {p["index"] for p in problems}
    data = loaded.data
    positions = np.asarray(data.frame.attrs.get("source_rows"), dtype=np.int64)
    if len(positions) != len(data):
        raise RuntimeError("validated frame lost its source rows")  # pragma: no cover
    arrays = loaded.arrays
    keep = ~np.isin(positions, sorted(bad))
    if not keep.all():
        data = data.subset(pd.Series(keep))
        positions = positions[keep]
        arrays = None  # the validation's arrays hold every household
    problems.sort(key=lambda p: (p["index"], p["field"]))
    return Intake(data=data, positions=positions, inputs=canonical_inputs(data, contract, arrays),
                  problems=problems)


def canonical_inputs(data: SurveyData, contract: Contract,
                     arrays: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each household's validated values as plain JSON types, personal fields and the id left out.

    Python scalars (a category as its label, ``Int64`` as int, ``boolean`` as bool) and every
    missing value, NaN of a float column included, as None. ``arrays`` are ``data.frame``'s columns
    as typed arrays (`targeting.survey.load.LoadedSurvey.arrays`) when the caller has them: read
    directly, they cost no Series each (~1 ms less for one household than converting the frame).
    """
    frame = data.frame
    names = [n for n, f in contract.fields.items() if f.role not in ("personal", "id") and n in frame.columns]
    rows: Iterable[Sequence[Any]] = plain_rows(frame, names) if arrays is None else zip(
        *(python_values(arrays[n]) for n in names), strict=True)
    return [dict(zip(names, values, strict=True)) for values in rows]


def plain_rows(frame: pd.DataFrame, names: Sequence[str]) -> list[list[Any]]:
    """The values of ``names`` in each row as plain Python scalars (str, int, float, bool); missing: None.

    One conversion for the whole frame: ``to_numpy(object)`` with ``na_value=None``.
    """
    values = frame.to_numpy(dtype=object, na_value=None)[:, frame.columns.get_indexer(names)]
    rows: list[list[Any]] = values.tolist()
    return rows


def canonical_json(obj: Any, *, allow_nan: bool = False) -> str:
    """Sorted-key, compact JSON: equal content gives equal bytes (and equal hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)


def sha256_json(obj: Any, *, allow_nan: bool = False) -> str:
    """Hex SHA-256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj, allow_nan=allow_nan).encode("utf-8")).hexdigest()
