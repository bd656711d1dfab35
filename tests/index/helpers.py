"""Index test helpers: a fast exact stand-in model and galleries of real photo variants."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np


class PixelStatsModel:
    """A deterministic stand-in for DINOv2: per-image statistics of the input (B, 3, H, W) -> (B, 8).

    Row i depends only on image i (no cross-batch arithmetic), so any batching gives identical vectors.
    Counts the images it embeds.
    """

    def __init__(self, fingerprint: str = "stats:1"):
        self.fingerprint = fingerprint
        self.config = SimpleNamespace(hidden_size=8)
        self.images_seen = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.images_seen += len(x)
        means = x.mean(axis=(2, 3))  # (B, 3)
        stds = x.std(axis=(2, 3))  # (B, 3)
        shape = np.tile([x.shape[2] / 100, x.shape[3] / 100], (len(x), 1))  # (B, 2)
        return np.concatenate([means, stds, shape], axis=1).astype(np.float32)


def write_variants(folder: Path, photos: dict, count: int, *, start: int = 0) -> list[Path]:
    """``count`` small JPEG/PNG files cut from the sample photos, each with different pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(photos)
    written = []
    for i in range(start, start + count):
        img = photos[names[i % len(names)]]
        w, h = img.size
        crop = img.crop((i % 7 * 9, i % 5 * 11, w - i % 3 * 13, h - i % 4 * 7))
        side = 48 + (i % 4) * 16
        crop = crop.resize((side + (i % 3) * 20, side))  # a few aspect ratios: a few batch shapes
        ext, fmt = (("jpg", "JPEG"), ("png", "PNG"))[i % 2]
        path = folder / (f"sub{i % 3}" if i % 5 == 0 else "") / f"img_{i:04d}.{ext}"
        path.parent.mkdir(exist_ok=True)
        crop.save(path, format=fmt)
        written.append(path)
    return written


def commit_next_generation(files) -> None:
    """Commit, under the lock, the index at ``files`` minus its first row: a next generation to race."""
    from vistamatch.index import Manifest

    paths = files.paths
    with files.locked():
        manifest = Manifest.load(paths.manifest)
        first = manifest.indexed[0]
        manifest.files = [f for f in manifest.files if f != first]
        manifest.built_at = "next"
        features, mapping = np.load(paths.features), np.load(paths.mapping)
        files.commit(manifest, (features[1:], mapping[1:]))
