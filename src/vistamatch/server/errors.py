"""Every error as JSON {"ok": false, "error": "<one line>", "detail": ...}; nothing a client sends is a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from filelock import Timeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DecodeBudgetError, ImageLoadError, VistaMatchError
from .service import ServiceUnavailable, StaleQuery

log = logging.getLogger(__name__)

def error_response(status: int, message: str, detail: object = None, headers: dict | None = None) -> JSONResponse:
    body = {"ok": False, "error": message, "detail": jsonable_encoder(detail if detail is not None else message)}
    return JSONResponse(body, status_code=status, headers=headers)


def image_error_status(exc: ImageLoadError) -> int:
    """413 for an image whose decoding is over the decode budget, 400 for a damaged image (truncated,
    corrupt, too many pixels), 415 for something that is not an image."""
    if isinstance(exc, DecodeBudgetError):
        return 413
    return 400 if exc.damaged else 415


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, message, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The inputs are not echoed back: they may be a large upload.
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        message = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return error_response(422, message, errors)

    @app.exception_handler(ImageLoadError)
    async def image_error(request: Request, exc: ImageLoadError) -> JSONResponse:
        return error_response(image_error_status(exc), str(exc))

    @app.exception_handler(StaleQuery)
    async def stale_query(request: Request, exc: StaleQuery) -> JSONResponse:
        return error_response(409, str(exc))

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return error_response(503, str(exc))

    @app.exception_handler(Timeout)
    async def history_busy(request: Request, exc: Timeout) -> JSONResponse:
        return error_response(503, "the search history file is locked by another process; try again")

    @app.exception_handler(VistaMatchError)
    async def vistamatch_error(request: Request, exc: VistaMatchError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error (see the server log)")


def _location(loc) -> str:
    """('query', 'topk') -> 'topk': the field, without where it came from."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "request body"
