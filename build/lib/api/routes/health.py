"""GET /health (the process is up) and GET /ready (model loaded, database reachable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.schemas import HealthOut, ReadyOut
from api.store import ping

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health() -> Any:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(request: Request, response: Response) -> Any:
    """A model is loaded and the decision store answers; 503 otherwise."""
    model_loaded = request.app.state.scorer is not None
    database = ping(request.app.state.engine)
    ok = model_loaded and database
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    detail = "" if ok else ", ".join(
        w for w, bad in (("no model loaded", not model_loaded), ("database unreachable", not database)) if bad
    )
    return {"status": "ready" if ok else "not_ready", "model_loaded": model_loaded, "database": database,
            "detail": detail}
