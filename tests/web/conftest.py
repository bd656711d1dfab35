"""Browser test fixtures: one real uvicorn server and one headless Chromium for the whole folder.

The server is `create_app(settings)` over a copy of the photo gallery plus files whose names are
HTML, with tiny random weights; its index is built at start-up, and the fixture waits until
/api/health says ready.
"""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Gallery files named like markup: the page must show these names as text and run nothing.
HTML_NAMES = ('<b>bold & "quoted".png', "<img src=x onerror=window.__xss=1>.png")
UPLOAD_LIMIT = 1024 * 1024  # small, so the "too big" test needs only a small file
# A path too long for a card's caption: the file name must stay visible, the folder gives way.
LONG_PATH = "a-folder-name-much-too-long-for-a-card/and-another-long-folder-name/the-end.png"


def expect_caption_keeps_file_visible(caption, path: str) -> None:
    """A card's caption (grid.js) of a path too long for it: the whole path is its text and title, the
    file name shows whole inside the card, and the folder beside it is cut."""
    from playwright.sync_api import expect

    expect(caption).to_have_text(path)
    expect(caption).to_have_attribute("title", path)
    folder, file = caption.get_by_test_id("result-dir"), caption.get_by_test_id("result-file")
    expect(file).to_have_text(path.rsplit("/", 1)[-1])
    assert file.evaluate("e => e.scrollWidth <= e.clientWidth")  # the file name shows whole
    assert folder.evaluate("e => e.scrollWidth > e.clientWidth")  # the folder is cut
    box, card = file.bounding_box(), caption.bounding_box()
    assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5


def fmt_bytes(size: int) -> str:
    """A file size as dom.js's fmtBytes writes it."""
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{-(-size // 1024)} KB"


def _start_uvicorn(app) -> tuple[str, object, threading.Thread]:
    """Serve app on a free loopback port in a thread; return (base URL, server, thread)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}", server, thread


def _wait_ready(base_url: str, timeout_s: float = 180.0) -> None:
    """Poll /api/stats until the model and index are loaded; fail at once if loading failed."""
    deadline = time.monotonic() + timeout_s
    stats: object = None
    while time.monotonic() < deadline:
        try:
            stats = httpx.get(f"{base_url}/api/stats", timeout=5).json()
        except httpx.HTTPError as err:
            stats = err
        else:
            if stats.get("ready"):
                return
            if stats.get("load_error"):
                raise RuntimeError(f"the server could not load the model or index: {stats['load_error']}")
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout_s:.0f} s: {stats!r}")


@pytest.fixture(scope="session")
def web_gallery(tmp_path_factory, photo_gallery, photos) -> Path:
    """The shared photo gallery plus two photos whose file names are HTML."""
    root = tmp_path_factory.mktemp("web-gallery") / "gallery"
    shutil.copytree(photo_gallery, root)
    photos["astronaut"].save(root / HTML_NAMES[0], format="PNG")
    photos["coffee"].save(root / HTML_NAMES[1], format="PNG")
    (root / LONG_PATH).parent.mkdir(parents=True)
    photos["chelsea"].save(root / LONG_PATH, format="PNG")
    return root


@pytest.fixture(scope="session")
def long_path() -> str:
    return LONG_PATH


@pytest.fixture(scope="session")
def html_names() -> tuple[str, ...]:
    return HTML_NAMES


@pytest.fixture(scope="session")
def gallery_names(web_gallery) -> set[str]:
    """Every gallery file as the API names it: relative path, '/'-separated."""
    return {p.relative_to(web_gallery).as_posix() for p in web_gallery.rglob("*") if p.is_file()}


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, web_gallery, tiny_weights) -> str:
    from vistamatch.server import create_app
    from vistamatch.server.settings import Settings

    data_dir = tmp_path_factory.mktemp("web-data")
    settings = Settings.for_folder(web_gallery, data_dir, tiny_weights, max_upload_bytes=UPLOAD_LIMIT)
    base_url, server, thread = _start_uvicorn(create_app(settings))
    try:
        _wait_ready(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def api(live_server):
    with httpx.Client(base_url=live_server, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # the machine is shared: give assertions room

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser, live_server, **context_options):
    context = browser.new_context(base_url=live_server, reduced_motion="reduce", **context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # Anything the page's Content-Security-Policy blocks is reported on the console.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto("/")
    return context, page, errors


@pytest.fixture()
def page(browser, live_server):
    """A fresh page on the app (own storage); fails the test on any uncaught script error or CSP block."""
    context, page, errors = _new_page(browser, live_server, viewport={"width": 1280, "height": 900})
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture()
def phone_page(browser, live_server):
    context, page, errors = _new_page(
        browser, live_server, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture(scope="session")
def query_jpeg(tmp_path_factory, photos) -> Path:
    """A real photo to upload, not itself a gallery file."""
    path = tmp_path_factory.mktemp("queries") / "chelsea-query.jpg"
    photos["chelsea"].resize((300, 200)).save(path, format="JPEG", quality=90)
    return path


@pytest.fixture(scope="session")
def oversized_png(tmp_path_factory) -> Path:
    """A valid PNG above UPLOAD_LIMIT (noise does not compress)."""
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, size=(700, 700, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    assert buf.tell() > UPLOAD_LIMIT
    path = tmp_path_factory.mktemp("queries") / "big-noise.png"
    path.write_bytes(buf.getvalue())
    return path
