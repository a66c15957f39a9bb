"""How `targeting serve` runs uvicorn: its HTTP/1.1 protocol with a deadline for the request head.

uvicorn (0.54, h11) times out only an idle connection after a response, and cancels even that at
the first byte: a client that connects and sends nothing, or half a request line, holds the
connection (and a slot of ``--limit-concurrency``) forever; a few hundred such clients exhaust the
server (slowloris). Here every request head must arrive within ``header_timeout_s`` of the
connection or of the previous response; the body's own deadline is `api.main.RequestContext`'s.
A reverse proxy with header and body timeouts (nginx ``client_header_timeout``) does the same job
in front of the service; this keeps the service safe without one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds for a request head to arrive (uvicorn's own keep-alive timeout is 5 s).
HEADER_TIMEOUT_S = 10.0


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive in time."""

    header_timeout_s = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._waiting_cycle: object = None

    def _arm(self) -> None:
        self._disarm()
        self._waiting_cycle = self.cycle  # a new cycle object means a request head arrived
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is self._waiting_cycle and not self.transport.is_closing():
            self.transport.close()  # no request to answer: h11 cannot send a response before a head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_timer is not None and self.cycle is not self._waiting_cycle:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

