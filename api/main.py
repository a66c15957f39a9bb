"""The scoring service: ``create_app`` builds it (OpenAPI docs at /docs)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response

from api.config import ApiSettings, get_api_settings
from api.errors import install_handlers, install_openapi
from api.routes import grievances, health, households, models, office, score
from api.scoring import Scorer
from api.security import FailureLimiter, KeyVerifier
from api.store import bind_pseudonym_keys, make_engine, session_factory

log = logging.getLogger("targeting.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


_TIMED_OUT = object()


class RequestContext:
    """Gives each request an id (``X-Request-ID``), bounds its body, and logs one line about it.

    The body is bounded in size (413) and in time (408): a client that announces a body and never
    sends it (or sends it byte by byte) would otherwise hold its connection, and a worker's memory,
    for as long as it likes; uvicorn has no body timeout of its own. Both answers close the
    connection, since the rest of the body never arrives.

    The log line holds the method, the route template (never the raw path, which may hold a
    household id), the status, counts and the time: no body, no header, no key.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float = 10.0,
                 path_limits: dict[str, tuple[int, float]] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        #: Other (size, time) bounds for exact paths: the office's registry upload is larger and slower.
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        max_bytes, timeout_s = self.path_limits.get(scope.get("path", ""),
                                                    (self.max_body_bytes, self.body_timeout_s))
        try:
            body = await self._read_body(scope, receive, max_bytes, timeout_s)
            office_page = str(scope.get("path", "")).startswith("/office/")
            if body is None:
                await self._refuse(send_with_id, 413, (
                    f"isi permintaan terlalu besar / request body too large (limit {max_bytes} bytes); "
                    + ("split the file" if office_page else "send fewer households per request")),
                    html=office_page)
                return
            if body is _TIMED_OUT:
                await self._refuse(send_with_id, 408, (
                    f"isi permintaan tidak lengkap / the request body did not arrive within "
                    f"{timeout_s:g} s"), html=office_page)
                return
            assert isinstance(body, bytes)

            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_with_id)
        finally:
            route = scope.get("route")
            log.info(
                "request %s %s %s -> %s in %.1f ms (households=%s decisions=%s key=%s)",
                rid, scope.get("method"), getattr(route, "path", "<unmatched>"), status_code,
                (time.perf_counter() - started) * 1000, state.get("n_households", "-"),
                state.get("n_decisions", "-"), state.get("key_id", "-"),
            )

    async def _read_body(self, scope: Scope, receive: Receive, max_bytes: int,
                         timeout_s: float) -> bytes | object | None:
        """The whole body; None as soon as it exceeds the limit (declared or streamed); `_TIMED_OUT`."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > max_bytes:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return _TIMED_OUT
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(self, send: Send, status: int, detail: str, html: bool = False) -> None:
        if html:  # the office pages: one line a person can read, not JSON
            from html import escape

            payload = (f'<!DOCTYPE html><html lang="id"><meta charset="utf-8"><title>{status}</title>'
                       f'<p role="alert">{escape(detail)}</p><p><a href="/office/">/office/</a></p>').encode()
        else:
            payload = json.dumps({"detail": detail, "errors": []}).encode()
        kind = b"text/html; charset=utf-8" if html else b"application/json"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def create_app(settings: ApiSettings | None = None, scorer: Scorer | None = None) -> FastAPI:
    """Build the service: decision store (tables created), pseudonymisation key, scorer, routes.

    ``scorer`` defaults to the champion model (`api.scoring.load_scorer`): the MLflow registry's
    ``@champion`` of ``settings.project.model_name`` if there is one, else the shipped default.
    """
    settings = settings or get_api_settings()
    if scorer is None:
        from api.scoring import load_scorer

        scorer = load_scorer(settings)
    engine = make_engine(settings.project.decision_db_url())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="targeting: layanan penilaian / scoring service",
        version="1",
        description=(
            "Proxy-means scoring of households for social assistance in Kutai Kartanegara: predicted "
            "welfare, desil, programme eligibility, rule-set verdict and reasons. Every decision is "
            "stored with its input hash and the model and rule-set versions used."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.scorer = scorer
    app.state.keys = KeyVerifier(max_concurrent_hashes=settings.max_concurrent_hashes)
    app.state.auth_failures = FailureLimiter(settings.auth_max_failures, settings.auth_window_s)
    with app.state.sessions() as session:
        # The store and the key must belong together: refused at start, never found out later.
        app.state.pseudonym_keys = bind_pseudonym_keys(session, settings.project.home)
    app.state.pseudonym_key = app.state.pseudonym_keys[0]
    install_handlers(app)
    app.include_router(score.router(settings.max_batch))
    app.include_router(households.router())
    app.include_router(grievances.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(office.router(settings.office_plan))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # browsers ask for it on every page (the report's too): nothing, not 404
        return Response(status_code=204)

    install_openapi(app)
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s,
                       path_limits={office.UPLOAD_PATH: (settings.office_max_upload_bytes,
                                                         settings.office_upload_timeout_s)})
    return app
