"""Partial progress of a build, so a kill loses at most the last few seconds of work.

The build writes a chunk after the first model call that ends ``CHECKPOINT_SECONDS`` (2 s) or more
after the previous chunk (or the start), whatever the batch size. So what a kill loses is at most
the model calls that started and ended within 2 s after the last chunk, plus the call running at
the kill (one batch, up to ``--batch-size`` images): at most 2 s of embedding work plus one batch.

A folder beside the features file holds ``meta.json`` (model fingerprint, preprocessing, dimension) and
numbered chunks ``chunk-000001.npz`` (content hashes (n,) and their unit vectors (n, D)), each written
atomically, so whatever a kill leaves is complete. Embeddings are keyed by content hash, so a resumed
run reuses them whatever the files are called now. The folder is removed once the index is committed.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_json
from .manifest import as_read_back

CHECKPOINT_SECONDS = 2.0


class Checkpoint:
    def __init__(self, folder: Path, meta: dict):
        self.folder = folder
        self.meta = meta
        self._next_chunk = 1
        self._pending_hashes: list[str] = []
        self._pending_vectors: list[np.ndarray] = []

    @classmethod
    def open(cls, folder: Path, meta: dict) -> tuple[Checkpoint, dict[str, np.ndarray]]:
        """The checkpoint for a build with ``meta``, and the embeddings saved by an interrupted one.

        Progress saved under other weights or preprocessing is discarded.
        """
        meta = as_read_back(meta)
        saved: dict[str, np.ndarray] = {}
        checkpoint = cls(folder, meta)
        meta_path = folder / "meta.json"
        if folder.exists() and _read_meta(meta_path) != meta:
            shutil.rmtree(folder)
        if folder.exists():
            for chunk in sorted(folder.glob("chunk-*.npz")):
                try:
                    with np.load(chunk, allow_pickle=False) as z:
                        saved.update(zip(z["hashes"].tolist(), z["vectors"]))
                except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                    continue  # cannot happen with atomic writes short of disk damage; redo that work
                checkpoint._next_chunk = int(chunk.stem.split("-")[1]) + 1
        else:
            folder.mkdir(parents=True)
            atomic_write_json(meta_path, meta)
        return checkpoint, saved

    def add(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Queue embeddings (vectors (n, D)) for the next ``flush``."""
        self._pending_hashes.extend(hashes)
        self._pending_vectors.append(vectors)

    @property
    def pending(self) -> int:
        return len(self._pending_hashes)

    def flush(self) -> None:
        """Write the queued embeddings as one new chunk."""
        if not self._pending_hashes:
            return
        buf = io.BytesIO()
        np.savez(buf, hashes=np.asarray(self._pending_hashes, dtype=str), vectors=np.concatenate(self._pending_vectors))
        atomic_write_bytes(self.folder / f"chunk-{self._next_chunk:06d}.npz", buf.getvalue())
        self._next_chunk += 1
        self._pending_hashes, self._pending_vectors = [], []

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
