"""The server never reads what the index skips: FIFOs, sockets and devices answer 403, links out 404.

All on a real uvicorn on loopback; every request has a short timeout, so a handler blocked on a
FIFO fails the test instead of hanging it.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from vistamatch.server import Settings, create_app

from .helpers import LiveServer
from .test_serve_cli import free_port, stop, wait_ready

TIMEOUT = 20


def special_app(special_gallery, tmp_path, tiny_weights, engine=None, **overrides):
    settings = Settings.for_folder(special_gallery, tmp_path / "data", tiny_weights, **overrides)
    return create_app(settings, engine=engine)


def get(http: httpx.Client, path: str) -> httpx.Response:
    return http.get(path, timeout=TIMEOUT)


@pytest.mark.parametrize("route", ["/gallery_images/", "/thumbs/"])
def test_fifos_sockets_and_devices_are_refused_links_out_are_not_found(special_gallery, tmp_path, tiny_weights, engine, route):
    with LiveServer(special_app(special_gallery, tmp_path, tiny_weights, engine, update_index=False)) as live:
        with live.client() as http:
            for name, kind in [("x.jpg", "a FIFO"), ("s.jpg", "a socket")]:
                r = get(http, route + name)
                assert r.status_code == 403, name
                assert r.json() == {"ok": False, "error": f"not served: {kind}, not a regular file", "detail": r.json()["detail"]}
            for name in ("z.png", "o.jpg", "d.jpg"):  # /dev/null and a photo outside, through links; a dangling link
                r = get(http, route + name)
                assert r.status_code == 404, name
            for name in ("a.jpg", "in.jpg", "sub/b.png"):
                assert get(http, route + name).status_code == 200, name
            r = http.post("/api/search/similar", json={"path": "x.jpg"}, timeout=TIMEOUT)
            assert r.status_code == 404
            assert get(http, "/api/health").status_code == 200  # nothing is left blocked


def test_following_outside_links_serves_them_but_still_no_device(special_gallery, tmp_path, tiny_weights, engine):
    app = special_app(special_gallery, tmp_path, tiny_weights, engine, update_index=False, follow_outside_links=True)
    with LiveServer(app) as live, live.client() as http:
        r = get(http, "/gallery_images/o.jpg")
        assert r.status_code == 200 and r.content == (tmp_path / "outside" / "o.jpg").read_bytes()
        assert get(http, "/thumbs/o.jpg").headers["content-type"] == "image/webp"
        r = get(http, "/gallery_images/z.png")
        assert r.status_code == 403 and r.json()["error"] == "not served: a character device, not a regular file"


def test_the_server_builds_its_index_over_a_fifo_and_becomes_ready(special_gallery, tmp_path, tiny_weights):
    with LiveServer(special_app(special_gallery, tmp_path, tiny_weights)) as live, live.client() as http:
        deadline = time.monotonic() + 120
        while not get(http, "/api/health").json()["ready"]:
            assert time.monotonic() < deadline, "the index build over the gallery did not finish in 120 s"
            time.sleep(0.2)
        assert http.get("/api/stats", timeout=TIMEOUT).json()["gallery_size"] == 3  # a.jpg, in.jpg, sub/b.png


def test_vistamatch_serve_follow_outside_links(special_gallery, tmp_path, tiny_weights):
    port, data = free_port(), tmp_path / "data"
    cmd = [
        sys.executable, "-m", "vistamatch", "serve", "--gallery", str(special_gallery), "--port", str(port),
        "--weights", str(tiny_weights), "--features", str(data / "gallery_features.npy"),
        "--mapping", str(data / "gallery_mapping.npy"), "--history", str(data / "search_history.json"),
        "--follow-outside-links", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        assert httpx.get(f"{url}/api/stats", timeout=TIMEOUT).json()["gallery_size"] == 4  # o.jpg too
        assert httpx.get(f"{url}/gallery_images/o.jpg", timeout=TIMEOUT).status_code == 200
        assert httpx.get(f"{url}/gallery_images/x.jpg", timeout=TIMEOUT).status_code == 403
    finally:
        assert stop(proc) == 0
