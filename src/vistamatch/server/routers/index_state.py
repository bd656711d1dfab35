"""GET /api/index: the index's state (indexing, watching...), progress, speed, ETA and skipped files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..schemas import IndexState
from ..state import State
from ..updater import SKIPPED_LISTED, IndexStatus

router = APIRouter(prefix="/api", tags=["index"])


@router.get("/index", response_model=IndexState)
async def index_state(state: State, skipped: Annotated[bool, Query(description="list the skipped files and why")] = False) -> dict:
    loaded = state.service.loaded
    manifest = loaded.engine.index.manifest if loaded is not None else None
    if state.updater is not None:
        status = state.updater.status()
    else:  # no background updates: the index as loaded
        files = [(f.path, f.reason) for f in manifest.skipped] if manifest else []
        size = loaded.gallery_size if loaded else 0
        status = IndexStatus(
            state="idle" if loaded else "loading",
            indexed=size + len(files),
            total=size + len(files) + (manifest.pending if manifest else 0),
            skipped=files,
            last_update=manifest.built_at if manifest else None,
            generation=manifest.generation if manifest else None,
        )
    return {
        "state": status.state,
        "watching": state.updater is not None and state.settings.watch,
        "indexed": status.indexed,
        "total": status.total,
        "searchable": loaded.gallery_size if loaded else 0,
        "images_per_second": status.images_per_second,
        "eta_seconds": status.eta_seconds,
        "skipped_count": len(status.skipped),
        "skipped": [{"path": p, "reason": r} for p, r in status.skipped[:SKIPPED_LISTED]] if skipped else None,
        "last_update": status.last_update,
        "generation": status.generation,
        "error": status.error if status.error else state.service.load_error,
        "structure": status.structure,
        "structure_note": status.structure_note,
        "store": loaded.engine.index.store_description if loaded is not None else None,
    }
