"""The approximate store inside the index: built and committed with the rows, updated in place,
all or none under kill -9, opened when it fits and replaced by the exact scan (with a warning) when not,
and its measured recall shown by `vistamatch info` and /api/stats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("faiss", reason="the approximate store needs faiss (the test extra installs faiss-cpu)")

from fastapi.testclient import TestClient  # noqa: E402

from vistamatch.cli import main  # noqa: E402
from vistamatch.index import ExactFallbackWarning, IndexPaths, build_index, open_index  # noqa: E402
from vistamatch.index import store as index_store  # noqa: E402
from vistamatch.search import ann as ann_module  # noqa: E402
from vistamatch.search.ann import AnnStore  # noqa: E402

from .helpers import PixelStatsModel  # noqa: E402

from server.test_watcher import wait_for  # noqa: E402  (the live-server tests' poll)

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 50, 230), (230, 220, 40)]  # one cluster of images each


def write_clusters(folder: Path, count: int, *, start: int = 0, shade: int = 0) -> list[Path]:
    """``count`` 16x16 PNGs, image i near colour i % 4 (so the 8-d stand-in vectors form 4 clusters)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(start, start + count):
        rng = np.random.default_rng(i + 1000 * shade)
        base = np.array(COLOURS[i % len(COLOURS)], np.float32) + rng.normal(0, 12, 3)
        pixels = np.clip(base + rng.normal(0, 6 + i % 9, (16, 16, 3)), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:04d}.png"
        Image.fromarray(pixels).save(path)
        written.append(path)
    return written


@pytest.fixture(autouse=True)
def small_recall_k(monkeypatch):
    """Tune for recall@5: top-50 of a 160-image gallery is a third of it, no test of an index."""
    monkeypatch.setattr(index_store, "RECALL_K", 5)


@pytest.fixture
def clustered(tmp_path) -> Path:
    root = tmp_path / "gallery"
    write_clusters(root, 160)
    return root


def build(gallery, paths, **kw):
    return build_index(gallery, PixelStatsModel(), paths, progress=False, batch_size=16, store="ann", **kw)


