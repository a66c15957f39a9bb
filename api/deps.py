"""Typed dependencies: tests swap the scorer, the database or the settings through `create_app`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from api.config import ApiSettings
from api.scoring import Scorer
from api.security import Principal, Role

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                        description="Kunci API / API key (`targeting keys create --role ...`).")


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_scorer(request: Request) -> Scorer:
    scorer = request.app.state.scorer
    if scorer is None:  # pragma: no cover - create_app always loads one or fails
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no model loaded")
    return scorer


def get_pseudonym_key(request: Request) -> bytes:
    return request.app.state.pseudonym_key


def get_pseudonym_keys(request: Request) -> list[bytes]:
    """The current key, then keys retired by rotation (a history is looked up under all of them)."""
    return request.app.state.pseudonym_keys


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
PseudonymKeyDep = Annotated[bytes, Depends(get_pseudonym_key)]
PseudonymKeysDep = Annotated[list[bytes], Depends(get_pseudonym_keys)]


def require_role(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only keys of ``roles``: 401 without a valid key, 403 with another role."""

    def check(request: Request, session: SessionDep,
              key: Annotated[str | None, Depends(_api_key)] = None) -> Principal:
        limiter = request.app.state.auth_failures
        client = request.client.host if request.client else "?"
        if key:
            wait = limiter.retry_after(client)
            if wait is not None:
                # Refused before any hashing: wrong keys cannot keep the CPU busy.
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    "terlalu banyak kunci API salah / too many failed API-key attempts from this client; "
                    f"retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        principal = request.app.state.keys.verify(session, key)
        if principal is None:
            if key:
                limiter.record_failure(client)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"kunci API tidak ada atau tidak sah / missing or invalid API key ({API_KEY_HEADER} header)",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"peran '{principal.role}' tidak diizinkan / role '{principal.role}' may not do this "
                f"(needs {' or '.join(repr(r) for r in roles)})",
            )
        request.state.key_id = principal.key_id
        return principal

    return check


ScorerRole = Annotated[Principal, Depends(require_role("scorer"))]
InspectorRole = Annotated[Principal, Depends(require_role("inspector", "officer"))]
GrievanceRole = Annotated[Principal, Depends(require_role("officer", "scorer"))]
AnalystRole = Annotated[Principal, Depends(require_role("analyst"))]
