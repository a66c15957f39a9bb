"""GET /v1/households/{household_id}/decisions: a household's decision history (inspectors).

No ``from __future__ import annotations``: the id's length limit comes from the survey contract
when the router is built, and FastAPI must see it in the signature itself.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.decisions import decision_out, pseudonym_of
from api.deps import InspectorRole, PseudonymKeysDep, SessionDep
from api.grievances import grievance_out
from api.schemas import ErrorOut, HistoryOut
from api.store import household_grievances, household_history
from targeting.survey.contract import load_contract


def router() -> APIRouter:
    """The households router; ids are limited as the contract limits them in every reader."""
    max_length = load_contract().fields["household_id"].max_length
    r = APIRouter(prefix="/v1", tags=["households"])

    @r.get(
        "/households/{household_id}/decisions",
        response_model=HistoryOut,
        summary="Riwayat keputusan / decision history",
        responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    )
    def history(
        household_id: Annotated[str, Path(min_length=1, max_length=max_length,
                                          description="The household id as sent when it was scored.")],
        principal: InspectorRole,
        session: SessionDep,
        pseudonym_keys: PseudonymKeysDep,
        limit: Annotated[int, Query(ge=1, le=1000, description="Most decisions (oldest first).")] = 100,
    ) -> Any:
        """Every stored decision about a household, oldest first, and the grievances that link them.

        A decision that came from a grievance names the decision it revisits (``revisits``); each
        grievance says what was corrected, who reported it, and why the outcome changed or did not.

        The path takes the household id as it was scored; the service pseudonymises it with its keyed
        HMAC and looks the pseudonym up (the store holds no raw ids). An unknown id returns an empty
        list. Decisions made before a key rotation are found under the retired key.
        """
        pseudonyms = [pseudonym_of(household_id, key) for key in pseudonym_keys]
        rows = household_history(session, pseudonyms, limit=limit)
        grievances = household_grievances(session, pseudonyms, limit=limit)
        hid = household_id.strip()
        revisits = {g.decision_id: g.revisits_decision_id for g in grievances if g.decision_id}
        return {"household_pseudonym": pseudonyms[0],
                "decisions": [{**decision_out(row, hid), "revisits": revisits.get(row.id)} for row in rows],
                "grievances": [grievance_out(g, hid) for g in grievances]}

    return r