def open_strict(paths, **kw):
    """open_index with its fallback warning as an error: the structure must be used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExactFallbackWarning)
        return open_index(paths, **kw)


def assert_equals_exact_probing_every_list(index) -> None:
    store = index.store
    assert isinstance(store, AnnStore)
    store.effort = store.max_effort
    queries = store.vectors(np.arange(0, len(store), 7))
    for got, want in zip(store.search_many(queries, 10), store.base.search_many(queries, 10)):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_store_ann_builds_commits_and_opens_the_structure(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(clustered, paths)
    manifest = json.loads(paths.manifest.read_text())
    store = manifest["store"]
    assert store["kind"] == "ann" and store["requested"] == "ann" and store["lists"] == 4
    assert store["size"] == paths.structure.stat().st_size
    assert store["recall"]["recall"] >= 0.99 and store["recall"]["k"] == 5 and store["recall"]["queries"] == 160
    assert 1 <= store["effort"] <= 2 and "approximate (4 lists" in report.summary()
    index = open_strict(paths)
    assert index.store.effort == store["effort"]
    assert index.store_description == "approximate: 100.0 % of exact top-5, measured on 160 of your images"
    assert_equals_exact_probing_every_list(index)
    assert open_strict(paths, store="exact").store.exact  # --store exact ignores the structure


def test_auto_below_the_threshold_and_tiny_galleries_are_exact(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "auto")
    build_index(clustered, PixelStatsModel(), paths, progress=False)  # 160 images: far below 10k
    assert json.loads(paths.manifest.read_text())["store"] == {"requested": "auto", "kind": "exact"}
    assert not paths.structure.exists() and open_strict(paths).store.exact
    with pytest.warns(ExactFallbackWarning, match="no approximate structure"):
        assert open_index(paths, store="ann").store.exact
    small = IndexPaths.in_dir(tmp_path / "small")
    build(write_clusters(tmp_path / "few", 12)[0].parent, small)
    assert "too few" in json.loads(small.manifest.read_text())["store"]["note"]
    assert open_strict(small).store_description.startswith("exact (12 images: too few")


def test_incremental_builds_update_the_structure_in_place_then_retrain(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    first = json.loads(paths.manifest.read_text())["store"]
    for path in sorted(clustered.iterdir())[:20]:
        path.unlink()
    write_clusters(clustered, 30, start=500)  # new
    write_clusters(clustered, 5, start=40, shade=1)  # img_0040..44: same names, other pixels
    report = build(clustered, paths)
    assert (len(report.added), len(report.removed), len(report.changed)) == (30, 20, 5)
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["kind"] == "ann" and store["trained_count"] == first["trained_count"] == 160  # not retrained
    assert store["note"] is None and store["recall"]["queries"] == 170
    index = open_strict(paths)
    assert index.store.info.removed_since_training == 25  # 20 removed + 5 replaced
    assert_equals_exact_probing_every_list(index)
    write_clusters(clustered, 200, start=1000)  # the gallery doubles: retrained
    build(clustered, paths)
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["trained_count"] == 370 and store["note"].startswith("retrained")
    assert_equals_exact_probing_every_list(open_strict(paths))


def test_an_unchanged_gallery_keeps_its_structure_and_a_new_request_rebuilds(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    before = paths.structure.stat().st_ino, paths.manifest.read_bytes()
    assert not build(clustered, paths).written
    assert (paths.structure.stat().st_ino, paths.manifest.read_bytes()) == before  # nothing redone
    build_index(clustered, PixelStatsModel(), paths, progress=False, store="exact")
    assert json.loads(paths.manifest.read_text())["store"]["kind"] == "exact" and open_strict(paths).store.exact
    build(clustered, paths)  # same rows, ann again: a structure-only commit
    assert json.loads(paths.manifest.read_text())["store"]["kind"] == "ann"
    assert not open_strict(paths).store.exact


def test_target_not_met_falls_back_to_exact_and_says_so(clustered, tmp_path, monkeypatch):
    monkeypatch.setattr(index_store, "RECALL_TARGET", 1.01)  # never met
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(clustered, paths)
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["kind"] == "exact" and store["recall"]["met"] is False
    assert "exact: the approximate index reached only" in report.summary()
    assert open_strict(paths).store_description == store["note"]
    assert "target 101.0 %" in store["note"] and "so every image is compared" in store["note"]


# Builds the next generation (the gallery grew), or retrains the pending structure (argv[5] "retrain"),
# and kills itself right after the commit step argv[3].
KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[4])
    from index.helpers import PixelStatsModel
    from vistamatch.index import IndexPaths, build_index, files, store

    store.RECALL_K = 5
    def step(self, name):
        if name == sys.argv[3]:
            os.kill(os.getpid(), signal.SIGKILL)

    files.IndexFiles._step = step
    if sys.argv[5] == "retrain":
        store.retrain_structure(IndexPaths.in_dir(sys.argv[2]))
    else:
        build_index(sys.argv[1], PixelStatsModel(), IndexPaths.in_dir(sys.argv[2]), progress=False, store="ann")
    """
)


def run_killed(gallery: Path, paths: IndexPaths, step: str, what: str) -> None:
    tests_dir = Path(__file__).resolve().parents[1]
    argv = [sys.executable, "-c", KILL_SCRIPT, str(gallery), str(paths.features.parent), step, str(tests_dir), what]
    assert subprocess.run(argv, timeout=120).returncode == -signal.SIGKILL

KILL_STEPS = [
    "staged gallery_features.ivf.gen-2.tmp",
    "journal written",
    "renamed gallery_features.ivf",
    "renamed gallery_manifest.json",
    "journal removed",
]


