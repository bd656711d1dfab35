"""The pages: GET / answers static/index.html, GET /duplicates static/duplicates.html (the rest of
static/ is mounted at /static)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index_page() -> FileResponse:
    return _page("index.html")


@router.get("/duplicates")
def duplicates_page() -> FileResponse:
    return _page("duplicates.html")


def _page(name: str) -> FileResponse:
    # no-cache: the browser revalidates, so a new version of the page shows at once
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers={"Cache-Control": "no-cache"})
