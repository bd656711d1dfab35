"""Searching again without re-uploading (stored query embeddings), pages by offset, query by URL, /api/config.

All through a live uvicorn on loopback; the URL queries fetch from a plain HTTP server on loopback.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading

import pytest

from vistamatch.search.tiers import ABSOLUTE_THRESHOLDS, TIER_NAMES
from vistamatch.server import create_app
from vistamatch.server.schemas import OFFSET_MAX_DEDUP, TOPK_MAX

from .helpers import LiveServer


def upload(http, data: bytes, **params):
    return http.post("/api/search", files={"image": ("q.jpg", data, "image/jpeg")}, params=params)


def ranked(body: dict) -> list[tuple[int, str, float]]:
    return [(i["rank"], i["filename"], i["score"]) for t in body["tiers"] for i in t["items"]]


def test_again_reruns_the_stored_query_with_new_settings(live, settings, query_jpeg):
    with live.client() as http:
        first = upload(http, query_jpeg, topk=3).json()
        assert first["query_vector_stored"] is True
        assert (settings.history_path.with_name("search_history_thumbs") / f"{first['history_id']}.npy").is_file()
        fresh = upload(http, query_jpeg, topk=8, dedup="false", tiers="absolute").json()
        total = http.get("/api/history").json()["total"]

        r = http.post("/api/search/again", json={"history_id": first["history_id"], "topk": 8, "dedup": False, "tiers": "absolute"})
        assert r.status_code == 200, r.text
        again = r.json()
        # the same ranking as uploading again with those settings, without a model run or an upload
        assert ranked(again) == ranked(fresh)
        assert again["tier_policy"] == "absolute" and again["topk_requested"] == 8 and again["dedup_enabled"] is False
        assert again["timing_ms"]["embed"] == 0
        assert again["history_id"] == first["history_id"] and again["query_name"] == "q.jpg"
        assert http.get("/api/history").json()["total"] == total  # nothing recorded
        # absolute tiers follow the fixed thresholds
        for tier in again["tiers"]:
            floor = dict(zip(TIER_NAMES, [*ABSOLUTE_THRESHOLDS, -1.0]))[tier["name"]]
            assert all(i["score"] >= floor for i in tier["items"])


def test_again_after_the_entry_is_deleted_is_404_and_its_embedding_is_gone(live, settings, query_jpeg):
    with live.client() as http:
        entry_id = upload(http, query_jpeg, topk=2).json()["history_id"]
        vector_file = settings.history_path.with_name("search_history_thumbs") / f"{entry_id}.npy"
        assert vector_file.is_file()
        assert http.delete(f"/api/history/{entry_id}").status_code == 200
        assert not vector_file.exists()
        r = http.post("/api/search/again", json={"history_id": entry_id})
        assert r.status_code == 404 and "cannot run again" in r.json()["error"]
        assert http.post("/api/search/again", json={"history_id": "../../etc"}).status_code == 404


def test_an_unreadable_stored_embedding_is_404_not_500(live, settings, query_jpeg):
    with live.client() as http:
        entry_id = upload(http, query_jpeg, topk=2).json()["history_id"]
        (settings.history_path.with_name("search_history_thumbs") / f"{entry_id}.npy").write_bytes(b"not numpy")
        assert http.post("/api/search/again", json={"history_id": entry_id}).status_code == 404


def test_pages_by_offset_join_up(live, query_jpeg, engine):
    with live.client() as http:
        whole = upload(http, query_jpeg, topk=6, dedup="false").json()
        entry_id = upload(http, query_jpeg, topk=3, dedup="false").json()["history_id"]
        second = http.post("/api/search/again", json={"history_id": entry_id, "topk": 3, "offset": 3, "dedup": False}).json()
        assert second["offset"] == 3
        assert [r for r, _, _ in ranked(second)] == [4, 5, 6]
        assert [n for _, n, _ in ranked(second)] == [n for _, n, _ in ranked(whole)][3:]
        # past the end of the gallery: an empty page, not an error
        beyond = upload(http, query_jpeg, topk=5, offset=engine.gallery_size, dedup="false").json()
        assert beyond["topk_returned"] == 0 and beyond["offset"] == engine.gallery_size
        # with dedup, pages stop at a depth whose Gram matrix stays small
        r = upload(http, query_jpeg, topk=TOPK_MAX, offset=OFFSET_MAX_DEDUP + 1)
        assert r.status_code == 422 and "dedup" in r.json()["error"]
        r = http.post("/api/search/again", json={"history_id": entry_id, "offset": OFFSET_MAX_DEDUP + 1})
        assert r.status_code == 422


def test_config_gives_the_limits_and_tier_names(live):
    with live.client() as http:
        config = http.get("/api/config").json()
    assert (config["topk_min"], config["topk_max"], config["topk_default"]) == (1, 200, 50)
    assert config["tier_names"] == list(TIER_NAMES)
    assert [p["name"] for p in config["tier_policies"]] == ["quantile", "absolute"]
    assert f"{ABSOLUTE_THRESHOLDS[0]:.2f}" in config["tier_policies"][1]["description"]
    assert config["max_upload_bytes"] > 0 and config["offset_max_dedup"] == OFFSET_MAX_DEDUP


@pytest.fixture
def image_host(query_jpeg):
    """A plain HTTP server on loopback: /q.jpg is the query photo, /text is not an image, /hop redirects."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/hop":
                self.send_response(302)
                self.send_header("Location", "/q.jpg")
                self.end_headers()
                return
            body, kind = (query_jpeg, "image/jpeg") if self.path.startswith("/q.jpg") else (b"hello", "text/plain")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_query_by_url_refuses_loopback_unless_allowed(settings, engine, image_host, query_jpeg):
    with LiveServer(create_app(settings, engine=engine)) as server, server.client() as http:
        for url in (f"{image_host}/q.jpg", f"http://localhost:{image_host.rsplit(':', 1)[1]}/q.jpg"):
            r = http.post("/api/search/url", json={"url": url, "topk": 3})
            assert r.status_code == 403, r.text
            assert "private_address" in r.json()["error"]
        assert http.post("/api/search/url", json={"url": "file:///etc/passwd"}).status_code == 400

    allowed = dataclasses.replace(settings, url_allow_private=True)
    with LiveServer(create_app(allowed, engine=engine)) as server, server.client() as http:
        r = http.post("/api/search/url", json={"url": f"{image_host}/hop", "topk": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["query_name"] == f"{image_host}/hop" and body["query_vector_stored"] is True
        assert ranked(body) == ranked(upload(http, query_jpeg, topk=3).json())
        r = http.post("/api/search/url", json={"url": f"{image_host}/text"})
        assert r.status_code == 400 and "not_image" in r.json()["error"]


def test_an_embedding_of_other_weights_is_refused(live, settings, query_jpeg, engine):
    with live.client() as http:
        entry_id = upload(http, query_jpeg, topk=2).json()["history_id"]
        text = settings.history_path.read_text()
        assert f'"query_vector_model": "{engine.fingerprint}"' in text  # recorded with the entry
        settings.history_path.write_text(text.replace(engine.fingerprint, "weights-of-another-day"))
        r = http.post("/api/search/again", json={"history_id": entry_id})
        assert r.status_code == 409 and "other weights" in r.json()["error"]
