"""kill -9 of a live `vistamatch serve --gallery` while it indexes photos dropped into its folder:
after every kill the index on disk opens and agrees with itself, a restart keeps the work already
committed (it is not embedded again), and in the end every file is indexed."""

from __future__ import annotations

import os
import random
import signal
import time

import httpx
import numpy as np

from vistamatch.index import IndexPaths, open_index

from .test_serve_cli import start_serve, stop, wait_ready
from .test_watcher import png, wait_for

ROUNDS, PER_ROUND = 3, 100


def index_state(url: str) -> dict:
    return httpx.get(f"{url}/api/index", timeout=10).json()


def check_index(paths: IndexPaths, gallery) -> dict[str, np.ndarray]:
    """The committed index opens, its rows and mapping agree, every path is a gallery file: {path: row}."""
    index = open_index(paths, gallery_dir=gallery)
    names = list(index.relative_paths)
    vectors = np.asarray(index.store.vectors(np.arange(len(names))))
    assert vectors.shape == (len(names), index.dim) and len(set(names)) == len(names)
    assert all((gallery / name).is_file() for name in names)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    return dict(zip(names, vectors))


def test_kill_9_while_serving_an_arriving_gallery(tmp_path, tiny_weights, monkeypatch):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "first.png").write_bytes(png(10_000))
    monkeypatch.setenv("VISTAMATCH_COMMIT_SECONDS", "0.5")
    data = tmp_path / "data"
    paths = IndexPaths(data / "gallery_features.npy", data / "gallery_mapping.npy", data / "gallery_manifest.json")
    rng = random.Random(7)

    proc, url = start_serve(tmp_path, gallery, tiny_weights)
    wait_ready(proc, url)
    marked: dict[str, np.ndarray] = {}
    kept: dict[str, np.ndarray] = {}
    for round_ in range(ROUNDS):
        for i in range(round_ * PER_ROUND, (round_ + 1) * PER_ROUND):  # photos arrive
            (gallery / f"drop_{i:03d}.png").write_bytes(png(i))
        wait_for(lambda: index_state(url)["state"] == "indexing", what="the background update")
        time.sleep(rng.uniform(0.1, 1.0))
        os.kill(proc.pid, signal.SIGKILL)  # at a random moment of the update
        proc.wait(timeout=10)
        proc.stdout.close(), proc.stderr.close()

        rows = check_index(paths, gallery)
        assert kept.keys() <= rows.keys()  # what was committed before stays committed
        kept = rows
        # Mark one committed row: a restart that embedded it again would write the real vector back.
        name = rng.choice(sorted(set(rows) - set(marked)))
        features = np.load(paths.features, mmap_mode="r+")
        marker = np.full(features.shape[1], 1 / np.sqrt(features.shape[1]), np.float32)
        marker[len(marked)] *= -1  # one marker per kill
        features[sorted(rows).index(name)] = marker  # rows are sorted by path
        features.flush()
        del features
        marked[name] = marker

        proc, url = start_serve(tmp_path, gallery, tiny_weights)
        wait_ready(proc, url)

    total = ROUNDS * PER_ROUND + 1
    wait_for(lambda: index_state(url)["searchable"] == total, timeout=180, what="every file indexed")
    assert stop(proc) == 0
    rows = check_index(paths, gallery)
    assert len(rows) == total
    for name, marker in marked.items():  # reused from the committed index, not embedded again
        np.testing.assert_array_equal(rows[name], marker)
