"""The scoring service: ``create_app`` builds it (OpenAPI docs at /docs)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.config import ApiSettings, get_api_settings
from api.errors import install_handlers
from api.routes import health, households, models, office, score
from api.scoring import Scorer
from api.security import KeyVerifier
from api.store import make_engine, session_factory
from targeting.privacy import load_key

log = logging.getLogger("targeting.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestContext:
    """Gives each request an id (``X-Request-ID``), bounds its body, and logs one line about it.

    The log line holds the method, the route template (never the raw path, which may hold a
    household id), the status, counts and the time: no body, no header, no key.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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

        try:
            body = await self._read_body(scope, receive)
            if body is None:
                await self._too_large(send_with_id)
                return

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

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit (declared or streamed)."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        payload = json.dumps({
            "detail": f"isi permintaan terlalu besar / request body too large (limit {self.max_body_bytes} "
                      "bytes); send fewer households per request",
            "errors": [],
        }).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
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
    app.state.keys = KeyVerifier()
    app.state.pseudonym_key = load_key(settings.project.home)
    install_handlers(app)
    app.include_router(score.router(settings.max_batch))
    app.include_router(households.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(office.router())
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    return app
