"""What the routers share, built once per app, and typed dependencies to reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .history import HistoryStore
from .paths import GalleryPaths
from .service import SearchService
from .settings import Settings
from .thumbs import ThumbnailCache
from .updater import IndexUpdater


@dataclass
class AppState:
    settings: Settings
    service: SearchService
    history: HistoryStore
    gallery: GalleryPaths
    thumbs: ThumbnailCache
    updater: IndexUpdater | None = None  # with settings.watch: the background build and the watcher


def get_state(request: Request) -> AppState:
    return request.app.state.vistamatch


State = Annotated[AppState, Depends(get_state)]
