"""GET /v1/models: the model being served (the champion) and its card (analysts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AnalystRole, ScorerDep
from api.schemas import ErrorOut, ModelOut

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelOut, summary="Model yang dipakai / model in service",
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
def models(principal: AnalystRole, scorer: ScorerDep) -> Any:
    """The champion model, where it was loaded from, its card, and the rule set applied with it."""
    info = scorer.info
    return {"model_name": info.model_name, "model_version": info.model_version, "source": info.source,
            "card": info.card, "ruleset_id": info.ruleset_id, "ruleset_version": info.ruleset_version,
            "components": info.components}
