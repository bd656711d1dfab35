"""Server fixtures: a gallery of real photos with hostile names and links, one engine per session,
an app per test on fresh folders, and a real uvicorn on a free loopback port."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vistamatch.server import Settings, create_app, load_engine

from .helpers import LiveServer, jpeg_bytes

HTML_NAME = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="session")
def html_name() -> str:
    """A gallery file name that is also HTML: it must reach clients as plain text."""
    return HTML_NAME


@pytest.fixture(scope="session")
def outside_dir(tmp_path_factory, photos) -> Path:
    """A folder beside the gallery holding a photo nothing may serve."""
    folder = tmp_path_factory.mktemp("outside")
    photos["coins"].save(folder / "secret.jpg", format="JPEG")
    (folder / "secret.txt").write_text("top secret")
    return folder


@pytest.fixture(scope="session")
def server_gallery(tmp_path_factory, photo_gallery, photos, outside_dir) -> Path:
    """The shared photo gallery plus: a file named like HTML, links in and out, non-images, a hidden file."""
    root = tmp_path_factory.mktemp("server_gallery") / "gallery"
    shutil.copytree(photo_gallery, root)
    photos["astronaut"].resize((200, 200)).save(root / HTML_NAME, format="PNG")
    (root / "link_out.jpg").symlink_to(outside_dir / "secret.jpg")
    (root / "sub" / "link_dir_out").symlink_to(outside_dir, target_is_directory=True)
    (root / "link_in.png").symlink_to(root / HTML_NAME)
    (root / "notes.txt").write_text("not an image")
    photos["camera"].save(root / ".hidden.jpg", format="JPEG")
    return root


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def engine(server_gallery, index_dir, tiny_weights):
    """The model and index, built once for the session through the server's own loader."""
    return load_engine(Settings.for_folder(server_gallery, index_dir, tiny_weights))


@pytest.fixture
def settings(server_gallery, index_dir, tiny_weights, tmp_path) -> Settings:
    """The session's index, with this test's own history and thumbnail folders."""
    return Settings.for_folder(
        server_gallery,
        index_dir,
        tiny_weights,
        history_path=tmp_path / "history" / "search_history.json",
        thumbs_dir=tmp_path / "thumbs",
        update_index=False,
    )


@pytest.fixture
def client(settings, engine):
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture(scope="session")
def query_jpeg(photos) -> bytes:
    return jpeg_bytes(photos["chelsea"].resize((320, 240)))


@pytest.fixture
def live(settings, engine):
    with LiveServer(create_app(settings, engine=engine)) as server:
        yield server
