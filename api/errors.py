"""Error responses: one shape everywhere (``detail`` + ``errors``), personal values never echoed."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.intake import cell_text
from targeting.privacy import redact
from targeting.survey.contract import load_contract

log = logging.getLogger("targeting.api")


class ProblemsError(Exception):
    """Invalid households: answered with 422 and every problem."""

    def __init__(self, detail: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems


def _personal_fields() -> set[str]:
    return {n for n, f in load_contract().fields.items() if f.role == "personal"}


def _shown(value: Any, field: str) -> str:
    if field in _personal_fields() or field == "body":
        return redact(value)
    if isinstance(value, dict | list):
        return f"<{type(value).__name__}>"
    return cell_text(value) if value is None or isinstance(value, bool | int | float | str) else str(value)


def request_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors on the request as problems: household position and id where there is one."""
    body = exc.body if isinstance(exc.body, dict) else {}
    given = body.get("households")
    households: list[Any] = given if isinstance(given, list) else []
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        index: int | None = None
        field = ".".join(loc[1:]) if loc and loc[0] == "body" else ".".join(loc)
        if len(loc) >= 3 and loc[:2] == ["body", "households"] and loc[2].isdigit():
            index = int(loc[2])
            field = ".".join(loc[3:]) or "household"
        hid = None
        if index is not None and index < len(households) and isinstance(households[index], dict):
            raw = households[index].get("household_id")
            hid = cell_text(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        msg = str(err.get("msg", "invalid"))
        out.append({"index": index, "household_id": hid, "field": field or "body",
                    "value": _shown(err.get("input"), loc[-1] if loc else "body"),
                    "reason": f"permintaan tidak sah: {msg}", "reason_en": msg})
    return out


def install_handlers(app: FastAPI) -> None:
    from api.decisions import Conflict

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        # Every idempotent route (scores, grievances) answers a reused key the same way.
        return JSONResponse(
            {"detail": "Idempotency-Key sudah dipakai untuk isi permintaan lain / Idempotency-Key was "
                       "already used with a different request body", "errors": []},
            status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(ProblemsError)
    async def _problems(request: Request, exc: ProblemsError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "errors": exc.problems},
                            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = request_problems(exc)
        return JSONResponse(
            {"detail": "permintaan tidak sah / invalid request: see errors", "errors": problems},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.__cause__ is not None:
            # FastAPI's "error parsing the body" (e.g. JSON nested past Python's recursion limit):
            # an invalid request like any other, answered as one.
            problem = {"index": None, "household_id": None, "field": "body", "value": "",
                       "reason": "isi permintaan tidak dapat dibaca (JSON terlalu bersarang atau rusak)",
                       "reason_en": "the body cannot be parsed (JSON nested too deeply, or malformed)"}
            return JSONResponse(
                {"detail": "permintaan tidak sah / invalid request: see errors", "errors": [problem]},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail, "errors": []}, status_code=exc.status_code,
                            headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "?")
        # Where it failed, but not the message: messages may quote household values.
        where = "".join(traceback.format_tb(exc.__traceback__))
        log.error("request %s failed: %s\n%s", rid, type(exc).__name__, where)
        # Sent from outside the request-id middleware, so the header is added here.
        return JSONResponse(
            {"detail": f"kesalahan internal / internal error (request {rid})", "errors": []},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR, headers={"X-Request-ID": rid},
        )


#: Error answers every operation may give, beyond those its route declares.
_COMMON_ERRORS = {
    "422": "invalid request (every problem listed in `errors`)",
    "500": "internal error (the request id is in the message and the X-Request-ID header)",
}
_AUTH_ERRORS = {
    "401": "missing or invalid API key",
    "403": "the key's role may not do this",
    "429": "too many failed API-key attempts from this client (see Retry-After)",
}
_BODY_ERRORS = {
    "408": "the request body did not arrive in time",
    "413": "request body or batch too large",
}


def install_openapi(app: FastAPI) -> None:
    """Make the schema say what the service answers: one error shape (`ErrorOut`) for every error.

    FastAPI documents its own 422 body (``detail: array``); this service answers ``detail: str`` and
    ``errors``, and also 401/403/429 on authenticated routes and 408/413 where a body is read.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        ref = {"$ref": "#/components/schemas/ErrorOut"}
        for operations in schema.get("paths", {}).values():
            for op in operations.values():
                responses = op.setdefault("responses", {})
                extra = dict(_COMMON_ERRORS)
                if op.get("security"):
                    extra |= _AUTH_ERRORS
                if "requestBody" in op:
                    extra |= _BODY_ERRORS
                for code, description in extra.items():
                    entry = responses.setdefault(code, {"description": description})
                    entry["content"] = {"application/json": {"schema": ref}}
                    if code == "429":
                        entry["headers"] = {"Retry-After": {
                            "description": "Seconds to wait before the next attempt",
                            "schema": {"type": "integer", "minimum": 1}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
