"""The index a build starts from: its file records and, by content hash, its embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import VistaMatchError
from ..search.store import NumpyStore
from .files import IndexFiles
from .manifest import INDEXED, FileRecord, Manifest


@dataclass
class PreviousIndex:
    manifest: Manifest | None = None
    records: dict[str, FileRecord] = field(default_factory=dict)  # by relative path
    row_of_hash: dict[str, int] = field(default_factory=dict)
    features: np.ndarray | None = None  # (N, D) memory map
    order: list[tuple[str, str]] = field(default_factory=list)  # (path, hash) of the rows
    note: str | None = None  # why nothing could be reused, if so
    set_aside: str | None = None  # the broken manifest that was set aside, and where it went
    structure: np.ndarray | None = None  # the committed approximate structure's bytes, if any

    @classmethod
    def load(cls, files: IndexFiles, meta: dict) -> PreviousIndex:
        """What can be reused of the index for a build with ``meta`` (fingerprint, preprocess, dim).

        Under the build lock. A broken manifest is set aside (``note`` says so).
        """
        manifest, set_aside = files.load_manifest()
        if manifest is None:
            if set_aside:
                return cls(note=f"{set_aside}: full build", set_aside=set_aside)
            return cls(note="existing index has no manifest: full build" if files.paths.exists() else None)
        try:
            snapshot = files.read()
        except (VistaMatchError, OSError) as exc:
            return cls(note=f"existing index unreadable ({exc}): full build")
        if snapshot.manifest is None or snapshot.manifest.generation != manifest.generation:
            return cls(note="existing index files disagree with its manifest: full build")
        built_with = {"model_fingerprint": manifest.model_fingerprint, "preprocess": manifest.preprocess, "dim": manifest.dim}
        if built_with != meta:
            # skipped files would fail again, but nothing else carries over
            return cls(note="weights or preprocessing changed: full build")
        indexed = manifest.indexed
        return cls(
            manifest=manifest,
            records={f.path: f for f in manifest.files},
            row_of_hash={f.hash: row for row, f in enumerate(indexed)},
            features=snapshot.features,
            order=[(f.path, f.hash) for f in indexed],
            structure=snapshot.structure,
        )

    def exact_store(self) -> NumpyStore | None:
        """The committed rows as an exact store (what the committed structure was built for), if reusable."""
        if self.features is None:
            return None
        return NumpyStore(self.features, np.array([path for path, _ in self.order], dtype=str), normalized=self.manifest.normalized)

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
