"""GET /api/stats and GET /api/health."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from ..schemas import Health, Stats
from ..state import State

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats", response_model=Stats)
async def stats(state: State) -> dict:
    service, history = state.service, state.history
    _, history_size = await run_in_threadpool(history.list, 0)
    loaded = service.loaded
    engine_stats = {}
    if loaded is not None:
        engine_stats = {
            "gallery_size": loaded.gallery_size,
            "dim": loaded.dim,
            "weights": loaded.weights,
            "weights_fingerprint": loaded.fingerprint,
            "model_backend": loaded.model_backend,
            "index_built_at": loaded.built_at,
            "index_build_seconds": loaded.build_seconds,
            "store": loaded.store,
            "store_description": loaded.store_description,
        }
    return {
        "ready": service.ready,
        "load_error": service.load_error,
        "gallery_dir": str(state.settings.gallery_dir),
        "searches_served": service.searches_served,
        "history_size": history_size,
        "history_max_len": history.max_len,
        "history_warnings": history.warnings,
        "max_upload_bytes": state.settings.max_upload_bytes,
        **engine_stats,
    }


@router.get("/health", response_model=Health)
async def health(state: State) -> dict:
    return {"ready": state.service.ready}
