"""Gallery files (/gallery_images/...) and their cached thumbnails (/thumbs/...), nothing else."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ..files import cached_file_response
from ..paths import RefusedPath, UnsafePath
from ..schemas import ErrorResponse
from ..state import AppState, State

router = APIRouter(tags=["gallery"])
ERRORS = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 415: {"model": ErrorResponse}}

# The sync handlers run in the threadpool: stat, file reads and thumbnail making stay off the loop.


@router.get("/gallery_images/{path:path}", response_class=Response, responses=ERRORS)
def gallery_file(state: State, path: str, request: Request) -> Response:
    """An image file of the gallery (path relative to the gallery folder)."""
    return cached_file_response(request, _resolve(state, path), max_age=3600)


@router.get("/thumbs/{path:path}", response_class=Response, responses=ERRORS)
def gallery_thumbnail(state: State, path: str, request: Request) -> Response:
    """A 256 px WebP thumbnail of a gallery image, made on first request and cached on disk."""
    thumb = state.thumbs.get(_resolve(state, path), path)  # ImageLoadError -> 415/400
    return cached_file_response(request, thumb, max_age=86400, media_type="image/webp")


def _resolve(state: AppState, path: str):
    try:
        return state.gallery.resolve(path)
    except RefusedPath as exc:  # a FIFO, a device...: there, but never read
        raise HTTPException(403, f"not served: {exc.reason}") from None
    except UnsafePath:
        raise HTTPException(404, "not found") from None
