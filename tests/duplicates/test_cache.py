"""The neighbour graph cached beside the index: reused, recomputed on change, corrupt files set aside."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vistamatch.duplicates import exact_neighbours
from vistamatch.duplicates.cache import CORRUPT, HIT, MISSING, STALE, cache_path, cached_graph

from .helpers import unit, write_index


@pytest.fixture
def index_paths(tmp_path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    names = [f"{i}.bin" for i in range(40)]
    for i, name in enumerate(names):
        (gallery / name).write_bytes(bytes([i]))
    vectors = unit(np.random.default_rng(0), 40)
    vectors[1] = vectors[0]
    return write_index(tmp_path / "idx", gallery, names, vectors)


class Counting:
    def __init__(self, paths):
        self.calls = 0
        self.vectors = np.load(paths.features)

    def __call__(self, floor):
        self.calls += 1
        return exact_neighbours(self.vectors, floor)


def test_hit_miss_and_threshold_above_the_floor(index_paths):
    compute = Counting(index_paths)
    first = cached_graph(index_paths, 0.95, 0.9, compute)
    assert first.status == MISSING and compute.calls == 1 and cache_path(index_paths).is_file()
    assert cache_path(index_paths).parent == index_paths.features.parent
    again = cached_graph(index_paths, 0.95, 0.9, compute)
    assert again.status == HIT and compute.calls == 1
    np.testing.assert_array_equal(again.graph.first, first.graph.first)
    np.testing.assert_array_equal(again.graph.nearest, first.graph.nearest)
    stricter = cached_graph(index_paths, 0.99, 0.9, compute)  # above the cached floor: no work
    assert stricter.status == HIT and compute.calls == 1 and stricter.graph.floor == 0.99
    looser = cached_graph(index_paths, 0.8, 0.8, compute)  # below it: recomputed, then cached
    assert looser.status == STALE and compute.calls == 2
    assert cached_graph(index_paths, 0.85, 0.85, compute).status == HIT and compute.calls == 2


def test_a_changed_index_recomputes(index_paths):
    compute = Counting(index_paths)
    cached_graph(index_paths, 0.95, 0.9, compute)
    # a new index, committed as the builder does: new files renamed into place
    staged = index_paths.features.with_name("new.npy")
    np.save(staged, unit(np.random.default_rng(9), 40))
    os.replace(staged, index_paths.features)
    compute = Counting(index_paths)
    outcome = cached_graph(index_paths, 0.95, 0.9, compute)
    assert outcome.status == STALE and compute.calls == 1
    assert len(outcome.graph.first) == 0  # the planted pair is gone with the old vectors
    assert cached_graph(index_paths, 0.95, 0.9, compute).status == HIT


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a zip at all"),
        lambda path: path.write_bytes(path.read_bytes()[:200]),  # truncated
        lambda path: path.unlink() or np.savez(path, key=np.array("{}")),  # arrays missing
        lambda path: path.unlink() or path.mkdir(),  # a folder in its place
    ],
)
def test_a_corrupt_cache_is_set_aside_and_recomputed(index_paths, damage):
    compute = Counting(index_paths)
    good = cached_graph(index_paths, 0.95, 0.9, compute).graph
    path = cache_path(index_paths)
    damage(path)
    before = path.read_bytes() if path.is_file() else None
    outcome = cached_graph(index_paths, 0.95, 0.9, compute)
    assert outcome.status == CORRUPT and compute.calls == 2
    assert "set aside as gallery_features.neighbours.npz.corrupt" in outcome.note
    aside = path.with_name(path.name + ".corrupt")
    assert aside.exists() and (before is None or aside.read_bytes() == before)  # kept as it was
    np.testing.assert_array_equal(outcome.graph.first, good.first)
    assert cached_graph(index_paths, 0.95, 0.9, compute).status == HIT  # the new file is good
    shutil.rmtree(aside) if aside.is_dir() else aside.unlink()


def test_out_of_range_rows_are_corrupt(index_paths):
    compute = Counting(index_paths)
    cached_graph(index_paths, 0.95, 0.9, compute)
    path = cache_path(index_paths)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["second"] = arrays["second"] + 1000
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    outcome = cached_graph(index_paths, 0.95, 0.9, compute)
    assert outcome.status == CORRUPT and "row numbers out of range" in outcome.note


def test_a_failed_write_only_costs_the_reuse(index_paths, monkeypatch):
    import vistamatch.duplicates.cache as cache

    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "atomic_write_bytes", refuse)
    compute = Counting(index_paths)
    outcome = cached_graph(index_paths, 0.95, 0.9, compute)
    assert outcome.status == MISSING and len(outcome.graph.first) == 1
    assert "could not be cached" in outcome.note and "Permission denied" in outcome.note
    assert not cache_path(index_paths).exists()


def test_a_write_killed_before_its_rename_is_cleaned_up(index_paths):
    leftover = index_paths.features.with_name(".gallery_features.neighbours.npz.k9x2ab.tmp")
    leftover.write_bytes(b"half a zip")
    other = index_paths.features.with_name(".gallery_manifest.json.k9x2ab.tmp")  # not ours: left alone
    other.write_bytes(b"{")
    outcome = cached_graph(index_paths, 0.95, 0.9, Counting(index_paths))
    assert outcome.status == MISSING and not leftover.exists() and other.exists()
    assert cached_graph(index_paths, 0.95, 0.9, Counting(index_paths)).status == HIT


KILLED_WRITER = """
import os, sys
import numpy as np
from vistamatch.duplicates import exact_neighbours
from vistamatch.duplicates.cache import cached_graph
from vistamatch.index import IndexPaths

os.replace = lambda *args: os.kill(os.getpid(), 9)  # kill -9 right before the rename
paths = IndexPaths.in_dir(sys.argv[1])
cached_graph(paths, 0.8, 0.8, lambda floor: exact_neighbours(np.load(paths.features), floor))
"""


def test_kill_9_while_writing_leaves_the_old_cache(index_paths, tmp_path):
    compute = Counting(index_paths)
    cached_graph(index_paths, 0.95, 0.95, compute)
    before = cache_path(index_paths).read_bytes()
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run([sys.executable, script, index_paths.features.parent], env=env, capture_output=True, check=False)
    assert done.returncode == -9, done.stderr
    assert cache_path(index_paths).read_bytes() == before  # the old file, whole
    assert [p.name for p in index_paths.features.parent.glob(".gallery_features.neighbours.npz.*.tmp")]  # it was killed mid-write
    assert cached_graph(index_paths, 0.95, 0.95, compute).status == HIT and compute.calls == 1
    assert cached_graph(index_paths, 0.8, 0.8, compute).status == STALE
    assert not list(index_paths.features.parent.glob(".*.tmp"))  # the leftover went with the next write
