"""A request body limit enforced while the body is read, so no upload is held beyond it."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"upload too large: the limit is {limit / 1024 / 1024:g} MB")


class UploadLimitMiddleware:
    """413 for a body over `max_bytes` + overhead: at once from Content-Length, else while reading.

    The error raised from `receive` is an HTTPException, which FastAPI's form parsing passes on to
    the JSON error handlers.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.max_body = max_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            response = error_response(413, BodyTooLarge(self.max_bytes).detail)
            return await response(scope, receive, send)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
