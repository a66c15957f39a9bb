"""POST /v1/score: households in, decisions out (stored before they are returned).

No ``from __future__ import annotations`` here: the request model is built per app, and FastAPI
must see the class itself in the endpoint signature, not its name.
"""


from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from pydantic import BaseModel

from api.decisions import Rejected, outcome_out, score_request
from api.deps import PseudonymKeyDep, ScorerDep, ScorerRole, SessionDep, SettingsDep
from api.errors import ProblemsError
from api.schemas import ErrorOut, ScoreOut, score_request_model

IDEMPOTENCY_PATTERN = r"^[\x21-\x7e]{1,200}$"


def router(max_batch: int) -> APIRouter:
    """The scoring router; the request model carries the service's batch limit in its schema."""
    ScoreRequest = score_request_model(max_batch)  # noqa: N806 - a class, built per app
    r = APIRouter(prefix="/v1", tags=["score"])

    @r.post(
        "/score",
        response_model=ScoreOut,
        summary="Nilai rumah tangga / score households",
        responses={
            401: {"model": ErrorOut, "description": "missing or invalid API key"},
            403: {"model": ErrorOut, "description": "the key's role may not score"},
            409: {"model": ErrorOut, "description": "Idempotency-Key reused with another body"},
            413: {"model": ErrorOut, "description": "body or batch too large"},
            422: {"model": ErrorOut, "description": "invalid households (every problem listed)"},
        },
    )
    def score(
        body: ScoreRequest,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        principal: ScorerRole,
        session: SessionDep,
        scorer: ScorerDep,
        settings: SettingsDep,
        pseudonym_key: PseudonymKeyDep,
        idempotency_key: Annotated[
            str | None,
            Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN,
                   description="Retry with the same key and body to get the stored decisions back."),
        ] = None,
    ) -> Any:
        """Score households: welfare, ranks, programmes, rule verdict and reasons for each.

        For each household: predicted welfare, rank and desil (district and kecamatan), programme
        eligibility, the rule set's verdict with every criterion's flag, and the top reasons.
        Every decision is stored (append-only) before it is returned.
        """
        req: BaseModel = body
        households = [h.model_dump(exclude_unset=True) for h in req.households]  # type: ignore[attr-defined]
        if len(households) > settings.max_batch:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"terlalu banyak rumah tangga / too many households in one request: {len(households)} "
                f"(limit {settings.max_batch}); split the batch",
            )
        top_k = settings.top_k_default if req.top_k is None else req.top_k  # type: ignore[attr-defined]
        try:
            outcome = score_request(
                session, scorer, households=households, lang=req.lang, top_k=top_k,  # type: ignore[attr-defined]
                top_k_requested=req.top_k, on_error=req.on_error,  # type: ignore[attr-defined]
                request_id=request.state.request_id, api_key_id=principal.key_id,
                idempotency_key=idempotency_key, pseudonym_key=pseudonym_key,
                as_of=datetime.now(ZoneInfo(settings.timezone)).date(),
            )
        except Rejected as exc:
            raise ProblemsError(
                f"{exc}: tidak ada yang dinilai / nothing was scored "
                "(send on_error='score_valid' to score the valid ones)",
                exc.problems,
            ) from None
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        request.state.n_households = len(households)
        request.state.n_decisions = len(outcome.decisions)
        return outcome_out(outcome, households)

    return r
