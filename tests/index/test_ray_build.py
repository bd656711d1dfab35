"""Builds on a real local Ray instance (2 CPUs) give the local build's index; done shards are not
embedded again, after a driver killed mid-build too, nor are contents a killed local build
checkpointed; an actor killed mid-shard is retried.
Skipped, with the reason, where Ray is not installed (the `ray` extra; CI has it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'vistamatch[ray]'")

from vistamatch.embed import EmbedderMismatchError, EmbedderSpec, NumpyEmbedder  # noqa: E402
from vistamatch.imaging import PreprocessConfig  # noqa: E402
from vistamatch.index import IndexPaths, build_index  # noqa: E402
from vistamatch.index.manifest import Manifest, as_read_back  # noqa: E402
from vistamatch.index.pipeline import Claims, read_and_decode  # noqa: E402
from vistamatch.index.ray_build import build_index_ray  # noqa: E402
from vistamatch.index.scan import scan_gallery  # noqa: E402
from vistamatch.index.shards import ShardStore, cut_shards  # noqa: E402

from . import ray_faults  # noqa: E402
from .test_index_embedder import Relabelled  # noqa: E402

SRC = os.path.dirname(os.path.dirname(__import__("vistamatch").__file__))
TESTS = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    """The folder that steers ray_faults.py in the workers (empty: no faults)."""
    return tmp_path_factory.mktemp("faults")


def runtime_env(faults: Path) -> dict:
    """The workers import the package from where this test run does, and set up ray_faults."""
    env_vars = {"PYTHONPATH": os.pathsep.join([SRC, TESTS]), ray_faults.ENV: str(faults)}
    return {"env_vars": env_vars, "worker_process_setup_hook": "index.ray_faults.setup"}


@pytest.fixture(scope="module")
def local_ray(faults):
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=runtime_env(faults))
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(autouse=True)
def no_faults(faults):
    yield
    for path in faults.iterdir():
        path.unlink()


@pytest.fixture
def gallery(tmp_path, photo_gallery):
    root = tmp_path / "gallery"
    shutil.copytree(photo_gallery, root)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return root


@pytest.fixture(scope="module")
def spec(tiny_weights):
    return EmbedderSpec(str(tiny_weights), "numpy")


def arrays(paths):
    return np.load(paths.features), np.load(paths.mapping)


def gallery_files(gallery: Path) -> list[str]:
    return sorted(p.relative_to(gallery).as_posix() for p in gallery.rglob("*") if p.is_file())


def test_a_ray_build_equals_the_local_build_and_updates_reuse_rows(local_ray, gallery, spec, tmp_path):
    local, distributed = IndexPaths.in_dir(tmp_path / "local"), IndexPaths.in_dir(tmp_path / "ray")
    local_report = build_index(gallery, spec.load(), local, progress=False)
    report = build_index_ray(gallery, spec, distributed, shard_files=3, progress=False)

    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(distributed)
    assert m_ray.tolist() == m_local.tolist() and len(m_ray) == 8
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)
    assert Manifest.load(distributed.manifest).files == Manifest.load(local.manifest).files
    assert [(f.path, f.reason) for f in report.skipped] == [("broken.jpg", "truncated or corrupt image data")]
    assert type(report.skipped[0].reason) is str and report.skipped == local_report.skipped
    assert "skipped broken.jpg: truncated or corrupt image data" in report.summary()
    assert report.embedded == 8 and not distributed.shards_dir.exists()

    shutil.copy(gallery / "astronaut.jpg", gallery / "copy.jpg")
    (gallery / "chelsea.png").rename(gallery / "renamed.png")
    update = build_index_ray(gallery, spec, distributed, shard_files=3, progress=False)
    build_index(gallery, spec.load(), local, progress=False)
    assert update.embedded == 0 and update.reused == 2  # a copy and a rename: both rows reused
    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(distributed)
    assert m_ray.tolist() == m_local.tolist()
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)


def test_a_done_shard_is_not_embedded_again(local_ray, gallery, spec, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    embedder = spec.load()
    meta = {
        "model_fingerprint": embedder.fingerprint,
        "preprocess": as_read_back(PreprocessConfig().to_dict()),
        "dim": embedder.dim,
        "embedder": "numpy",
        "dtype": "float32",
    }
    first = cut_shards(scan_gallery(gallery.resolve()), 3)[0]  # what an interrupted run left done
    decoded = [read_and_decode(f, PreprocessConfig(), Claims()) for f in first.files]
    marker = np.zeros(embedder.dim, np.float32)
    marker[0] = 1.0
    store = ShardStore(paths.shards_dir, meta).open()
    done = [d for d in decoded if d.pixels is not None]  # broken.jpg is in this shard too
    store.write(first, decoded, {d.digest: marker for d in done}, {d.digest: d.error for d in decoded if d.error}, embedder.dim)

    report = build_index_ray(gallery, spec, paths, shard_files=3, progress=False)
    features, mapping = arrays(paths)
    rows = {path: row for row, path in enumerate(mapping.tolist())}
    assert len(done) == 2 and len(mapping) == 8 and "broken.jpg" not in rows
    for d in done:
        np.testing.assert_array_equal(features[rows[d.file.path]], marker)  # taken from the shard file
    assert report.embedded == 8 - len(done) and report.resumed == len(done)


def test_vectors_a_killed_local_build_checkpointed_are_taken_up(local_ray, gallery, spec, tmp_path):
    from vistamatch.index.checkpoint import Checkpoint
    from vistamatch.index.scan import content_hash

    paths = IndexPaths.in_dir(tmp_path / "idx")
    embedder = spec.load()
    meta = {"model_fingerprint": embedder.fingerprint, "preprocess": as_read_back(PreprocessConfig().to_dict()), "dim": embedder.dim}
    checkpoint, _ = Checkpoint.open(paths.checkpoint_dir, meta)  # as build_index leaves it when killed
    marker = np.zeros((1, embedder.dim), np.float32)
    marker[0, 0] = 1.0
    checkpoint.add([content_hash((gallery / "astronaut.jpg").read_bytes())], marker)
    checkpoint.flush()

    report = build_index_ray(gallery, spec, paths, shard_files=3, progress=False)
    features, mapping = arrays(paths)
    np.testing.assert_array_equal(features[mapping.tolist().index("astronaut.jpg")], marker[0])
    assert (report.resumed, report.embedded) == (1, 7) and not paths.checkpoint_dir.exists()


def test_an_embedder_that_disagrees_with_the_index_is_refused(local_ray, gallery, spec, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(gallery, spec.load(), paths, progress=False)
    before = paths.manifest.read_bytes()
    (gallery / "more.jpg").write_bytes((gallery / "astronaut.jpg").read_bytes()[:-1] + b"\xd9")
    off = Relabelled(NumpyEmbedder.from_weights(spec.weights), noise=0.2)
    with pytest.raises(EmbedderMismatchError, match="disagrees with its rows"):
        build_index_ray(gallery, spec, paths, embedder=off, progress=False)
    assert paths.manifest.read_bytes() == before and not paths.shards_dir.exists()


def test_vistamatch_index_executor_ray_then_search(local_ray, gallery, spec, tmp_path, capsys):
    from vistamatch.cli import main

    files = ["--features", tmp_path / "f.npy", "--mapping", tmp_path / "m.npy", "--manifest", tmp_path / "m.json"]
    opts = [str(a) for a in ["--weights", spec.weights, *files]]
    assert main(["index", str(gallery), *opts, "--executor", "ray", "--shard-files", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "indexed 8 images" in out and "embedded 8" in out and "skipped broken.jpg" in out
    assert main(["search", str(gallery / "camera.jpg"), *opts, "--embedder", "numpy", "--json"]) == 0
    assert '"filename": "camera.jpg"' in capsys.readouterr().out
    assert main(["index", str(gallery), *opts, "--embedder", "numpy", "--device", "cuda"]) == 2
    assert "numpy embedder runs on the CPU only" in capsys.readouterr().err


def test_a_driver_killed_mid_build_resumes_without_embedding_done_shards_again(local_ray, faults, gallery, spec, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    files = ["--features", paths.features, "--mapping", paths.mapping, "--manifest", paths.manifest]
    argv = ["index", gallery, "--weights", spec.weights, *files, "--executor", "ray", "--address", local_ray, "--shard-files", "2"]
    (faults / "delay").write_text("1.0")  # 5 shards of 2 files, each 1 s: the kill lands mid-build
    # the driver's job gets the test's runtime env the way `ray job submit` hands it over
    env = {**os.environ, "PYTHONPATH": SRC, "RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": runtime_env(faults)})}
    driver = subprocess.Popen([sys.executable, "-m", "vistamatch", *map(str, argv), "--quiet"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(paths.shards_dir.glob("shard-*.npz")):
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard was written"
            time.sleep(0.02)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL and not paths.features.exists()
    time.sleep(2.0)  # the killed driver's actors go with its job
    before = ray_faults.embedded(faults)
    done = sorted(ShardStore(paths.shards_dir, {}).folder.glob("shard-*.npz"))
    assert 1 <= len(done) <= 4 and len(before) == 2 * len(done)  # written shards are what was embedded

    (faults / "delay").unlink()
    report = build_index_ray(gallery, spec, paths, shard_files=2, progress=False)
    again = ray_faults.embedded(faults)[len(before) :]
    assert not set(again) & set(before) and sorted(before + again) == gallery_files(gallery)
    assert report.resumed == len([p for p in before if p != "broken.jpg"]) and report.embedded == 8 - report.resumed

    local = IndexPaths.in_dir(tmp_path / "local")
    build_index(gallery, spec.load(), local, progress=False)
    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(paths)
    assert m_ray.tolist() == m_local.tolist()
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)
    assert not paths.shards_dir.exists()


def test_an_actor_killed_mid_shard_is_restarted_and_its_shard_retried(local_ray, faults, gallery, spec, tmp_path):
    (faults / "crash-once").touch()
    paths, local = IndexPaths.in_dir(tmp_path / "ray"), IndexPaths.in_dir(tmp_path / "local")
    report = build_index_ray(gallery, spec, paths, shard_files=3, progress=False)
    assert (faults / "crashed").exists() and not (faults / "crash-once").exists()  # one actor died
    assert sorted(ray_faults.embedded(faults)) == gallery_files(gallery)  # each file once
    build_index(gallery, spec.load(), local, progress=False)
    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(paths)
    assert report.embedded == 8 and m_ray.tolist() == m_local.tolist()
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)


def test_a_shard_that_kills_every_actor_fails_the_build_with_a_clear_error(local_ray, faults, gallery, spec, tmp_path):
    from vistamatch.errors import VistaMatchError

    (faults / "crash-always").touch()
    paths = IndexPaths.in_dir(tmp_path / "idx")
    with pytest.raises(VistaMatchError, match="the Ray build stopped .*run it again to resume"):
        build_index_ray(gallery, spec, paths, shard_files=100, restarts=0, progress=False)  # 0: one death is enough
    assert not paths.features.exists() and not ray_faults.embedded(faults)
