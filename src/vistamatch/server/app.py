"""The app factory: `create_app(settings)` builds a complete FastAPI app on the given folders."""

from __future__ import annotations

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
from .routers import duplicates, gallery, history, pages, search, stats
from .routers.pages import STATIC_DIR
from .security import RequestGuard, SecurityHeaders
from .service import LoadedEngine, SearchService, load_engine
from .settings import Settings
from .state import AppState
from .thumbs import ThumbnailCache
from .timeouts import BodyTimeoutMiddleware
from .upload_limit import UploadLimitMiddleware


def create_app(settings: Settings | None = None, *, engine: LoadedEngine | None = None) -> FastAPI:
    """The web app. Without `engine`, the model and index load in the background at start-up."""
    settings = settings or Settings.from_env()
    if engine is not None:
        service = SearchService.ready_with(engine)
    else:
        service = SearchService(lambda: load_engine(settings), load_wait_seconds=settings.load_wait_seconds)
    state = AppState(
        settings=settings,
        service=service,
        history=HistoryStore(settings.history_path, settings.history_max_len),
        gallery=GalleryPaths(settings.gallery_dir, IMAGE_EXTENSIONS, follow_outside_links=settings.follow_outside_links),
        thumbs=ThumbnailCache(settings.thumbs_dir, settings.thumb_size, settings.decode_budget_bytes),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield

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
    for module in (search, history, gallery, stats, duplicates, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