@pytest.mark.parametrize("step", KILL_STEPS)
def test_kill_9_during_a_commit_leaves_the_old_or_the_new_structure_with_its_rows(clustered, tmp_path, step):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    write_clusters(clustered, 8, start=900)
    run_killed(clustered, paths, step, "build")
    index = open_strict(paths)  # no fallback: the structure read is the one of the rows read
    assert index.size in (160, 168) and index.store.info.features
    assert_equals_exact_probing_every_list(index)
    build(clustered, paths)  # recovers, then is up to date or finishes the update
    assert open_strict(paths).size == 168 and not any(".gen-" in p.name for p in paths.features.parent.iterdir())


@pytest.mark.parametrize("step", [s.replace("gen-2", "gen-3") for s in KILL_STEPS])
def test_kill_9_during_a_background_retrain_leaves_the_old_or_the_new_structure(clustered, tmp_path, step):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    write_clusters(clustered, 200, start=1000)
    build(clustered, paths, retrain="later")  # generation 2, the retrain pending; the retrain commits generation 3
    run_killed(clustered, paths, step, "retrain")
    index = open_strict(paths)
    assert index.size == 360 and index.store.info.trained_count in (160, 360)
    assert_equals_exact_probing_every_list(index)
    build(clustered, paths, retrain="later")  # as a restarted server: its build recovers the commit under the lock
    index_store.retrain_structure(paths)  # then the background retrain, if the kill came before the commit point
    store = json.loads(paths.manifest.read_text())["store"]
    assert "retrain" not in store and store["trained_count"] == 360
    assert open_strict(paths).store.info.trained_count == 360
    assert not any(".gen-" in p.name or p.name.endswith(".journal") for p in paths.features.parent.iterdir())


def test_a_mismatched_or_damaged_structure_is_searched_exactly_with_a_warning(clustered, tmp_path, capsys):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    data = bytearray(paths.structure.read_bytes())
    at = data.index(b'"features": "') + len(b'"features": "')
    data[at : at + 8] = b"00000000"  # same size, another fingerprint: built from other features
    paths.structure.write_bytes(bytes(data))
    with pytest.warns(ExactFallbackWarning, match=r"gallery_features\.ivf was built from other features"):
        index = open_index(paths)
    assert index.store.exact and "built from other features" in index.store_description
    paths.structure.write_bytes(bytes(data[:-100]))  # truncated
    with pytest.warns(ExactFallbackWarning, match=r"gallery_features\.ivf: \d+ bytes, the manifest records \d+: exact scan"):
        assert open_index(paths).store.exact
    paths.structure.unlink()
    files = ["--features", paths.features, "--mapping", paths.mapping, "--manifest", paths.manifest]
    assert main(["info", *map(str, files)]) == 0
    out, err = capsys.readouterr()
    assert "gallery_features.ivf: missing: exact scan" in err and "store:      exact: every one of 160 images" in out
    build(clustered, paths)  # the next build makes it again
    assert not open_strict(paths).store.exact


def serve_with_a_stand_in_model(monkeypatch):
    """load_engine's embedder, whatever the weights file: the pixel-statistics stand-in the index was built with."""
    from vistamatch.embed.numpy_embedder import NumpyEmbedder

    stand_in = PixelStatsModel()
    stand_in.backend = "numpy"
    monkeypatch.setattr(NumpyEmbedder, "from_weights", classmethod(lambda cls, *a, **kw: cls(stand_in)))


