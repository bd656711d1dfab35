"""The web app: FastAPI app factory, routers, search history, thumbnails (see docs/api.md)."""

from .app import create_app
from .service import LoadedEngine, load_engine
from .settings import Settings

__all__ = ["create_app", "Settings", "LoadedEngine", "load_engine"]
