"""GET /api/stats, GET /api/health and GET /api/config (what the page takes from the server)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from ...search.tiers import ABSOLUTE_THRESHOLDS, TIER_NAMES
from ..schemas import Health, PageConfig, Stats
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


TIER_POLICY_TEXT = {
    "quantile": "by rank in this list: the top 10 % Perfect, the next 20 % Excellent, the next 30 % Good, the rest Just-so-so",
    "absolute": "by score: Perfect from {0:.2f}, Excellent from {1:.2f}, Good from {2:.2f}, below that Just-so-so",
}


@router.get("/config", response_model=PageConfig)
async def config(state: State) -> dict:
    """Limits, defaults and tier names for clients (the page reads these instead of copies of its own)."""
    return {
        "max_upload_bytes": state.settings.max_upload_bytes,
        "tier_names": list(TIER_NAMES),
        "tier_policies": [{"name": name, "description": text.format(*ABSOLUTE_THRESHOLDS)} for name, text in TIER_POLICY_TEXT.items()],
        "tier_policy_default": "quantile",
        "absolute_thresholds": list(ABSOLUTE_THRESHOLDS),
        "url_queries": True,
    }
