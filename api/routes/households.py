"""GET /v1/households/{household_id}/decisions: a household's decision history (inspectors)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.decisions import decision_out, pseudonym_of
from api.deps import InspectorRole, PseudonymKeysDep, SessionDep
from api.schemas import ErrorOut, HistoryOut
from api.store import household_history

router = APIRouter(prefix="/v1", tags=["households"])


@router.get(
    "/households/{household_id}/decisions",
    response_model=HistoryOut,
    summary="Riwayat keputusan / decision history",
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
def history(
    household_id: Annotated[str, Path(min_length=1, max_length=200,
                                      description="The household id as sent when it was scored.")],
    principal: InspectorRole,
    session: SessionDep,
    pseudonym_keys: PseudonymKeysDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most decisions returned (oldest first).")] = 100,
) -> Any:
    """Every stored decision about a household, oldest first.

    The path takes the household id as it was scored; the service pseudonymises it with its keyed
    HMAC and looks the pseudonym up (the store holds no raw ids). An unknown id returns an empty list.
    """
    # Under the current key, and under keys retired by rotation, so a history survives rotation.
    pseudonyms = [pseudonym_of(household_id, key) for key in pseudonym_keys]
    pseudonym = pseudonyms[0]
    rows = household_history(session, pseudonyms, limit=limit)
    return {"household_pseudonym": pseudonym,
            "decisions": [decision_out(row, household_id.strip()) for row in rows]}
