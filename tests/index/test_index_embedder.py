"""An index records its embedder; another embedder of the same weights may update it only if it
agrees with the stored rows (index/agreement.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.embed import EmbedderMismatchError, NumpyEmbedder
from vistamatch.index import IndexPaths, build_index
from vistamatch.index.manifest import Manifest, read_summary
from vistamatch.search.store import l2_normalize

from .helpers import write_variants


class Relabelled:
    """The tiny NumPy embedder under another name and dtype, its vectors optionally pushed off."""

    def __init__(self, inner: NumpyEmbedder, *, name="torch", dtype="bfloat16", noise=0.0):
        self.inner, self.name, self.dtype, self.noise = inner, name, dtype, noise
        self.config, self.fingerprint, self.device, self.dim = inner.config, inner.fingerprint, "cpu", inner.dim
        self.embedded = 0

    def embed(self, batch):
        self.embedded += len(batch)
        v = self.inner.embed(batch)
        return l2_normalize(v + self.noise * np.random.default_rng(0).standard_normal(v.shape).astype(np.float32))

    def describe(self):
        return f"{self.name} {self.dtype} (test stand-in)"


@pytest.fixture
def numpy_embedder(tiny_weights):
    return NumpyEmbedder.from_weights(tiny_weights)


def test_an_agreeing_embedder_updates_the_index_and_a_disagreeing_one_is_refused(tmp_path, photos, numpy_embedder):
    gallery, paths = tmp_path / "g", IndexPaths.in_dir(tmp_path / "idx")
    write_variants(gallery, photos, 6)
    build_index(gallery, numpy_embedder, paths, progress=False)
    assert read_summary(paths.manifest).embedder == {"name": "numpy", "dtype": "float32"}
    before = paths.manifest.read_bytes()

    write_variants(gallery, photos, 1, start=6)
    off = Relabelled(numpy_embedder, noise=0.2)
    with pytest.raises(EmbedderMismatchError, match=r"built by the numpy embedder \(float32\).*cosine min.*--embedder numpy"):
        build_index(gallery, off, paths, progress=False)
    assert paths.manifest.read_bytes() == before  # nothing written

    agreeing = Relabelled(numpy_embedder)
    report = build_index(gallery, agreeing, paths, progress=False)
    assert report.embedded == 1 and report.total == 7
    assert agreeing.embedded == 1 + 4  # the new file, and the stored rows it was checked on
    assert Manifest.load(paths.manifest).embedder == {"name": "torch", "dtype": "bfloat16"}
    # the same embedder again: no check, nothing embedded
    again = Relabelled(numpy_embedder)
    assert build_index(gallery, again, paths, progress=False).embedded == 0 and again.embedded == 0
