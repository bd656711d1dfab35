"""A build really killed (SIGKILL) mid-way resumes, and ends equal to a clean build.

Checkpoints go by time (every 2 s), so a build killed 3 s into its embedding work keeps it; with the
former count-based checkpoints (256 images) it would have resumed from zero."""

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
            if not hasattr(self, "started"):
                self.started = print("embedding", flush=True)
            time.sleep(0.3)
            return model(x)

    build_index(gallery, Slow(), IndexPaths.in_dir(out), batch_size=2, workers=2, progress=False)
    """
)


def test_kill_9_mid_build_then_resume_equals_a_clean_build(tmp_path, photos, tiny_weights):
    gallery = tmp_path / "gallery"
    write_variants(gallery, photos, 40)
    paths = IndexPaths.in_dir(tmp_path / "idx")
    cmd = [sys.executable, "-c", BUILD_SCRIPT, str(gallery), str(tiny_weights), str(tmp_path / "idx")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "embedding\n"  # start-up (imports, weights) does not count
        time.sleep(3.0)  # 20 batches of 0.3 s: about half the work is done
        assert proc.poll() is None, "the build ended before the kill"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not paths.features.exists() and not paths.mapping.exists()
    assert 1 <= len(list(paths.checkpoint_dir.glob("chunk-*.npz"))) <= 2  # one chunk per 2 s

    model = load_model(tiny_weights)
    report = build_index(gallery, model, paths, batch_size=4, workers=2, progress=False)
    assert report.resumed >= 6 and report.embedded == 40 - report.resumed  # >= 2 s of 2 images per 0.3 s
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
