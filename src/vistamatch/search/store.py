"""Vector stores: where the gallery vectors live and how they are ranked against a query.

``VectorStore`` is the small interface callers use (add, remove, search, ``len``, ``dim``), so an
approximate index or a vector database can replace the exact ``NumpyStore`` without touching them.
Rows are addressed by key (the gallery-relative path) and, for speed, by row number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .topk import top_k


@runtime_checkable
class VectorStore(Protocol):
    """The store interface. Scores are cosine similarities, best first."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Append rows; ``vectors`` is (n, dim), normalised by the store."""

    def remove(self, keys: Iterable[str]) -> int:
        """Drop the rows with these keys; returns how many were removed."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for a (dim,) query: (row numbers (k,), scores (k,)), best first."""

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """The keys (str array) of these rows."""

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The L2-normalised vectors (len(rows), dim) of these rows."""


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class NumpyStore:
    """Exact cosine search over a float32 matrix, usually a read-only memory map of the features file.

    ``normalized=False`` (an index from the original project, whose rows may not have unit length) keeps
    the file untouched and rescales the scores by precomputed inverse norms instead.
    """

    def __init__(self, vectors: np.ndarray, keys: Sequence[str] | np.ndarray, *, normalized: bool = True):
        if not isinstance(vectors, np.ndarray):
            vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (N, D), got shape {vectors.shape}")
        keys = np.asarray(keys, dtype=str)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        if vectors.dtype != np.float32:
            vectors = vectors.astype(np.float32)
        self._vectors = vectors  # (N, D)
        self._keys = keys  # (N,)
        self._inv_norms = None if normalized else _inverse_norms(vectors)  # (N,) or None

    @classmethod
    def empty(cls, dim: int) -> NumpyStore:
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, dtype=str))

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        vectors = l2_normalize(np.atleast_2d(vectors))
        if vectors.shape[1] != self.dim or len(vectors) != len(keys):
            raise ValueError(f"expected ({len(keys)}, {self.dim}) vectors, got {vectors.shape}")
        self._vectors = np.concatenate([self._normalized_rows(slice(None)), vectors])
        self._keys = np.concatenate([self._keys, np.asarray(keys, dtype=str)])
        self._inv_norms = None

    def remove(self, keys: Iterable[str]) -> int:
        drop = np.isin(self._keys, np.asarray(list(keys), dtype=str))
        removed = int(drop.sum())
        if removed:
            keep = ~drop
            self._vectors = self._normalized_rows(slice(None))[keep]
            self._keys = self._keys[keep]
            self._inv_norms = None
        return removed

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        query = l2_normalize(np.asarray(query, np.float32).reshape(-1))
        if query.shape[0] != self.dim:
            raise ValueError(f"query has dimension {query.shape[0]}, the index {self.dim}")
        scores = self._vectors @ query  # (N,)
        if self._inv_norms is not None:
            scores *= self._inv_norms
        return top_k(scores, k)

    def keys(self, rows: np.ndarray) -> np.ndarray:
        return self._keys[rows]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self._normalized_rows(np.asarray(rows))

    @property
    def all_keys(self) -> np.ndarray:
        return self._keys

    def _normalized_rows(self, rows) -> np.ndarray:
        block = np.asarray(self._vectors[rows], dtype=np.float32)
        if self._inv_norms is not None:
            block = block * self._inv_norms[rows][:, None]
        return block


def _inverse_norms(vectors: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """1 / ||row|| for every row, read in chunks so a memory map is never copied whole."""
    out = np.empty(len(vectors), np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float32)
        out[start : start + chunk] = 1.0 / np.maximum(np.linalg.norm(block, axis=1), 1e-12)
    return out
