"""The app factory: `create_app(settings)` builds a complete FastAPI app on the given folders."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ..imaging import IMAGE_EXTENSIONS
from .errors import install_error_handlers
from .history import HistoryStore
from .methods import MethodsMiddleware
from .paths import GalleryPaths
from .routers import duplicates, gallery, history, index_state, pages, search, stats
from .routers.pages import STATIC_DIR
from .security import RequestGuard, SecurityHeaders
from .service import LoadedEngine, SearchService, load_engine
from .settings import Settings
from .state import AppState
from .thumbs import ThumbnailCache
from .timeouts import BodyTimeoutMiddleware
from .updater import IndexUpdater
from .upload_limit import UploadLimitMiddleware


def create_app(settings: Settings | None = None, *, engine: LoadedEngine | None = None, model=None) -> FastAPI:
    """The web app. Without `engine`, the model and index load in the background at start-up.

    With ``settings.watch`` (and no `engine`), the index is built in the background, searchable from its
    first partial commit, and kept up to date with the gallery (``updater.py``); ``model``: (weights
    path, model) already loaded for it.
    """
    settings = settings or Settings.from_env()
    updater = None
    if engine is not None:
        service = SearchService.ready_with(engine)
    elif settings.watch:
        service = SearchService(lambda: _start_live(updater), load_wait_seconds=settings.load_wait_seconds)
        updater = IndexUpdater(settings, service.publish, model=model)
    else:
        service = SearchService(lambda: load_engine(settings, publish=service.publish), load_wait_seconds=settings.load_wait_seconds)
    state = AppState(
        settings=settings,
        service=service,
        history=HistoryStore(settings.history_path, settings.history_max_len),
        gallery=GalleryPaths(settings.gallery_dir, IMAGE_EXTENSIONS, follow_outside_links=settings.follow_outside_links),
        thumbs=ThumbnailCache(settings.thumbs_dir, settings.thumb_size, settings.decode_budget_bytes),
        updater=updater,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield
        if updater is not None:
            await asyncio.to_thread(updater.stop)

    # Swagger UI's script and styles come from the fastapi-offline package, so /docs works offline.
    app = FastAPIOffline(
        title="VistaMatch",
        summary="Image-to-image search over your own gallery, with tiers, dedup and history.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.vistamatch = state
    install_error_handlers(app)
    # The last added runs first: headers on every answer, then Host and Origin, then CORS.
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(BodyTimeoutMiddleware, seconds=settings.body_timeout_seconds)
    app.add_middleware(MethodsMiddleware, router=app.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"]
        )
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts, cors_origins=settings.cors_origins)
    app.add_middleware(SecurityHeaders, same_origin_resources=not settings.cors_origins)
    for module in (search, history, gallery, stats, duplicates, index_state, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _start_live(updater: IndexUpdater) -> LoadedEngine:
    updater.start()
    return updater.first_engine()
