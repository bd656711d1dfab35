"""Decoding in worker processes (the feed beside a GPU embedder) gives the thread pipeline's result."""

import multiprocessing
import os

import numpy as np

from vistamatch.imaging import PreprocessConfig
from vistamatch.index import IndexPaths, Manifest, build_index
from vistamatch.index.pipeline import Claims, decode_ahead, decode_processes_for, ordered_map, read_and_decode
from vistamatch.index.scan import scan_gallery


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_ordered_map_in_processes_keeps_the_order_and_runs_elsewhere():
    results = list(ordered_map(pid_and_square, range(40), workers=2, ahead=6, processes=True))
    assert [r[1] for r in results] == [x * x for x in range(40)]
    pids = {r[0] for r in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_decode_ahead_in_processes_equals_threads(gallery):
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    files = scan_gallery(gallery)
    config = PreprocessConfig()
    threads = [read_and_decode(f, config, Claims()) for f in files]
    feed = decode_ahead(files, config, Claims(), workers=2, prefetch=4, processes=2)
    processes = [next(feed)]
    assert multiprocessing.active_children(), "no decoding process was started"
    processes += list(feed)
    assert [d.file.path for d in processes] == [d.file.path for d in threads]
    for p, t in zip(processes, threads):
        assert (p.digest, p.claimed, p.error) == (t.digest, t.claimed, t.error)
        assert (p.pixels is None) == (t.pixels is None)
        if t.pixels is not None:
            np.testing.assert_array_equal(p.pixels, t.pixels)
    assert any(d.error for d in processes if d.file.path == "broken.jpg")


def test_a_build_decoding_in_processes_equals_one_in_threads(gallery, stats_model, tmp_path):
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    results = []
    for processes in (0, 2):
        paths = IndexPaths.in_dir(tmp_path / f"idx{processes}")
        report = build_index(gallery, stats_model, paths, progress=False, batch_size=4, workers=2, decode_processes=processes)
        manifest = Manifest.load(paths.manifest)
        results.append((np.load(paths.features), np.load(paths.mapping).tolist(), [(s.path, s.reason) for s in manifest.skipped], report.embedded))
    (f0, m0, s0, e0), (f2, m2, s2, e2) = results
    assert m2 == m0 and s2 == s0 and e2 == e0 and s0 and s0[0][0] == "broken.jpg"
    np.testing.assert_array_equal(f2, f0)


def test_processes_only_beside_a_gpu():
    assert decode_processes_for("cpu") == 0
    assert decode_processes_for("cuda") >= 1 and decode_processes_for("cuda:1") >= 1
