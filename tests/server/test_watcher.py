"""The live index on a real folder and a real uvicorn: files added, changed, deleted, renamed, in a
burst, or half-copied appear in (or leave) search results; searches keep answering meanwhile; a new
gallery is searchable while it is first indexed; GET /api/index tells the state."""

from __future__ import annotations

import io
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from vistamatch.server import Settings, create_app

from .helpers import LiveServer


def png(seed: int, size: int = 48) -> bytes:
    """A distinct noise image (the tiny random model tells them apart) as PNG bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def wait_for(check, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def top_hit(client, data: bytes) -> tuple[str, float, dict]:
    r = client.post("/api/search", files={"image": ("q.png", data, "image/png")}, params={"topk": 1, "dedup": "false"})
    assert r.status_code == 200, r.text
    body = r.json()
    item = body["tiers"][0]["items"][0]
    return item["filename"], item["score"], body


def found(client, data: bytes, name: str) -> bool:
    filename, score, _ = top_hit(client, data)
    return filename == name and score == pytest.approx(1.0, abs=1e-4)


def settings_for(gallery, tmp_path, tiny_weights, **overrides) -> Settings:
    values = dict(watch=True, watch_debounce_seconds=0.3, commit_seconds=0.3, load_wait_seconds=120)
    values.update(overrides)
    return Settings.for_folder(gallery, tmp_path / "data", tiny_weights, **values)


@pytest.fixture
def gallery(tmp_path):
    root = tmp_path / "gallery"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        (root / f"seed{i}.png").write_bytes(png(1000 + i))
    return root


def serve_watching(gallery, tmp_path, tiny_weights, **overrides):
    server = LiveServer(create_app(settings_for(gallery, tmp_path, tiny_weights, **overrides)))
    server.__enter__()
    client = server.client()
    wait_for(lambda: client.get("/api/index").json()["state"] == "watching", what="the first build")
    return server, client


@pytest.fixture
def watching(gallery, tmp_path, tiny_weights):
    server, client = serve_watching(gallery, tmp_path, tiny_weights)
    yield client
    client.close()
    server.__exit__(None, None, None)


def test_add_change_delete_rename(gallery, watching):
    client = watching
    state = client.get("/api/index").json()
    assert state["indexed"] == state["total"] == state["searchable"] == 3 and state["watching"]
    first = state["generation"]

    (gallery / "sub" / "new.png").write_bytes(png(1))
    wait_for(lambda: found(client, png(1), "sub/new.png"), what="the added file in search results")
    state = client.get("/api/index").json()
    assert state["searchable"] == 4 and state["generation"] > first and state["last_update"]

    (gallery / "sub" / "new.png").write_bytes(png(2))  # same name, other picture
    wait_for(lambda: found(client, png(2), "sub/new.png"), what="the changed file's new content")
    assert top_hit(client, png(1))[1] < 0.9999  # the old content is gone

    (gallery / "sub" / "new.png").rename(gallery / "renamed.png")
    wait_for(lambda: found(client, png(2), "renamed.png"), what="the renamed file")
    assert client.get("/api/index").json()["searchable"] == 4

    (gallery / "renamed.png").unlink()
    wait_for(lambda: client.get("/api/index").json()["searchable"] == 3, what="the deleted file to leave")
    assert top_hit(client, png(2))[0] != "renamed.png"

    (gallery / "sub" / "inside.png").write_bytes(png(4))
    wait_for(lambda: found(client, png(4), "sub/inside.png"), what="a file in a sub-folder")
    (gallery / "sub").rename(gallery / "moved")  # one event for the folder, none for its files
    wait_for(lambda: found(client, png(4), "moved/inside.png"), what="the file of the renamed folder")


def test_a_half_copied_file_is_indexed_with_its_final_content(gallery, watching):
    client = watching
    data = png(7, size=160)
    target = gallery / "copying.png"
    with open(target, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(3)  # a stalled copy: longer than the debounce and the settle time
        f.write(data[len(data) // 2 :])
    wait_for(lambda: found(client, data, "copying.png"), what="the completed file")
    assert "copying.png" not in [s["path"] for s in client.get("/api/index", params={"skipped": 1}).json()["skipped"]]


def test_a_burst_of_files_and_searches_answer_during_the_update(gallery, watching):
    client = watching
    n = 500
    statuses, sizes, stop = [], [], threading.Event()

    def search_meanwhile():
        with httpx.Client(base_url=str(client.base_url), timeout=60) as other:
            while not stop.is_set():
                r = other.post("/api/search", files={"image": ("q.png", png(1000), "image/png")}, params={"topk": 5})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    sizes.append(r.json()["gallery_size"])

    searcher = threading.Thread(target=search_meanwhile)
    searcher.start()
    try:
        for i in range(n):
            (gallery / "burst" if i % 2 else gallery).mkdir(exist_ok=True)
            (gallery / ("burst" if i % 2 else "") / f"b{i:03d}.png").write_bytes(png(5000 + i))
        wait_for(lambda: client.get("/api/index").json()["searchable"] == 3 + n, timeout=120, what="the burst to be indexed")
    finally:
        stop.set()
        searcher.join()
    assert statuses and set(statuses) == {200}
    assert sizes == sorted(sizes) and sizes[-1] <= 3 + n  # generations only move forward
    for i in (0, 1, n - 1):
        assert found(client, png(5000 + i), f"{'burst/' if i % 2 else ''}b{i:03d}.png")
    state = client.get("/api/index").json()
    assert state["state"] == "watching" and state["indexed"] == state["total"] == 3 + n


def test_polling_fallback_sees_a_new_file(gallery, tmp_path, tiny_weights):
    server, client = serve_watching(gallery, tmp_path, tiny_weights, watch_poll=True)
    try:
        (gallery / "polled.png").write_bytes(png(3))
        wait_for(lambda: found(client, png(3), "polled.png"), what="the file seen by polling")
    finally:
        client.close()
        server.__exit__(None, None, None)


def test_a_new_gallery_is_searchable_while_first_indexed(tmp_path, tiny_weights):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    n = 400
    for i in range(n):
        (gallery / f"{i:04d}.png").write_bytes(png(i, size=32))
    with LiveServer(create_app(settings_for(gallery, tmp_path, tiny_weights, commit_seconds=0.2))) as server, server.client() as client:
        partial = None
        states = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = client.get("/api/index").json()
            states.append(state)
            if state["searchable"]:
                body = top_hit(client, png(0, size=32))[2]
                if body.get("partial"):
                    partial = body["partial"]
                    break
            if state["state"] == "watching":
                break
            time.sleep(0.05)
        assert partial is not None, "no search answered while the index was partial"
        assert 0 < partial["indexed"] < partial["total"] == n
        assert partial["message"] == f"partial: {partial['indexed']} of {n} indexed"
        indexing = [s for s in states if s["state"] == "indexing" and s["total"] == n]
        assert indexing and indexing[-1]["indexed"] < n and indexing[-1]["images_per_second"] > 0
        wait_for(lambda: client.get("/api/index").json()["state"] == "watching", timeout=120, what="the first build to end")
        body = top_hit(client, png(0, size=32))[2]
        assert "partial" not in body or body["partial"] is None
        assert body["gallery_size"] == n


def test_skipped_files_are_listed_on_request(gallery, watching):
    (gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    client = watching
    wait_for(lambda: client.get("/api/index").json()["skipped_count"] == 1, what="the broken file to be skipped")
    state = client.get("/api/index").json()
    assert state["skipped"] is None  # only on request
    listed = client.get("/api/index", params={"skipped": 1}).json()["skipped"]
    assert [s["path"] for s in listed] == ["broken.png"] and listed[0]["reason"]


def test_two_servers_on_one_index_both_follow_it(gallery, tmp_path, tiny_weights):
    """Two workers on one gallery: one builds, the other waits for the lock and then serves that commit."""
    first, a = serve_watching(gallery, tmp_path, tiny_weights)
    second, b = serve_watching(gallery, tmp_path, tiny_weights)
    try:
        (gallery / "both.png").write_bytes(png(9))
        for client in (a, b):
            wait_for(lambda: found(client, png(9), "both.png"), what="the new file in both servers")
        assert a.get("/api/index").json()["generation"] == b.get("/api/index").json()["generation"]
    finally:
        for client, server in ((a, first), (b, second)):
            client.close()
            server.__exit__(None, None, None)
