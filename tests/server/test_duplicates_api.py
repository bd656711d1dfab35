"""The duplicates API on a real uvicorn: groups, moving to the trash with its refusals, batches, undo.

Random weights make near-duplicate scores meaningless, so the groups here are byte-identical copies
(threshold 1.0: the same content hash); tests/duplicates covers near duplicates and the kill -9 cases.
"""

import shutil

import pytest

from vistamatch.server import Settings, create_app, load_engine

from .conftest import HTML_NAME
from .helpers import LiveServer


@pytest.fixture
def live(tmp_path, photo_gallery, photos, tiny_weights):
    gallery = tmp_path / "gallery"
    shutil.copytree(photo_gallery, gallery)
    (gallery / "copies").mkdir()
    shutil.copy(gallery / "astronaut.jpg", gallery / "copies" / "astronaut.jpg")
    shutil.copy(gallery / "astronaut.jpg", gallery / "copies" / "astronaut2.jpg")
    photos["coffee"].resize((120, 80)).save(gallery / "coffee_small.png")
    shutil.copy(gallery / "coffee_small.png", gallery / HTML_NAME)
    settings = Settings.for_folder(gallery, tmp_path / "data", tiny_weights)
    app = create_app(settings, engine=load_engine(settings))
    with LiveServer(app) as server, server.client() as client:
        yield gallery, client


def groups_of(client, **params):
    r = client.get("/api/duplicates", params={"threshold": 1.0, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_groups_trash_and_undo(live):
    gallery, client = live
    size_before = client.get("/api/stats").json()["gallery_size"]
    d = groups_of(client)
    groups = {g["keeper"]["path"]: [m["path"] for m in g["duplicates"]] for g in d["groups"]}
    assert groups == {"astronaut.jpg": ["copies/astronaut.jpg", "copies/astronaut2.jpg"], "coffee_small.png": [HTML_NAME]}
    astro = d["groups"][0]
    assert astro["keeper"]["thumb_url"] == "/thumbs/astronaut.jpg" and astro["keeper"]["width"] == 512
    assert astro["reclaimable_bytes"] == 2 * (gallery / "astronaut.jpg").stat().st_size
    assert d["reclaimable_bytes"] == sum(g["reclaimable_bytes"] for g in d["groups"]) and d["group_count"] == 2
    assert sum(d["nearest_histogram"]["counts"]) == size_before
    assert [g["keeper"]["path"] for g in groups_of(client, offset=1, limit=1)["groups"]] == ["coffee_small.png"]

    # "keep this instead": the copy keeps, the original and the other copy move; a keeper is refused
    body = {"groups": [{"keeper": "copies/astronaut.jpg", "move": ["astronaut.jpg", "copies/astronaut2.jpg", "copies/astronaut.jpg"]}]}
    dry = client.post("/api/duplicates/trash", json={**body, "dry_run": True}).json()
    assert dry["dry_run"] and dry["batch"] is None and (gallery / "astronaut.jpg").exists()
    r = client.post("/api/duplicates/trash", json=body)
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["done"] == ["astronaut.jpg", "copies/astronaut2.jpg"] and moved["state"] == "moved"
    assert moved["refused"] == [{"path": "copies/astronaut.jpg", "reason": "a keeper of this request"}]
    assert not (gallery / "astronaut.jpg").exists() and (gallery / "copies" / "astronaut.jpg").exists()
    # the index and the search engine follow at once
    assert client.get("/api/stats").json()["gallery_size"] == size_before - 2
    assert [g["keeper"]["path"] for g in groups_of(client)["groups"]] == ["coffee_small.png"]
    assert client.post("/api/search/similar", json={"path": "astronaut.jpg"}).status_code == 404

    listed = client.get("/api/duplicates/batches").json()
    assert [(b["id"], b["state"], b["count"]) for b in listed["batches"]] == [(moved["batch"], "moved", 2)]

    r = client.post("/api/duplicates/undo", json={})
    assert r.status_code == 200 and r.json()["state"] == "restored" and r.json()["batch"] == moved["batch"]
    assert (gallery / "astronaut.jpg").exists() and (gallery / "copies" / "astronaut2.jpg").exists()
    assert client.get("/api/stats").json()["gallery_size"] == size_before
    assert len(groups_of(client)["groups"]) == 2
    r = client.post("/api/duplicates/undo", json={})
    assert r.status_code == 404 and r.json()["ok"] is False and "no trash batch" in r.json()["error"]
    assert client.post("/api/duplicates/undo", json={"batch": "../../etc"}).status_code == 404


def test_cross_site_writes_and_bad_input_refused(live):
    gallery, client = live
    body = {"groups": [{"keeper": "astronaut.jpg", "move": ["copies/astronaut.jpg"]}]}
    r = client.post("/api/duplicates/trash", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and (gallery / "copies" / "astronaut.jpg").exists()
    assert client.post("/api/duplicates/trash", json={"paths": ["x"]}).status_code == 422
    assert client.get("/api/duplicates", params={"threshold": 1.5}).status_code == 422
    outside = client.post("/api/duplicates/trash", json={"groups": [{"keeper": "astronaut.jpg", "move": ["../x.jpg"]}]}).json()
    assert outside["done"] == [] and outside["refused"][0]["path"] == "../x.jpg"


def test_page_served_with_the_policy_and_documented_in_openapi(live):
    _, client = live
    page = client.get("/duplicates")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'type="module" src="/static/duplicates.js"' in page.text
    assert client.get("/static/duplicates.js").status_code == 200 and client.get("/static/duplicates.css").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/duplicates", "/api/duplicates/trash", "/api/duplicates/undo", "/api/duplicates/batches"} <= set(paths)
