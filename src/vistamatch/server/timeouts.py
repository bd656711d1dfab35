"""Stalled clients are closed: header and body read timeouts, keep-alive and connection limits.

uvicorn's h11 protocol waits for request headers forever (its keep-alive timer runs only after a
response, and any byte cancels it), and the app waits forever for a body shorter than its
Content-Length. `TimeoutH11Protocol` gives every request `header_timeout` seconds from the start
of its cycle to complete its headers; `BodyTimeoutMiddleware` gives each read of the body
`body_timeout` seconds. `server_options(settings)` is what `vistamatch serve` passes to uvicorn.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import DEFAULT_HEADER_TIMEOUT, Settings, env_number

TIMEOUT_BODY = b"request timeout: the request was not received in time\n"
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(TIMEOUT_BODY), TIMEOUT_BODY)
)


class TimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are late (408 first).

    The timer starts when the connection opens and again when a response is complete; it fires
    only while no request is being answered, so a slow search is never cut off by it. For plain
    uvicorn: `uvicorn app:app --http vistamatch.server.timeouts:TimeoutH11Protocol`.
    """

    header_timeout: float = env_number("VISTAMATCH_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event) -> None:
        self._cancel_header_timer()  # the transport belongs to the WebSocket protocol from now on
        super().handle_websocket_upgrade(event)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout_expired)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout_expired(self) -> None:
        self._header_timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if answering or self.transport.is_closing():
            return
        self.transport.write(TIMEOUT_RESPONSE)  # h11 cannot send a response before a request
        self.transport.close()


def timeout_protocol(header_timeout: float) -> type[TimeoutH11Protocol]:
    """TimeoutH11Protocol with its own header timeout (uvicorn takes a class, not an instance)."""
    return type("TimeoutH11Protocol", (TimeoutH11Protocol,), {"header_timeout": header_timeout})


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"request timeout: no part of the body arrived for {seconds:g} s")


class BodyTimeoutMiddleware:
    """408 (and the connection closed) when a read of the request body waits over `seconds`.

    The error is raised from `receive` as an HTTPException, which FastAPI's body parsing passes on
    to the JSON error handlers; its response gets `Connection: close`, because the rest of the
    body may still come.
    """

    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        timed_out = body_done = False

        async def timed_receive() -> Message:
            nonlocal timed_out, body_done
            if body_done:  # later reads wait for a disconnect while the response streams: no limit
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except asyncio.TimeoutError:
                timed_out = True
                raise BodyTimeout(self.seconds) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, timed_receive, closing_send)


def server_options(settings: Settings) -> dict:
    """The uvicorn.run / uvicorn.Config keyword arguments for the settings' timeouts and limits."""
    return {
        "http": timeout_protocol(settings.header_timeout_seconds),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
    }
