"""`vistamatch serve` end to end: builds the index, serves on loopback, searches; `uvicorn app:app` too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).json()["ready"]:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def start_serve(tmp_path: Path, gallery: Path, weights: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`vistamatch serve` on a free loopback port with its index, history and thumbnails in tmp_path/data."""
    port, data = free_port(), tmp_path / "data"
    cmd = [
        sys.executable, "-m", "vistamatch", "serve", "--gallery", str(gallery), "--port", str(port),
        "--weights", str(weights), "--features", str(data / "gallery_features.npy"),
        "--mapping", str(data / "gallery_mapping.npy"), "--history", str(data / "search_history.json"), "--quiet",
        *options,
    ]  # fmt: skip
    env = {**os.environ, "VISTAMATCH_THUMBS_DIR": str(data / "thumbs")}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_serve_builds_the_index_and_serves_on_loopback(tmp_path, photo_gallery, tiny_weights, query_jpeg):
    data = tmp_path / "data"
    proc, url = start_serve(tmp_path, photo_gallery, tiny_weights, "--allowed-host", "photos.lan", "--header-timeout", "1")
    try:
        wait_ready(proc, url)
        assert (data / "gallery_features.npy").is_file() and (data / "gallery_manifest.json").is_file()
        r = httpx.post(f"{url}/api/search", files={"image": ("q.jpg", query_jpeg, "image/jpeg")}, params={"topk": 3}, timeout=60)
        assert r.status_code == 200 and r.json()["topk_returned"] == 3
        assert (data / "search_history.json").is_file()
        assert httpx.get(f"{url}/api/health", headers={"Host": "photos.lan"}).status_code == 200
        assert httpx.get(f"{url}/api/health", headers={"Host": "evil.example"}).status_code == 421
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as stalled:  # --header-timeout 1
            assert stalled.recv(100).startswith(b"HTTP/1.1 408 ")
    finally:
        assert stop(proc) == 0


def test_serve_with_a_missing_gallery_is_one_line_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "vistamatch", "serve", "--gallery", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: gallery folder not found")


def test_uvicorn_app_from_the_repo_root_uses_the_environment(tmp_path, photo_gallery, tiny_weights, query_jpeg):
    port = free_port()
    env = {
        **os.environ,
        "GALLERY_DIR": str(photo_gallery),
        "WEIGHTS_PATH": str(tiny_weights),
        "GALLERY_FEATURES_PATH": str(tmp_path / "f.npy"),
        "GALLERY_MAPPING_PATH": str(tmp_path / "m.npy"),
        "HISTORY_PATH": str(tmp_path / "h.json"),
        "HISTORY_MAX_LEN": "2",
        "VISTAMATCH_THUMBS_DIR": str(tmp_path / "thumbs"),
    }
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        for _ in range(3):
            r = httpx.post(f"{url}/api/search", files={"image": ("q.jpg", query_jpeg, "image/jpeg")}, timeout=60)
            assert r.status_code == 200
        stats = httpx.get(f"{url}/api/stats").json()
        assert stats["history_max_len"] == 2 and stats["history_size"] == 2
        assert stats["weights"] == str(tiny_weights)
    finally:
        stop(proc)
