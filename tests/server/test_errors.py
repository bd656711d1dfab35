"""Bad uploads and bad parameters: a clear JSON error with the right status, never a 500."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest
from fastapi.testclient import TestClient

from vistamatch.server import create_app

LIMIT = 200 * 1024


@pytest.fixture
def small_limit_client(settings, engine):
    with TestClient(create_app(dataclasses.replace(settings, max_upload_bytes=LIMIT), engine=engine)) as c:
        yield c


def assert_error(r, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False and isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"].lower(), body["error"]
    return body


def post_image(client, data: bytes, name: str = "q.jpg", **params):
    return client.post("/api/search", files={"image": (name, data, "image/jpeg")}, params=params)


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG file that declares 1.6 G pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def multipart(data: bytes, boundary: str = "vistamatch-test-boundary") -> tuple[bytes, str]:
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_too_large_by_content_length(small_limit_client):
    assert_error(post_image(small_limit_client, b"\xff" * (LIMIT + 100 * 1024)), 413, "too large")


def test_too_large_while_reading_without_content_length(small_limit_client):
    body, content_type = multipart(b"\xff" * (LIMIT + 100 * 1024))

    def chunks():  # a generator: sent chunked, with no Content-Length header
        for i in range(0, len(body), 16 * 1024):
            yield body[i : i + 16 * 1024]

    r = small_limit_client.post("/api/search", content=chunks(), headers={"content-type": content_type})
    assert_error(r, 413, "too large")


def test_file_just_over_the_limit_is_refused_and_at_the_limit_is_read(small_limit_client):
    assert_error(post_image(small_limit_client, b"\xff" * (LIMIT + 1)), 413)
    # exactly at the limit it is read (and refused only as not an image)
    assert_error(post_image(small_limit_client, b"\xff" * LIMIT), 415)


def test_not_an_image(client):
    assert_error(post_image(client, b"hello, I am text pretending to be a jpeg" * 10), 415, "not an image")
    assert_error(post_image(client, b"%PDF-1.4 fake pdf\n" * 10, name="doc.pdf"), 415)


def test_empty_upload(client):
    assert_error(post_image(client, b""), 400, "empty")


def test_truncated_image(client, query_jpeg):
    assert_error(post_image(client, query_jpeg[: len(query_jpeg) // 2]), 400, "truncated")


def test_decompression_bomb(client):
    assert_error(post_image(client, png_bomb(), name="bomb.png"), 400, "too large")


@pytest.mark.parametrize(
    "params, word",
    [({"topk": 0}, "topk"), ({"topk": 201}, "topk"), ({"topk": "abc"}, "topk"), ({"dedup": "maybe"}, "dedup")],
)
def test_bad_parameters(client, query_jpeg, params, word):
    body = assert_error(post_image(client, query_jpeg, **params), 422, word)
    assert isinstance(body["detail"], list)


def test_missing_image_field(client):
    assert_error(client.post("/api/search", data={"other": "x"}), 422, "image")
    assert_error(client.post("/api/search"), 422)


def test_bad_similar_requests(client):
    assert_error(client.post("/api/search/similar", json={"path": "chelsea.png", "topk": 0}), 422, "topk")
    assert_error(client.post("/api/search/similar", json={"topk": 5}), 422, "path")
    r = client.post("/api/search/similar", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(r, 422)


def test_unknown_routes_and_ids_are_json_404(client):
    assert_error(client.get("/api/nope"), 404)
    assert_error(client.get("/api/history/does-not-exist"), 404)
    assert_error(client.delete("/api/history/does-not-exist"), 404)
    assert_error(client.get("/api/history/..%2f..%2fsecret/thumb"), 404)


def test_broken_gallery_file_thumbnail_is_a_client_error(client, server_gallery, query_jpeg):
    (server_gallery / "broken_for_thumb.jpg").write_bytes(query_jpeg[:500])
    try:
        r = client.get("/thumbs/broken_for_thumb.jpg")
        assert_error(r, 400, "truncated")
    finally:
        (server_gallery / "broken_for_thumb.jpg").unlink()


def test_engine_that_fails_to_load_gives_503_with_the_reason(settings, tmp_path, query_jpeg):
    bad = tmp_path / "bad-weights.npz"
    bad.write_bytes(b"this is not a weights file")
    with TestClient(create_app(dataclasses.replace(settings, weights=str(bad)))) as client:
        r = post_image(client, query_jpeg)
        body = assert_error(r, 503, "not available")
        stats = client.get("/api/stats").json()
        assert stats["ready"] is False and stats["load_error"]
        assert client.get("/api/health").json()["ready"] is False
        # the rest of the app still works
        assert client.get("/api/history").status_code == 200
        assert body["error"]


def test_engine_loads_in_the_background_and_searches_wait_for_it(settings, query_jpeg):
    with TestClient(create_app(settings)) as client:
        r = post_image(client, query_jpeg, topk=3)
        assert r.status_code == 200, r.text
        assert r.json()["topk_returned"] == 3
        assert client.get("/api/health").json()["ready"] is True


def test_failed_searches_leave_no_history_and_no_thumbnails(client, settings, query_jpeg):
    post_image(client, query_jpeg[: len(query_jpeg) // 2])
    post_image(client, b"not an image at all")
    post_image(client, png_bomb(), name="bomb.png")
    assert client.get("/api/history").json()["total"] == 0
    thumbs = settings.history_path.with_name("search_history_thumbs")
    assert not thumbs.exists() or list(thumbs.iterdir()) == []
