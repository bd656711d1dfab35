"""`vistamatch serve --gallery DIR` from another folder: the index, history and thumbnails live in
DIR/.vistamatch/, nothing is written to the current folder, and a photo dropped into DIR is found."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from .test_serve_cli import free_port, stop, wait_ready
from .test_watcher import png


def test_serve_keeps_the_gallery_index_in_the_gallery_and_follows_it(tmp_path, photo_gallery, tiny_weights):
    import shutil

    gallery, cwd = tmp_path / "photos", tmp_path / "elsewhere"
    shutil.copytree(photo_gallery, gallery)
    cwd.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GALLERY_", "HISTORY_", "VISTAMATCH_"))}
    cmd = [sys.executable, "-m", "vistamatch", "serve", "--gallery", str(gallery), "--port", str(port), "--weights", str(tiny_weights), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        own = gallery / ".vistamatch"
        assert (own / "gallery_features.npy").is_file() and (own / "gallery_manifest.json").is_file()
        (gallery / "dropped.png").write_bytes(png(42))
        deadline = time.monotonic() + 60
        while True:
            r = httpx.post(f"{url}/api/search", files={"image": ("q.png", png(42), "image/png")}, params={"topk": 1}, timeout=60)
            top = r.json()["tiers"][0]["items"][0]
            if top["filename"] == "dropped.png" and top["score"] > 0.9999:
                break
            assert time.monotonic() < deadline, "the dropped photo was not found"
            time.sleep(0.2)
        assert httpx.get(f"{url}/thumbs/dropped.png", timeout=60).status_code == 200
        assert (own / "search_history.json").is_file() and any((own / ".thumbs").rglob("*.webp"))
        assert list(cwd.iterdir()) == []
        assert httpx.get(f"{url}/api/index").json()["state"] == "watching"
    finally:
        assert stop(proc) == 0
