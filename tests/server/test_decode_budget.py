"""Uploads are decoded once, within the decode budget: small files that decode huge answer 413 with
the reason, and eight of them at once leave a live server's peak memory where it was."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from vistamatch.imaging import loading
from vistamatch.server import create_app

from .test_serve_cli import start_serve, stop, wait_ready


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The label of every image decoded (uploads, gallery files, thumbnails)."""
    seen: list[str] = []
    original = loading._decode

    def spy(stream, label, *args):
        seen.append(label)
        return original(stream, label, *args)

    monkeypatch.setattr(loading, "_decode", spy)
    return seen


@pytest.fixture
def local_client(settings, engine):
    with TestClient(create_app(settings, engine=engine), base_url="http://localhost") as c:
        yield c


def test_an_upload_is_decoded_once_for_its_search_and_its_thumbnail(local_client, query_jpeg, decodes):
    r = local_client.post("/api/search", files={"image": ("q.jpg", query_jpeg, "image/jpeg")}, params={"topk": 3})
    assert r.status_code == 200, r.text
    assert decodes == ["q.jpg"]
    thumb = local_client.get(r.json()["query_thumb_url"])
    assert thumb.status_code == 200 and thumb.content[8:12] == b"WEBP"


def test_a_gallery_query_not_in_the_index_is_decoded_once(local_client, settings, photos, decodes):
    added = settings.gallery_dir / "added_later.png"
    photos["rocket"].resize((120, 90)).save(added)
    try:
        r = local_client.post("/api/search/similar", json={"path": "added_later.png", "topk": 3})
    finally:
        added.unlink()
    assert r.status_code == 200, r.text
    assert decodes == ["added_later.png"] and r.json()["query_thumb_url"]


@pytest.mark.parametrize("name", ["9000x9000.webp", "9400x9400.png", "89Mx1.png"])
def test_an_upload_over_the_decode_budget_answers_413_with_the_reason(local_client, huge_images, name, decodes):
    r = local_client.post("/api/search", files={"image": (name, huge_images[name], "image/png")})
    assert r.status_code == 413
    error = r.json()["error"]
    assert error.startswith(f"{name}: image too large to decode: ") and "VISTAMATCH_DECODE_BUDGET_MB" in error
    assert local_client.get("/api/history").json()["items"] == []


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc (Linux)")
def test_eight_parallel_huge_webp_uploads_leave_the_peak_memory_bounded(tmp_path, photo_gallery, tiny_weights, huge_images):
    proc, url = start_serve(tmp_path, photo_gallery, tiny_weights)
    try:
        wait_ready(proc, url)
        before = vm_kib(proc.pid, "VmHWM")

        def upload(_):
            files = {"image": ("huge.webp", huge_images["9000x9000.webp"], "image/webp")}
            return httpx.post(f"{url}/api/search", files=files, timeout=120)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(upload, range(8)))
        peak = vm_kib(proc.pid, "VmHWM")
    finally:
        assert stop(proc) == 0
    assert [a.status_code for a in answers] == [413] * 8
    assert all("over the decode budget of 256 MB" in a.json()["error"] for a in answers)
    # Decoded in full, each would take about 1.2 GB; refused from the header, they take next to nothing.
    assert peak < 600 * 1024, f"peak {peak // 1024} MB"
    assert peak - before < 100 * 1024, f"peak rose by {(peak - before) // 1024} MB"
