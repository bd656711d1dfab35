"""The duplicate groups of the whole gallery, and moving duplicates to the trash and back.

GET /api/duplicates, POST /api/duplicates/trash, POST /api/duplicates/undo, GET /api/duplicates/batches.
Finding and moving run in the threadpool; the neighbour graph cache makes a repeat (any threshold
of 0.90 or more) instant until the index changes. A move or undo commits the index and the search
engine reads it again at once, so searches stop (or start again) showing the moved files.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from ...duplicates import DEFAULT_THRESHOLD, find_duplicate_groups
from ...duplicates.finder import SORTS
from ...duplicates.trash import NoSuchBatch, Trash, TrashError
from ...index import open_index
from ...index.files import LockTimeout
from ..paths import gallery_url, thumb_url
from ..schemas import DuplicatesResponse, ErrorResponse, TrashBatches, TrashRequest, TrashResponse, UndoRequest
from ..service import LoadedEngine
from ..state import AppState, State

router = APIRouter(prefix="/api/duplicates", tags=["duplicates"])
ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
log = logging.getLogger(__name__)
_moving = threading.Lock()  # one move or undo at a time in this process (the index lock covers other processes)


@router.get("", response_model=DuplicatesResponse, responses=ERRORS)
async def list_duplicates(
    state: State,
    threshold: Annotated[float, Query(gt=0.0, le=1.0)] = DEFAULT_THRESHOLD,
    min_size: Annotated[int, Query(ge=2)] = 2,
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "size",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """Groups of exact copies and near duplicates (cosine >= threshold to the keeper), with totals."""
    loaded = await state.service.wait_loaded()
    report = await run_in_threadpool(find_duplicate_groups, loaded.engine.index, threshold, min_size=min_size, sort=sort)
    d = report.to_dict()
    groups = d["groups"]
    for g in groups:
        g["reclaimable_bytes"] = sum(m["size"] for m in g["duplicates"])
        for m in (g["keeper"], *g["duplicates"]):
            m["url"], m["thumb_url"] = gallery_url(m["path"]), thumb_url(m["path"])
    return {**d, "offset": offset, "groups": groups[offset : offset + limit]}


@router.post("/trash", response_model=TrashResponse, responses=ERRORS)
async def move_to_trash(state: State, request: TrashRequest) -> dict:
    """Move each group's `move` files into the gallery's trash; the keepers stay. Refusals come back with
    reasons (a keeper, a file changed since indexing, outside the gallery, not a duplicate of its keeper)."""
    loaded = await state.service.wait_loaded()
    moves = {path: group.keeper for group in request.groups for path in group.move}
    result = await run_in_threadpool(_locked, state, loaded, lambda trash: trash.move(moves, dry_run=request.dry_run))
    return result.to_dict()


@router.post("/undo", response_model=TrashResponse, responses=ERRORS)
async def undo(state: State, request: UndoRequest) -> dict:
    """Put a batch's files back where they were (never over a file that took the place) and into the index."""
    loaded = await state.service.wait_loaded()
    result = await run_in_threadpool(_locked, state, loaded, lambda trash: trash.undo(request.batch))
    return result.to_dict()


@router.get("/batches", response_model=TrashBatches)
async def batches(state: State) -> dict:
    """The trash batches, newest first."""
    loaded = await state.service.wait_loaded()
    trash = _trash(state, loaded)
    found = await run_in_threadpool(trash.batches)
    return {"batches": [b.to_dict() for b in found], "warnings": trash.warnings}


def _trash(state: AppState, loaded: LoadedEngine) -> Trash:
    return Trash(state.settings.gallery_dir, loaded.engine.index.paths, lock_timeout=state.settings.index_lock_timeout)


def _locked(state: AppState, loaded: LoadedEngine, action):
    with _moving:
        try:
            result = action(_trash(state, loaded))
        except LockTimeout as exc:
            raise HTTPException(503, str(exc)) from None
        except NoSuchBatch as exc:
            raise HTTPException(404, str(exc)) from None
        except TrashError as exc:
            raise HTTPException(409, str(exc)) from None
        if result.done and not result.dry_run:  # searches from now on see the index without (or with) the moved files
            old = loaded.engine.index
            index = open_index(old.paths, gallery_dir=old.gallery_dir, store=state.settings.store)
            state.service.publish(loaded.with_index(index))
        if result.batch is not None:  # every action is logged; the batch's journal holds each file
            b = result.batch
            log.info("trash batch %s %s: %d files, %d refused", b.id, b.state, len(result.done), len(result.refused))
        return result
