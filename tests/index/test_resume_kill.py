"""A build really killed (SIGKILL) mid-way resumes, and ends equal to a clean build."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from vistamatch.index import IndexPaths, build_index
from vistamatch.model import load_model

from .helpers import write_variants

# Builds with the real tiny model, slowed down per batch so the kill lands mid-build.
BUILD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from vistamatch.index import IndexPaths, build_index
    from vistamatch.model import load_model

    gallery, weights, out = sys.argv[1:4]
    model = load_model(weights)

    class Slow:
        fingerprint, config = model.fingerprint, model.config
        def __call__(self, x):
            time.sleep(0.3)
            return model(x)

    build_index(gallery, Slow(), IndexPaths.in_dir(out), batch_size=2, workers=2, progress=False, checkpoint_every=2)
    """
)


def test_kill_9_mid_build_then_resume_equals_a_clean_build(tmp_path, photos, tiny_weights):
    gallery = tmp_path / "gallery"
    write_variants(gallery, photos, 40)
    paths = IndexPaths.in_dir(tmp_path / "idx")
    proc = subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(gallery), str(tiny_weights), str(tmp_path / "idx")])
    try:
        deadline = time.monotonic() + 120
        while not list(paths.checkpoint_dir.glob("chunk-*.npz")):
            assert proc.poll() is None, "the build ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not paths.features.exists() and not paths.mapping.exists()
    saved = len(list(paths.checkpoint_dir.glob("chunk-*.npz")))
    assert 1 <= saved < 20

    model = load_model(tiny_weights)
    report = build_index(gallery, model, paths, batch_size=4, workers=2, progress=False)
    assert report.resumed >= 2 and report.embedded == 40 - report.resumed
    assert not paths.checkpoint_dir.exists()

    clean = IndexPaths.in_dir(tmp_path / "clean")
    build_index(gallery, model, clean, batch_size=4, workers=2, progress=False)
    resumed_map, clean_map = np.load(paths.mapping), np.load(clean.mapping)
    assert resumed_map.tolist() == clean_map.tolist()
    resumed_feat, clean_feat = np.load(paths.features), np.load(clean.features)
    assert resumed_feat.shape == (40, 32)
    # other batch compositions may change the last bits of a row (BLAS blocking): compare at float32 precision
    np.testing.assert_allclose(resumed_feat, clean_feat, rtol=0, atol=1e-6)
    assert paths.manifest.read_text().count('"indexed"') == 40