def test_info_and_stats_show_the_store_and_its_measured_recall(clustered, tmp_path, capsys, monkeypatch, tiny_weights):
    from vistamatch.server import Settings, create_app, load_engine

    paths = IndexPaths.in_dir(tmp_path / "idx")
    serve_with_a_stand_in_model(monkeypatch)
    monkeypatch.setenv("VISTAMATCH_STORE", "ann")
    assert Settings.from_env().store == "ann"
    settings = Settings.for_folder(clustered, paths.features.parent, tiny_weights, history_path=tmp_path / "h.json", store="ann")
    loaded = load_engine(settings)  # builds with store=ann, then opens
    line = "approximate: 100.0 % of exact top-5, measured on 160 of your images"
    with TestClient(create_app(settings, engine=loaded), base_url="http://localhost") as client:
        stats = client.get("/api/stats").json()
    assert stats["store"] == "ann" and stats["store_description"] == line
    files = ["--features", paths.features, "--mapping", paths.mapping, "--manifest", paths.manifest]
    assert main(["info", *map(str, files)]) == 0
    assert f"store:      {line}" in capsys.readouterr().out
    monkeypatch.setenv("VISTAMATCH_STORE", "fast")
    with pytest.raises(Exception, match="VISTAMATCH_STORE must be one of auto, exact, ann"):
        Settings.from_env()


def count_fingerprints(monkeypatch) -> list[int]:
    """Count the features fingerprints computed (hashing every key and sampled rows)."""
    calls = []
    real = ann_module.features_fingerprint
    monkeypatch.setattr(ann_module, "features_fingerprint", lambda exact: calls.append(len(exact)) or real(exact))
    return calls


def test_a_structure_committed_with_its_rows_opens_without_rehashing_and_maps_its_lists(clustered, tmp_path, monkeypatch):
    import faiss

    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["rows_token"] == json.loads(paths.manifest.read_text())["rows"]["token"] and store["features"]
    calls = count_fingerprints(monkeypatch)
    index = open_strict(paths)
    assert calls == []  # the manifest ties the structure to the rows the reader checked
    lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(index.store._index).invlists)
    assert isinstance(lists, faiss.OnDiskInvertedLists)  # mapped from the file, not copied
    assert lists.prefetch_nthread == 0  # no thread pool started per search
    assert_equals_exact_probing_every_list(index)
    manifest = json.loads(paths.manifest.read_text())
    manifest["store"]["rows_token"] = "0" * 32  # as after a commit of rows alone: checked against the rows
    paths.manifest.write_text(json.dumps(manifest))
    assert not open_strict(paths).store.exact and calls == [160]


def make_original(paths: IndexPaths) -> np.ndarray:
    """Turn a built index into one of the original project: plain .npy files, rows not unit length, no manifest."""
    features = np.load(paths.features) * np.linspace(0.5, 3, 160, dtype=np.float32)[:, None]
    mapping = np.load(paths.mapping)
    paths.manifest.unlink()
    paths.structure.unlink(missing_ok=True)
    np.save(paths.features, features)
    np.save(paths.mapping, mapping)
    return features


def test_an_original_index_grows_its_structure_beside_it_on_a_writers_first_open(clustered, tmp_path, monkeypatch, tiny_weights):
    from vistamatch.server import Settings, load_engine

    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(clustered, PixelStatsModel(), paths, progress=False, store="exact")
    features = make_original(paths)
    before = paths.features.read_bytes(), paths.mapping.read_bytes()
    with pytest.warns(UserWarning, match="no manifest"):
        assert open_index(paths, store="ann").store.exact  # a reader writes nothing
    assert not paths.structure.exists()
    serve_with_a_stand_in_model(monkeypatch)
    settings = Settings.for_folder(clustered, paths.features.parent, tiny_weights, history_path=tmp_path / "h.json", store="ann")
    loaded = load_engine(replace(settings, update_index=False))  # serve --no-update: a writer
    line = "approximate: 100.0 % of exact top-5, measured on 160 of your images"
    assert loaded.store == "ann" and loaded.store_description == line
    assert (paths.features.read_bytes(), paths.mapping.read_bytes()) == before  # the original files untouched
    with pytest.warns(UserWarning, match="no manifest"):
        index = open_index(paths)
    assert_equals_exact_probing_every_list(index)
    assert index_store.grow_structure(paths, "ann") is None  # it fits: kept
    np.save(paths.features, features[::-1].copy())  # other rows, same shape
    with pytest.warns(ExactFallbackWarning, match="built from other features"):
        assert open_index(paths).store.exact
    assert "approximate structure built" in index_store.grow_structure(paths, "ann")
    with pytest.warns(UserWarning, match="no manifest"):
        assert_equals_exact_probing_every_list(open_index(paths))
    assert index_store.grow_structure(paths, "auto") is None  # 160 images: auto is exact, nothing written


