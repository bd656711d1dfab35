"""How the server loads the index: a broken manifest is set aside and rebuilt, a build lock held too
long falls back to the last committed index (or, with none yet, is waited for again), and two
servers on one index queue for its lock."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from vistamatch.errors import VistaMatchError
from vistamatch.index import IndexPaths
from vistamatch.index.files import IndexFiles
from vistamatch.server import Settings, load_engine

from .test_serve_cli import free_port, stop, wait_ready


@pytest.fixture
def fresh(photo_gallery, tiny_weights, tmp_path) -> Settings:
    """Settings on a new data folder whose index is built once."""
    settings = Settings.for_folder(photo_gallery, tmp_path / "data", tiny_weights)
    load_engine(settings)
    return settings


def paths_of(settings: Settings) -> IndexPaths:
    return IndexPaths(settings.features_path, settings.mapping_path, settings.manifest_path)


@pytest.mark.parametrize("update", [True, False], ids=["update", "no-update"])
def test_a_broken_manifest_is_set_aside_and_rebuilt_with_a_warning(fresh, caplog, update):
    fresh.manifest_path.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="vistamatch.server.service"):
        loaded = load_engine(dataclasses.replace(fresh, update_index=update))
    backups = list(fresh.manifest_path.parent.glob("gallery_manifest.json.broken-*"))
    assert loaded.gallery_size == 8 and len(backups) == 1 and backups[0].read_bytes() == b"\x00garbage"
    assert f"{fresh.manifest_path}: unreadable" in caplog.text and backups[0].name in caplog.text


def test_a_lock_held_too_long_serves_the_last_committed_index(fresh, caplog):
    with IndexFiles(paths_of(fresh)).locked():  # another build that does not finish in time
        with caplog.at_level(logging.WARNING, logger="vistamatch.server.service"):
            loaded = load_engine(dataclasses.replace(fresh, index_lock_timeout=0.2))
        assert loaded.gallery_size == 8
        assert "serving the last committed index" in caplog.text and str(paths_of(fresh).lock) in caplog.text


def test_with_no_index_yet_a_server_waits_for_the_other_build(photo_gallery, tiny_weights, tmp_path, caplog):
    empty = Settings.for_folder(photo_gallery, tmp_path / "empty", tiny_weights, index_lock_timeout=0.2)
    held = threading.Event()

    def first_build():  # another worker's first build, longer than the lock timeout
        with IndexFiles(paths_of(empty)).locked():
            held.set()
            time.sleep(1.5)

    thread = threading.Thread(target=first_build)
    thread.start()
    held.wait(10)
    with caplog.at_level(logging.WARNING, logger="vistamatch.server.service"):
        loaded = load_engine(empty)
    thread.join()
    assert loaded.gallery_size == 8 and "no committed index to serve yet: waiting again" in caplog.text


def test_two_servers_on_one_index_queue_for_its_lock(photo_gallery, tiny_weights, tmp_path, query_jpeg):
    data = tmp_path / "data"
    paths = IndexPaths.in_dir(data)
    ports = [free_port(), free_port()]
    procs = []
    with IndexFiles(paths).locked():  # both start while a build holds the lock: both must wait, not fail
        for i, port in enumerate(ports):
            cmd = [
                sys.executable, "-m", "vistamatch", "serve", "--gallery", str(photo_gallery), "--port", str(port),
                "--weights", str(tiny_weights), "--features", str(paths.features), "--mapping", str(paths.mapping),
                "--history", str(data / f"history{i}.json"), "--quiet",
            ]  # fmt: skip
            env = {**os.environ, "VISTAMATCH_THUMBS_DIR": str(data / f"thumbs{i}")}
            procs.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                procs[0].wait(timeout=3)
        except BaseException:
            for p in procs:
                p.kill()
            raise
    try:
        for port, proc in zip(ports, procs):
            url = f"http://127.0.0.1:{port}"
            wait_ready(proc, url)
            r = httpx.post(f"{url}/api/search", files={"image": ("q.jpg", query_jpeg, "image/jpeg")}, timeout=60)
            assert r.status_code == 200 and r.json()["gallery_size"] == 8
    finally:
        for proc in procs:
            stop(proc)


def test_an_unusable_index_is_still_an_error(fresh):
    fresh.features_path.write_bytes(b"not an array")
    with pytest.raises(VistaMatchError, match=str(fresh.features_path)):
        load_engine(dataclasses.replace(fresh, update_index=False))
