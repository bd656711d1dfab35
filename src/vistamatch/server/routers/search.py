"""POST /api/search (upload) and POST /api/search/similar (a gallery image as the query)."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Awaitable

from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from filelock import Timeout

from ...errors import VistaMatchError
from ..history import HistoryStore, new_entry_id, now_timestamp
from ..paths import UnsafePath, gallery_url, thumb_url
from ..schemas import TOPK_DEFAULT, TOPK_MAX, TOPK_MIN, ErrorResponse, SearchResponse, SimilarRequest
from ..state import AppState, State
from ..upload_limit import BodyTooLarge

if TYPE_CHECKING:
    from ...search import SearchResult

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/search", tags=["search"])

QUERY_THUMB_SIZE = 160  # px, the query's picture in the history drawer
ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 422, 503)}
TopK = Annotated[int, Query(ge=TOPK_MIN, le=TOPK_MAX, description=f"results wanted, {TOPK_MIN}..{TOPK_MAX}")]
Dedup = Annotated[bool, Query(description="drop same-name and near-duplicate results")]


@router.post("", response_model=SearchResponse, responses=ERRORS)
async def search_upload(
    state: State,
    image: Annotated[UploadFile, File(description="the query image")],
    topk: TopK = TOPK_DEFAULT,
    dedup: Dedup = True,
) -> dict:
    """Search the gallery with an uploaded image."""
    limit = state.settings.max_upload_bytes
    if image.size is not None and image.size > limit:
        raise BodyTooLarge(limit)
    data = await image.read()
    if not data:
        raise HTTPException(400, "the upload is empty")
    name = _upload_name(image.filename)
    search = state.service.search(data, name=name, topk=topk, dedup=dedup, thumb_size=QUERY_THUMB_SIZE)
    return await _search_and_record(state, search, name)


@router.post("/similar", response_model=SearchResponse, responses=ERRORS)
async def search_similar(state: State, request: SimilarRequest) -> dict:
    """Search again with an image of the gallery (the `filename` of a result) as the query."""
    try:
        file = state.gallery.resolve(request.path)
    except UnsafePath:
        raise HTTPException(404, f"not an image of the gallery: {request.path}") from None
    search = state.service.search_gallery_image(request.path, file, topk=request.topk, dedup=request.dedup, thumb_size=QUERY_THUMB_SIZE)
    return await _search_and_record(state, search, request.path)


async def _search_and_record(state: AppState, search: Awaitable[tuple[SearchResult, bytes | None]], query_name: str) -> dict:
    """Run `search`, then record it in the history: the response fields plus the entry's id.

    The search decodes the query once and makes its thumbnail from that decode; the thumbnail is
    stored before the entry, and removed again if the entry fails.
    """
    entry_id = new_entry_id()
    result, thumb = await search
    has_thumb = thumb is not None and await run_in_threadpool(_store_query_thumbnail, state.history, entry_id, thumb, query_name)
    payload = result.to_dict()
    for tier in payload["tiers"]:
        for item in tier["items"]:
            item["url"] = gallery_url(item["filename"])
            item["thumb_url"] = thumb_url(item["filename"])
    payload["query_name"] = query_name
    payload["query_thumb_url"] = f"/api/history/{entry_id}/thumb" if has_thumb else None
    entry = {k: v for k, v in payload.items() if k != "ok"} | {"id": entry_id, "ts": now_timestamp()}
    try:
        await run_in_threadpool(state.history.add, entry)
    except (OSError, Timeout, VistaMatchError, ValueError) as exc:  # the search stands without its entry
        log.error("could not save the search history entry: %s", exc)
        state.history.remove_thumb(entry_id)
        return payload | {"history_id": None, "query_thumb_url": None, "history_warning": f"history not saved: {exc}"}
    return payload | {"history_id": entry_id}


def _store_query_thumbnail(history: HistoryStore, entry_id: str, thumb: bytes, name: str) -> bool:
    try:
        history.save_thumb(entry_id, thumb)
    except OSError as exc:  # the search stands without its thumbnail
        log.info("could not store the thumbnail of query %r: %s", name, exc)
        return False
    return True


def _upload_name(filename: str | None) -> str:
    """The base name a browser sent (some send a full path), or a stand-in."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    return name or "uploaded_image"