def hold_structure_builds(monkeypatch):
    """Every AnnStore.build waits for ``release``; ``started`` is set once one waits."""
    import threading

    started, release = threading.Event(), threading.Event()
    real_build = AnnStore.build.__func__

    def held_build(cls, base, **kw):
        started.set()
        assert release.wait(60)
        return real_build(cls, base, **kw)

    monkeypatch.setattr(AnnStore, "build", classmethod(held_build))
    return started, release


def test_a_deferred_retrain_runs_in_the_background_while_the_old_structure_answers(clustered, tmp_path, monkeypatch):
    import threading

    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    write_clusters(clustered, 200, start=1000)  # the gallery more than doubles: needs a retrain
    build(clustered, paths, retrain="later")
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["retrain"] == "pending" and store["trained_count"] == 160 and store["note"].startswith("retrain pending")
    old = open_strict(paths)
    assert old.size == 360 and old.store.info.trained_count == 160
    assert_equals_exact_probing_every_list(old)  # updated in place: every row is in it already

    training, release = hold_structure_builds(monkeypatch)
    done = []
    worker = threading.Thread(target=lambda: done.append(index_store.retrain_structure(paths)))
    worker.start()
    assert training.wait(60)
    during = open_strict(paths)  # a reader during the retrain: the committed structure answers
    assert during.store.info.trained_count == 160 and not paths.lock.read_text()  # and the lock is free
    assert_equals_exact_probing_every_list(during)
    release.set()
    worker.join(120)
    assert done and done[0].startswith(f"{paths.structure}: trained on 360 images in the background")
    store = json.loads(paths.manifest.read_text())["store"]
    assert "retrain" not in store and store["trained_count"] == 360 and store["recall"]["queries"] == 360
    after = open_strict(paths)
    assert after.store.info.trained_count == 360
    assert_equals_exact_probing_every_list(after)
    assert index_store.retrain_structure(paths) is None  # nothing pending


def test_a_retrain_whose_rows_changed_meanwhile_is_not_committed(clustered, tmp_path, monkeypatch):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths)
    write_clusters(clustered, 200, start=1000)
    build(clustered, paths, retrain="later")
    real_build = AnnStore.build.__func__

    def build_then_the_gallery_changes(cls, base, **kw):
        fresh = real_build(cls, base, **kw)
        write_clusters(clustered, 3, start=2000)
        build(clustered, paths, retrain="later")  # a build commits other rows during the retrain
        return fresh

    monkeypatch.setattr(AnnStore, "build", classmethod(build_then_the_gallery_changes))
    assert "the rows changed during the retrain" in index_store.retrain_structure(paths)
    index = open_strict(paths)
    assert index.size == 363 and index.store.info.trained_count == 160
    assert_equals_exact_probing_every_list(index)


def test_a_deferred_first_structure_leaves_the_exact_scan_answering_until_trained(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths, retrain="later")  # no structure yet: nothing trained in the build
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["kind"] == "exact" and store["retrain"] == "pending" and not paths.structure.exists()
    assert open_index(paths, store="ann").store.exact
    build(clustered, paths, retrain="later")  # nothing changed: still pending
    assert json.loads(paths.manifest.read_text())["store"]["retrain"] == "pending"
    assert index_store.retrain_structure(paths).startswith(f"{paths.structure}: trained on 160 images")
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["kind"] == "ann" and "retrain" not in store
    assert_equals_exact_probing_every_list(open_strict(paths))


