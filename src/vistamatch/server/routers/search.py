"""POST /api/search (upload), /similar (a gallery image), /url (a web image) and /again (a history entry).

Every search but /again records a history entry with the query's thumbnail and embedding; /again
searches with a stored embedding under new settings (or the next page) and records nothing.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Awaitable, Callable

from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from filelock import Timeout
from pydantic import ValidationError

from ...errors import VistaMatchError
from ..history import new_entry_id, now_timestamp
from ..paths import UnsafePath, gallery_url, thumb_url
from ...crawler.reasons import PRIVATE_ADDRESS, TOO_BIG, Rejected
from ...crawler.single import fetch_one_image_async
from ..schemas import (
    OFFSET_MAX,
    TOPK_DEFAULT,
    TOPK_MAX,
    TOPK_MIN,
    AgainRequest,
    ErrorResponse,
    SearchOptions,
    SearchResponse,
    SimilarRequest,
    TierPolicy,
    UrlRequest,
)
from ..state import AppState, State
from ..upload_limit import BodyTooLarge

if TYPE_CHECKING:
    from ...search import SearchResult

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/search", tags=["search"])

QUERY_THUMB_SIZE = 160  # px, the query's picture in the history drawer
ERRORS = {code: {"model": ErrorResponse} for code in (400, 403, 404, 409, 413, 415, 422, 503)}
TopK = Annotated[int, Query(ge=TOPK_MIN, le=TOPK_MAX, description=f"results wanted, {TOPK_MIN}..{TOPK_MAX}")]
Dedup = Annotated[bool, Query(description="drop same-name and near-duplicate results")]
Tiers = Annotated[TierPolicy, Query(description="quantile (by rank, the original) or absolute (by score)")]
Offset = Annotated[int, Query(ge=0, le=OFFSET_MAX, description="skip this many ranks: the next page")]
URL_FETCH_TIMEOUT_S = 10.0  # per try (one retry for what can succeed later)


@router.post("", response_model=SearchResponse, responses=ERRORS)
async def search_upload(
    state: State,
    image: Annotated[UploadFile, File(description="the query image")],
    topk: TopK = TOPK_DEFAULT,
    dedup: Dedup = True,
    tiers: Tiers = "quantile",
    offset: Offset = 0,
) -> dict:
    """Search the gallery with an uploaded image."""
    try:
        options = SearchOptions(topk=topk, dedup=dedup, tiers=tiers, offset=offset)
    except ValidationError as exc:  # the dedup depth
        raise HTTPException(422, exc.errors()[0]["msg"]) from None
    limit = state.settings.max_upload_bytes
    if image.size is not None and image.size > limit:
        raise BodyTooLarge(limit)
    data = await image.read()
    if not data:
        raise HTTPException(400, "the upload is empty")
    name = _upload_name(image.filename)
    search = state.service.search(data, name=name, options=options, thumb_size=QUERY_THUMB_SIZE)
    return await _search_and_record(state, search, name)


@router.post("/url", response_model=SearchResponse, responses=ERRORS)
async def search_url(state: State, request: UrlRequest) -> dict:
    """Search with an image the server fetches from `url` (public addresses only, unless configured)."""
    try:
        data = await fetch_one_image_async(
            request.url, allow_private=state.settings.url_allow_private, timeout_s=URL_FETCH_TIMEOUT_S, max_bytes=state.settings.max_upload_bytes
        )
    except Rejected as exc:
        status = 403 if exc.reason == PRIVATE_ADDRESS else 413 if exc.reason == TOO_BIG else 400
        raise HTTPException(status, f"could not use {request.url[:200]}: {exc}") from None
    name = _upload_name(request.url.split("?", 1)[0].split("#", 1)[0])
    search = state.service.search(data, name=name, options=request, thumb_size=QUERY_THUMB_SIZE)
    return await _search_and_record(state, search, request.url)


@router.post("/again", response_model=SearchResponse, responses=ERRORS)
async def search_again(state: State, request: AgainRequest) -> dict:
    """Search again with a history entry's stored query embedding: other settings, or the next page.

    Nothing is recorded; the answer names the entry it came from (`history_id`).
    """
    entry = await run_in_threadpool(state.history.get, request.history_id)
    vector = await run_in_threadpool(state.history.load_vector, request.history_id) if entry else None
    if vector is None:
        raise HTTPException(404, "this search cannot run again: its history entry or stored query is gone; search with the image")
    result = await state.service.search_vector(vector, model=entry.get("query_vector_model"), options=request)
    payload = _with_urls(result.to_dict())
    keep = ("query_name", "query_thumb_url", "query_vector_stored")
    return payload | {k: entry.get(k) for k in keep} | {"history_id": request.history_id}


@router.post("/similar", response_model=SearchResponse, responses=ERRORS)
async def search_similar(state: State, request: SimilarRequest) -> dict:
    """Search again with an image of the gallery (the `filename` of a result) as the query."""
    try:
        file = state.gallery.resolve(request.path)
    except UnsafePath:
        raise HTTPException(404, f"not an image of the gallery: {request.path}") from None
    search = state.service.search_gallery_image(request.path, file, options=request, thumb_size=QUERY_THUMB_SIZE)
    return await _search_and_record(state, search, request.path)


async def _search_and_record(state: AppState, search: Awaitable[tuple[SearchResult, bytes | None]], query_name: str) -> dict:
    """Run `search`, then record it in the history: the response fields plus the entry's id.

    The search decodes the query once and makes its thumbnail from that decode; the thumbnail and
    the query's embedding are stored before the entry, and removed again if the entry fails.
    """
    entry_id = new_entry_id()
    result, thumb = await search
    has_thumb = thumb is not None and await run_in_threadpool(_store_query_file, state.history.save_thumb, entry_id, thumb, query_name)
    has_vector = result.query_vector is not None and await run_in_threadpool(
        _store_query_file, state.history.save_vector, entry_id, result.query_vector, query_name
    )
    payload = _with_urls(result.to_dict())
    payload["query_name"] = query_name
    payload["query_thumb_url"] = f"/api/history/{entry_id}/thumb" if has_thumb else None
    payload["query_vector_stored"] = has_vector
    entry = {k: v for k, v in payload.items() if k != "ok"} | {"id": entry_id, "ts": now_timestamp()}
    if has_vector and state.service.loaded is not None:  # which weights made the stored embedding
        entry["query_vector_model"] = state.service.loaded.fingerprint
    try:
        await run_in_threadpool(state.history.add, entry)
    except (OSError, Timeout, VistaMatchError, ValueError) as exc:  # the search stands without its entry
        log.error("could not save the search history entry: %s", exc)
        state.history.remove_thumb(entry_id)
        failed = {"history_id": None, "query_thumb_url": None, "query_vector_stored": False}
        return payload | failed | {"history_warning": f"history not saved: {exc}"}
    return payload | {"history_id": entry_id}


def _with_urls(payload: dict) -> dict:
    for tier in payload["tiers"]:
        for item in tier["items"]:
            item["url"] = gallery_url(item["filename"])
            item["thumb_url"] = thumb_url(item["filename"])
    return payload


def _store_query_file(save: Callable[[str, object], None], entry_id: str, data: object, name: str) -> bool:
    """Store the query's thumbnail or embedding with `save`; the search stands without it."""
    try:
        save(entry_id, data)
    except OSError as exc:
        log.info("could not store a file of query %r: %s", name, exc)
        return False
    return True


def _upload_name(filename: str | None) -> str:
    """The base name a browser sent (some send a full path), or a stand-in."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    return name or "uploaded_image"
