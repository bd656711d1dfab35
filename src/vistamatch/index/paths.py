"""Where an index lives: the seed-compatible features/mapping pair plus our manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import defaults


@dataclass(frozen=True)
class IndexPaths:
    features: Path  # (N, D) float32 .npy, rows L2-normalised
    mapping: Path  # (N,) unicode .npy of gallery-relative paths, row -> file
    manifest: Path  # JSON: files, hashes, model fingerprint, preprocessing, skipped files

    def __post_init__(self):
        for name in ("features", "mapping", "manifest"):
            object.__setattr__(self, name, Path(getattr(self, name)))

    @classmethod
    def from_defaults(cls) -> IndexPaths:
        """The original layout, overridable by GALLERY_FEATURES_PATH, GALLERY_MAPPING_PATH, GALLERY_MANIFEST_PATH."""
        return cls(defaults.features_path(), defaults.mapping_path(), defaults.manifest_path())

    @classmethod
    def in_dir(cls, folder: str | os.PathLike) -> IndexPaths:
        """The default file names inside ``folder``."""
        folder = Path(folder)
        return cls(folder / "gallery_features.npy", folder / "gallery_mapping.npy", folder / "gallery_manifest.json")

    @property
    def checkpoint_dir(self) -> Path:
        """Partial progress of an interrupted build (chunks of embeddings), beside the features."""
        return self.features.with_name(self.features.stem + ".partial")

    @property
    def shards_dir(self) -> Path:
        """A Ray build's finished shards (index/shards.py), beside the features, until the commit."""
        return self.features.with_name(self.features.stem + ".shards")

    @property
    def lock(self) -> Path:
        """Held while a build runs (it names its holder), so two builds never write the same index."""
        return self.features.with_name(self.features.stem + ".partial.lock")

    @property
    def thumbs_dir(self) -> Path:
        """The server's thumbnail cache of this index's gallery, beside the features (unless $VISTAMATCH_THUMBS_DIR)."""
        return self.features.with_name(".thumbs")

    @property
    def structure(self) -> Path:
        """The approximate store's structure (search/ann.py), beside the features; committed with them."""
        return self.features.with_name(self.features.stem + ".ivf")

    @property
    def journal(self) -> Path:
        """Present only from a commit's commit point until its files are in place (see ``files``)."""
        return self.manifest.with_name(self.manifest.name + ".partial-commit")

    def exists(self) -> bool:
        return self.features.is_file() and self.mapping.is_file()
