"""POST /v1/grievances: corrected indicators re-scored, stored with the decision they revisit.

No ``from __future__ import annotations``: FastAPI must see the classes in the endpoint signature.
"""

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import JSONResponse

from api.decisions import decision_out
from api.deps import GrievanceRole, PseudonymKeysDep, ScorerDep, SessionDep, SettingsDep
from api.errors import ProblemsError
from api.grievances import GrievanceRefused, file_grievance, grievance_out
from api.routes.score import IDEMPOTENCY_PATTERN
from api.schemas import ErrorOut, GrievanceFiledOut, GrievanceIn

router = APIRouter(prefix="/v1", tags=["grievances"])


@router.post(
    "/grievances",
    response_model=GrievanceFiledOut,
    status_code=status.HTTP_201_CREATED,
    summary="Ajukan sanggahan / file a grievance",
    responses={
        200: {"model": GrievanceFiledOut, "description": "a retried grievance: the stored answer"},
        401: {"model": ErrorOut, "description": "missing or invalid API key"},
        403: {"model": ErrorOut, "description": "the key's role may not file grievances"},
        404: {"model": ErrorOut, "description": "no such decision about this household"},
        409: {"model": ErrorOut, "description": "Idempotency-Key reused with another body"},
        422: {"model": ErrorOut, "description": "invalid corrections (every problem listed)"},
    },
)
def grievance(
    body: GrievanceIn,
    request: Request,
    response: Response,
    principal: GrievanceRole,
    session: SessionDep,
    scorer: ScorerDep,
    settings: SettingsDep,
    pseudonym_keys: PseudonymKeysDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN,
               description="Retry with the same key and body to get the stored grievance back."),
    ] = None,
) -> Any:
    """File a correction of a household's indicators; the household is re-scored and both kept.

    The corrections are laid over the revisited decision's stored input and validated exactly as a
    survey row; the re-scored decision points to the decision it revisits, and the grievance says
    what changed and why the outcome changed or did not. A correction that changes no indicator is
    recorded as such (``status: no_change``, no new decision). Nothing is ever edited.
    """
    try:
        outcome = file_grievance(
            session, scorer, household_id=body.household_id, corrections=body.corrections,
            reported_by=body.reported_by, reported_on=body.reported_on, channel=body.channel,
            evidence=body.evidence, revisits=body.revisits, lang=body.lang,
            top_k=settings.top_k_default if body.top_k is None else body.top_k,
            request_id=request.state.request_id, api_key_id=principal.key_id,
            pseudonym_keys=pseudonym_keys, as_of=datetime.now(ZoneInfo(settings.timezone)).date(),
            idempotency_key=idempotency_key,
        )
    except GrievanceRefused as exc:
        if exc.not_found:
            return JSONResponse({"detail": f"tidak ditemukan / not found: {exc}", "errors": exc.problems},
                                status_code=status.HTTP_404_NOT_FOUND)
        raise ProblemsError(f"sanggahan ditolak / grievance refused: {exc}; nothing was stored",
                            exc.problems) from None
    hid = body.household_id.strip()
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        response.status_code = status.HTTP_200_OK
    decision = None
    if outcome.decision is not None:
        decision = {**decision_out(outcome.decision, hid), "revisits": outcome.grievance.revisits_decision_id}
    return {"replayed": outcome.replayed, "grievance": grievance_out(outcome.grievance, hid),
            "decision": decision}
