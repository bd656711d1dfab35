"""Every endpoint through the test client, on a gallery of real photos with tiny random weights."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from vistamatch.model.kernels import select_kernels
from vistamatch.search.tiers import TIER_NAMES
from vistamatch.server import create_app

from .test_history_store import make_entry

SEED_FIELDS = {"ok", "topk_requested", "topk_returned", "dedup_enabled", "duplicates_removed", "tiers", "timing_ms", "gallery_size"}


def upload(client, data: bytes, name: str = "query.jpg", **params):
    return client.post("/api/search", files={"image": (name, data, "image/jpeg")}, params=params)


def all_items(body: dict) -> list[dict]:
    return [item for tier in body["tiers"] for item in tier["items"]]


def test_search_upload_has_the_original_fields_plus_urls_and_history(client, query_jpeg, engine):
    r = upload(client, query_jpeg, name="cat.jpg", topk=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert SEED_FIELDS <= body.keys()
    assert body["ok"] is True and body["query_name"] == "cat.jpg"
    assert body["topk_requested"] == 5 and body["topk_returned"] == 5 and body["dedup_enabled"] is True
    assert body["gallery_size"] == engine.gallery_size
    assert set(body["timing_ms"]) == {"preprocess", "embed", "search", "dedup_filter", "total"}
    assert body["timing_ms"]["embed"] > 0
    names = [t["name"] for t in body["tiers"]]
    assert names == [n for n in TIER_NAMES if n in names]  # tiers in order
    items = all_items(body)
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    for tier in body["tiers"]:
        assert tier["size"] == len(tier["items"])
        assert tier["score_max"] == max(i["score"] for i in tier["items"])
    for item in items:
        assert client.get(item["url"]).status_code == 200
        assert item["thumb_url"].startswith("/thumbs/")
    # the history entry holds the same result, and its query thumbnail is served
    entry = client.get(f"/api/history/{body['history_id']}").json()["entry"]
    assert entry["tiers"] == body["tiers"] and entry["query_name"] == "cat.jpg"
    thumb = client.get(body["query_thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 160


def test_topk_and_dedup_reach_the_search(client, query_jpeg, engine):
    body = upload(client, query_jpeg, topk=200, dedup="false").json()
    assert body["topk_requested"] == 200 and body["dedup_enabled"] is False
    assert body["topk_returned"] == engine.gallery_size  # all of a small gallery
    assert body["duplicates_removed"] == 0
    deduped = upload(client, query_jpeg, topk=200).json()
    assert deduped["topk_returned"] + deduped["duplicates_removed"] >= deduped["topk_returned"]
    default = upload(client, query_jpeg).json()
    assert default["topk_requested"] == 50 and default["dedup_enabled"] is True


def test_search_similar_by_gallery_path(client):
    r = client.post("/api/search/similar", json={"path": "sub/coffee.webp", "topk": 3, "dedup": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query_name"] == "sub/coffee.webp"
    first = all_items(body)[0]
    assert first["filename"] == "sub/coffee.webp" and first["score"] > 0.999  # itself first
    assert body["history_id"] and client.get(body["query_thumb_url"]).status_code == 200


def test_search_similar_refuses_paths_outside_the_gallery(client):
    for path in ("../outside/secret.jpg", "/etc/passwd", "link_out.jpg", "nope.jpg", "notes.txt"):
        r = client.post("/api/search/similar", json={"path": path})
        assert r.status_code == 404, path
        assert r.json()["ok"] is False


def test_history_list_get_delete_clear(client, query_jpeg):
    ids = [upload(client, query_jpeg, name=f"q{i}.jpg", topk=2).json()["history_id"] for i in range(3)]
    listing = client.get("/api/history").json()
    assert listing["ok"] is True and listing["total"] == 3 and listing["warnings"] == []
    assert [e["id"] for e in listing["items"]] == ids[::-1]  # newest first
    assert [e["query_name"] for e in client.get("/api/history", params={"limit": 1}).json()["items"]] == ["q2.jpg"]
    assert client.delete(f"/api/history/{ids[1]}").json() == {"ok": True, "deleted": ids[1]}
    assert client.get(f"/api/history/{ids[1]}").status_code == 404
    assert client.delete(f"/api/history/{ids[1]}").status_code == 404
    assert client.get(f"/api/history/{ids[1]}/thumb").status_code == 404
    assert client.post("/api/history/clear").json() == {"ok": True, "removed": 2}
    assert client.get("/api/history").json()["total"] == 0
    assert client.get("/api/history", params={"limit": 0}).status_code == 422


def test_stats(client, query_jpeg, engine, settings):
    before = client.get("/api/stats").json()
    assert before["ready"] is True and before["load_error"] is None
    assert before["gallery_size"] == engine.gallery_size and before["dim"] == engine.dim == 32
    assert before["weights"] == engine.weights and before["weights_fingerprint"]
    assert before["model_backend"] == engine.engine.embedder.model.backend == select_kernels().name
    assert before["index_built_at"] and before["max_upload_bytes"] == settings.max_upload_bytes
    upload(client, query_jpeg, topk=1)
    after = client.get("/api/stats").json()
    assert after["searches_served"] == before["searches_served"] + 1
    assert after["history_size"] == before["history_size"] + 1
    assert client.get("/api/health").json() == {"ok": True, "ready": True}


def test_gallery_file_with_cache_validators(client, server_gallery):
    r = client.get("/gallery_images/sub/coffee.webp")
    assert r.status_code == 200
    assert r.content == (server_gallery / "sub" / "coffee.webp").read_bytes()
    assert "max-age" in r.headers["cache-control"] and r.headers["last-modified"]
    assert r.headers["content-type"] == "image/webp" and r.headers["x-content-type-options"] == "nosniff"
    again = client.get("/gallery_images/sub/coffee.webp", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_thumbnails_are_small_made_once_and_cached(client, settings):
    r = client.get("/thumbs/astronaut.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    img = Image.open(io.BytesIO(r.content))
    assert max(img.size) == 256 and len(r.content) < 30_000
    cached = list(settings.thumbs_dir.rglob("*.webp"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    second = client.get("/thumbs/astronaut.jpg")
    assert second.content == r.content and second.headers["etag"] == r.headers["etag"]
    assert cached[0].stat().st_mtime_ns == mtime  # served from the cache, not made again
    assert client.get("/thumbs/astronaut.jpg", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert "max-age" in r.headers["cache-control"]


def test_html_file_name_is_plain_json_text(client, html_name):
    body = client.post("/api/search/similar", json={"path": html_name, "topk": 200, "dedup": False}).json()
    item = next(i for i in all_items(body) if i["filename"] == html_name)
    assert body["query_name"] == html_name
    assert "<" not in item["url"] and "<" not in item["thumb_url"]
    assert client.get(item["url"]).headers["content-type"] == "image/png"
    assert client.get(item["thumb_url"]).status_code == 200
    entry = client.get(f"/api/history/{body['history_id']}").json()["entry"]
    assert entry["query_name"] == html_name


def test_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/search/similar", "/api/history", "/api/stats", "/thumbs/{path}"} <= set(paths)


def test_search_answers_even_when_history_cannot_be_saved(settings, engine, query_jpeg):
    settings.history_path.parent.write_text("a file where the history's folder should be: every write fails")
    with TestClient(create_app(settings, engine=engine)) as client:
        body = upload(client, query_jpeg, topk=2).json()
    assert body["ok"] is True and body["topk_returned"] == 2
    assert body["history_id"] is None and body["query_thumb_url"] is None
    assert "history not saved" in body["history_warning"]


def test_a_history_nested_too_deep_is_set_aside_and_the_app_answers(settings, engine, query_jpeg):
    nested = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError on it
    settings.history_path.parent.mkdir(parents=True)
    settings.history_path.write_bytes(nested)
    with TestClient(create_app(settings, engine=engine)) as client:
        stats = client.get("/api/stats")
        assert stats.status_code == 200, stats.text
        assert stats.json()["history_size"] == 0
        (warning,) = stats.json()["history_warnings"]
        assert str(settings.history_path) in warning and "nested too deeply" in warning
        search = upload(client, query_jpeg, topk=2)
        assert search.status_code == 200, search.text
        assert search.json()["history_id"] and client.get("/api/history").json()["total"] == 1
    (backup,) = settings.history_path.parent.glob("search_history.json.corrupt-*.bak")
    assert backup.read_bytes() == nested


def test_history_urls_are_made_by_the_server_not_read_from_the_file(client, settings):
    entry = make_entry("edited.jpg", n_items=2)
    entry["tiers"][0]["items"][0] |= {"url": "javascript:alert(1)", "thumb_url": "/thumbs/img0.jpg"}
    # items[1] as the original project wrote it: no thumb_url
    entry["query_thumb_url"] = "https://elsewhere.example/x.webp"
    settings.history_path.parent.mkdir(parents=True, exist_ok=True)
    settings.history_path.write_text(json.dumps([entry]))
    served = client.get(f"/api/history/{entry['id']}").json()["entry"]
    items = all_items(served)
    assert [(i["url"], i["thumb_url"]) for i in items] == [
        ("/gallery_images/img0.jpg", "/thumbs/img0.jpg"),
        ("/gallery_images/img1.jpg", "/thumbs/img1.jpg"),
    ]
    assert served["query_thumb_url"] == f"/api/history/{entry['id']}/thumb"
    assert client.get("/api/history").json()["items"][0] == served
