"""Duplicate-finder test helpers: an index written straight from controlled vectors, with a manifest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from vistamatch.index import FileRecord, IndexPaths, Manifest, open_index
from vistamatch.search import l2_normalize


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    return l2_normalize(rng.standard_normal((n, dim)))


def towards(base: np.ndarray, other: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from unit ``base``, in the plane of ``other``."""
    ortho = other - (other @ base) * base
    ortho /= np.linalg.norm(ortho)
    return (cosine * base + np.sqrt(1 - cosine**2) * ortho).astype(np.float32)


def write_index(folder: Path, gallery: Path, names: list[str], vectors: np.ndarray) -> IndexPaths:
    """features, mapping and a manifest (sizes, mtimes, content hashes of the gallery files) in ``folder``."""
    order = np.argsort(names)
    names = [names[i] for i in order]
    vectors = np.asarray(vectors, np.float32)[order]
    records = []
    for name in names:
        path = gallery / name
        data = path.read_bytes()
        st = os.stat(path)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        records.append(FileRecord(name, st.st_size, st.st_mtime_ns, digest, "indexed"))
    manifest = Manifest("test:1", {}, vectors.shape[1], records, str(gallery), "2026-01-01T00:00:00+00:00")
    paths = IndexPaths.in_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(paths.features, vectors)
    np.save(paths.mapping, np.array(names))
    paths.manifest.write_bytes(manifest.to_json_bytes())
    return paths


def open_test_index(paths: IndexPaths):
    return open_index(paths)
