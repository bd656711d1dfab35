"""The index a build starts from: its file records and, by content hash, its embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import VistaMatchError
from .manifest import INDEXED, FileRecord, Manifest
from .paths import IndexPaths


@dataclass
class PreviousIndex:
    manifest: Manifest | None = None
    records: dict[str, FileRecord] = field(default_factory=dict)  # by relative path
    row_of_hash: dict[str, int] = field(default_factory=dict)
    features: np.ndarray | None = None  # (N, D) memory map
    order: list[tuple[str, str]] = field(default_factory=list)  # (path, hash) of the rows
    note: str | None = None  # why nothing could be reused, if so

    @classmethod
    def load(cls, paths: IndexPaths, meta: dict) -> PreviousIndex:
        """What can be reused of the index at ``paths`` for a build with ``meta`` (fingerprint, preprocess, dim)."""
        if not paths.manifest.exists():
            note = "existing index has no manifest: full build" if paths.exists() else None
            return cls(note=note)
        try:
            manifest = Manifest.load(paths.manifest)
            features = np.load(paths.features, mmap_mode="r")
            mapping = np.load(paths.mapping, mmap_mode="r")
        except (VistaMatchError, OSError, ValueError) as exc:
            return cls(note=f"existing index unreadable ({exc}): full build")
        indexed = manifest.indexed
        if features.shape != (len(indexed), manifest.dim) or mapping.shape != (len(indexed),):
            return cls(note="existing index files disagree with its manifest: full build")
        built_with = {"model_fingerprint": manifest.model_fingerprint, "preprocess": manifest.preprocess, "dim": manifest.dim}
        if built_with != meta:
            # skipped files would fail again, but nothing else carries over
            return cls(note="weights or preprocessing changed: full build")
        return cls(
            manifest=manifest,
            records={f.path: f for f in manifest.files},
            row_of_hash={f.hash: row for row, f in enumerate(indexed)},
            features=features,
            order=[(f.path, f.hash) for f in indexed],
        )

    def unchanged(self, path: str, size: int, mtime_ns: int) -> FileRecord | None:
        """The record of a file whose size and mtime did not change (no need to read it), else None."""
        rec = self.records.get(path)
        if rec is None or rec.size != size or rec.mtime_ns != mtime_ns:
            return None
        if rec.status == INDEXED and rec.hash not in self.row_of_hash:
            return None
        if rec.hash is None:  # skipped unread (not a regular file, a link outside, no permission): look again
            return None
        return rec
