"""Against a real uvicorn on 127.0.0.1: endpoints, concurrency, big uploads, raw traversal, restarts."""

from __future__ import annotations

import dataclasses
import http.client
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from vistamatch.server import create_app

from .helpers import LiveServer, jpeg_bytes


def search(http, data: bytes, name: str, **params) -> dict:
    r = http.post("/api/search", files={"image": (name, data, "image/jpeg")}, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ranked(body: dict) -> list[tuple[str, float]]:
    return [(i["filename"], i["score"]) for t in body["tiers"] for i in t["items"]]


def raw_get(live: LiveServer, target: str) -> tuple[int, bytes]:
    """A GET with the target sent byte for byte (no client-side normalisation of '..')."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_every_endpoint_over_http(live, query_jpeg):
    with live.client() as http:
        assert http.get("/").status_code == 200
        assert http.get("/docs").status_code == 200
        assert http.get("/api/health").json()["ready"] is True
        body = search(http, query_jpeg, "q.jpg", topk=4)
        assert body["topk_returned"] == 4
        item = body["tiers"][0]["items"][0]
        assert http.get(item["url"]).status_code == 200
        assert http.get(item["thumb_url"]).headers["content-type"] == "image/webp"
        similar = http.post("/api/search/similar", json={"path": item["filename"], "topk": 2}).json()
        assert similar["query_name"] == item["filename"]
        assert http.get(f"/api/history/{body['history_id']}").status_code == 200
        assert http.get(body["query_thumb_url"]).status_code == 200
        assert http.get("/api/history").json()["total"] == 2
        assert http.delete(f"/api/history/{body['history_id']}").status_code == 200
        assert http.post("/api/history/clear").json()["removed"] == 1
        assert http.get("/api/stats").json()["searches_served"] == 2


def test_sixteen_concurrent_searches_each_get_their_own_answer(live, photos):
    queries = [(f"q{i}.jpg", jpeg_bytes(photo.rotate(90 * (i // len(photos))))) for i, photo in enumerate(list(photos.values()) * 2)]
    with live.client() as http:
        expected = {name: ranked(search(http, data, name, topk=topk)) for topk, (name, data) in enumerate(queries, 1)}
        http.post("/api/history/clear")

        def one(job):
            topk, (name, data) = job
            with live.client() as own:
                return topk, name, search(own, data, name, topk=topk)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, enumerate(queries, 1)))
        for topk, name, body in answers:
            assert body["query_name"] == name and body["topk_requested"] == topk
            assert ranked(body) == expected[name]
        history = http.get("/api/history", params={"limit": 100}).json()
        assert history["total"] == 16
        assert {e["id"] for e in history["items"]} == {b["history_id"] for _, _, b in answers}


@pytest.mark.parametrize("chunked", [False, True])
def test_upload_over_the_default_limit_is_413_json(live, chunked):
    size = live.server.config.app.state.vistamatch.settings.max_upload_bytes + 1024 * 1024
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="huge.jpg"\r\n\r\n'.encode()
        + b"\xff" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content = (body[i : i + 1 << 20] for i in range(0, len(body), 1 << 20)) if chunked else body
    with live.client() as http:
        r = http.post("/api/search", content=content, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413
    assert r.json()["ok"] is False and "too large" in r.json()["error"]


@pytest.mark.parametrize(
    "target",
    [
        "/gallery_images/../outside/secret.jpg",
        "/gallery_images/%2e%2e/outside/secret.jpg",
        "/gallery_images/%2E%2E%2Foutside%2Fsecret.jpg",
        "/gallery_images/sub/..%2F..%2Foutside%2Fsecret.txt",
        "/thumbs/%2e%2e/outside/secret.jpg",
        "/gallery_images//etc/passwd",
        "/gallery_images/%2Fetc%2Fpasswd",
        "/gallery_images/link_out.jpg",
        "/thumbs/link_out.jpg",
        "/gallery_images/sub/link_dir_out/secret.jpg",
        "/gallery_images/.hidden.jpg",
        "/gallery_images/notes.txt",
        "/static/../routers/gallery.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_traversal_attempts_are_404(live, target):
    status, body = raw_get(live, target)
    assert status == 404, (target, body[:200])
    assert b"secret" not in body and b"root:" not in body


def test_html_file_name_comes_back_as_a_json_string(live, html_name):
    with live.client() as http:
        r = http.post("/api/search/similar", json={"path": html_name, "topk": 200, "dedup": False})
    assert r.headers["content-type"] == "application/json"
    names = [i["filename"] for t in r.json()["tiers"] for i in t["items"]]
    assert html_name in names and r.json()["query_name"] == html_name
    assert json.loads(r.text)["query_name"] == html_name


def test_cors_is_off_unless_configured(live, settings, engine):
    with live.client() as http:
        r = http.get("/api/stats", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    allowed = dataclasses.replace(settings, cors_origins=("http://ok.example",))
    with LiveServer(create_app(allowed, engine=engine)) as server, server.client() as http:
        ok = http.get("/api/stats", headers={"Origin": "http://ok.example"})
        other = http.get("/api/stats", headers={"Origin": "http://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "http://ok.example"
    assert "access-control-allow-origin" not in other.headers


def test_restart_keeps_history(settings, engine, query_jpeg):
    with LiveServer(create_app(settings, engine=engine)) as server, server.client() as http:
        body = search(http, query_jpeg, "before-restart.jpg", topk=3)
    with LiveServer(create_app(settings, engine=engine)) as server, server.client() as http:
        entry = http.get(f"/api/history/{body['history_id']}").json()["entry"]
        assert entry["query_name"] == "before-restart.jpg" and entry["tiers"] == body["tiers"]
        assert http.get(body["query_thumb_url"]).status_code == 200


def test_corrupt_history_file_is_backed_up_and_reported(settings, engine, query_jpeg):
    settings.history_path.parent.mkdir(parents=True, exist_ok=True)
    settings.history_path.write_text('[{"id": "abc", "oops"')
    with LiveServer(create_app(settings, engine=engine)) as server, server.client() as http:
        listing = http.get("/api/history").json()
        assert listing["total"] == 0 and "corrupt" in listing["warnings"][0]
        assert http.get("/api/stats").json()["history_warnings"] == listing["warnings"]
        search(http, query_jpeg, "after.jpg", topk=1)
    (backup,) = settings.history_path.parent.glob("search_history.json.corrupt-*.bak")
    assert backup.read_text() == '[{"id": "abc", "oops"'
    assert [e["query_name"] for e in json.loads(settings.history_path.read_text())] == ["after.jpg"]
