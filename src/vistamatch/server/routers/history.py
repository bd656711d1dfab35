"""The search history: list, one entry, its query thumbnail, delete one, clear all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ..files import cached_file_response
from ..paths import GALLERY_PREFIX, THUMBS_PREFIX, gallery_url, thumb_url
from ..schemas import ErrorResponse, HistoryCleared, HistoryDeleted, HistoryEntryResponse, HistoryList
from ..state import State

router = APIRouter(prefix="/api/history", tags=["history"])
NOT_FOUND = {404: {"model": ErrorResponse}}


@router.get("", response_model=HistoryList)
async def list_history(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict:
    """Newest first, full entries (a click replays one without another request)."""
    entries, total = await run_in_threadpool(state.history.list, limit)
    return {"items": [_with_urls(e) for e in entries], "total": total, "warnings": state.history.warnings}


@router.get("/{entry_id}", response_model=HistoryEntryResponse, responses=NOT_FOUND)
async def get_entry(state: State, entry_id: str) -> dict:
    entry = await run_in_threadpool(state.history.get, entry_id)
    if entry is None:
        raise HTTPException(404, f"no history entry {entry_id}")
    return {"entry": _with_urls(entry)}


@router.get("/{entry_id}/thumb", responses=NOT_FOUND, response_class=Response)
def entry_thumbnail(state: State, entry_id: str, request: Request) -> Response:
    """The stored thumbnail of the entry's query image (WebP)."""
    path = state.history.thumb_file(entry_id)
    if path is None:
        raise HTTPException(404, f"no query thumbnail for {entry_id}")
    return cached_file_response(request, path, max_age=86400, media_type="image/webp")


@router.delete("/{entry_id}", response_model=HistoryDeleted, responses=NOT_FOUND)
async def delete_entry(state: State, entry_id: str) -> dict:
    if not await run_in_threadpool(state.history.delete, entry_id):
        raise HTTPException(404, f"no history entry {entry_id}")
    return {"deleted": entry_id}


@router.post("/clear", response_model=HistoryCleared)
async def clear_history(state: State) -> dict:
    return {"removed": await run_in_threadpool(state.history.clear)}


def _with_urls(entry: dict) -> dict:
    """The entry with its URLs made here, never taken from the file as written.

    Entries of the original project have items without thumb_url, and a hand-edited file could
    hold any string (a `javascript:` link): every item URL not under our own prefixes is rebuilt
    from the file name, and the query thumbnail URL from the entry's id.
    """
    tiers = [tier | {"items": [_item_urls(item) for item in tier["items"]]} for tier in entry["tiers"]]
    query_thumb = f"/api/history/{entry['id']}/thumb" if entry.get("query_thumb_url") else None
    return entry | {"tiers": tiers, "query_thumb_url": query_thumb}


def _item_urls(item: dict) -> dict:
    if str(item.get("url")).startswith(GALLERY_PREFIX) and str(item.get("thumb_url")).startswith(THUMBS_PREFIX):
        return item
    return item | {"url": gallery_url(item["filename"]), "thumb_url": thumb_url(item["filename"])}