def test_a_build_that_retrains_now_builds_what_was_left_pending(clustered, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(clustered, paths, retrain="later")
    build(clustered, paths)  # the CLI's build: the structure is built in it
    store = json.loads(paths.manifest.read_text())["store"]
    assert store["kind"] == "ann" and "retrain" not in store


def test_a_server_answers_with_the_exact_scan_while_it_grows_an_original_index_structure(clustered, tmp_path, monkeypatch, tiny_weights):
    from vistamatch.server import Settings, create_app

    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(clustered, PixelStatsModel(), paths, progress=False, store="exact")
    make_original(paths)
    serve_with_a_stand_in_model(monkeypatch)
    growing, release = hold_structure_builds(monkeypatch)
    settings = Settings.for_folder(clustered, paths.features.parent, tiny_weights, history_path=tmp_path / "h.json",
                                   store="ann", update_index=False, load_wait_seconds=120)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        assert growing.wait(60)
        _search_answers(client, clustered / "img_0001.png")  # ready before the structure: the exact scan answers
        assert client.get("/api/stats").json()["store"] == "exact"
        release.set()
        stats = wait_for(lambda: (s := client.get("/api/stats").json())["store"] == "ann" and s, what="the grown structure")
        assert stats["store_description"].startswith("approximate: 100.0 % of exact top-")
        _search_answers(client, clustered / "img_0002.png")
    assert paths.structure.exists() and not paths.manifest.exists()


def _watching_client(clustered, tmp_path, tiny_weights):
    from vistamatch.server import Settings, create_app

    settings = Settings.for_folder(clustered, tmp_path / "idx", tiny_weights, history_path=tmp_path / "h.json",
                                   store="ann", watch=True, watch_debounce_seconds=0.3, load_wait_seconds=120)
    return TestClient(create_app(settings), base_url="http://localhost")


def _search_answers(client, image: Path) -> None:
    r = client.post("/api/search", files={"image": ("q.png", image.read_bytes(), "image/png")}, params={"topk": 5})
    assert r.status_code == 200, r.text
    assert r.json()["tiers"][0]["items"]


def test_the_server_trains_the_structure_in_the_background_while_searches_answer(clustered, tmp_path, monkeypatch, tiny_weights):
    serve_with_a_stand_in_model(monkeypatch)
    training, release = hold_structure_builds(monkeypatch)  # only the background training builds a structure
    with _watching_client(clustered, tmp_path, tiny_weights) as client:
        assert training.wait(60)
        state = wait_for(lambda: (s := client.get("/api/index").json())["state"] == "watching" and s, what="the first build")
        assert state["structure"] == "training" and state["store"].startswith("exact")
        _search_answers(client, clustered / "img_0001.png")  # the exact scan answers meanwhile
        release.set()
        state = wait_for(lambda: (s := client.get("/api/index").json())["structure"] is None and s, what="the training")
        assert state["store"].startswith("approximate: 100.0 % of exact top-"), state
        assert "trained on 160 images in the background" in state["structure_note"]
        assert client.get("/api/stats").json()["store"] == "ann"  # published: searches use it
        _search_answers(client, clustered / "img_0002.png")


def test_a_failed_background_training_is_reported_and_the_exact_scan_stays(clustered, tmp_path, monkeypatch, tiny_weights):
    serve_with_a_stand_in_model(monkeypatch)

    def failing_build(cls, base, **kw):
        raise MemoryError("no room for the lists")

    monkeypatch.setattr(AnnStore, "build", classmethod(failing_build))
    with _watching_client(clustered, tmp_path, tiny_weights) as client:
        state = wait_for(lambda: (s := client.get("/api/index").json())["structure_note"] and s, what="the training")
        assert state["structure_note"] == "training failed: no room for the lists" and state["structure"] is None
        assert state["store"].startswith("exact")
        _search_answers(client, clustered / "img_0003.png")
