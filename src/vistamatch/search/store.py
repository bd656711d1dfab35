"""Vector stores: where the gallery vectors live and how they are ranked against a query.

``VectorStore`` is what callers use: top-k for one query or many, the row of a key, the keys and the
exact vectors of given rows, and whether the ranking is exact. ``NumpyStore`` is the exact scan (the
reference); ``search.ann.AnnStore`` the approximate one, which re-scores its candidates with the exact
store's vectors, so the scores callers see are exact cosines either way. Rows are numbered as in the
features file; keys are the gallery-relative paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .topk import top_k

Ranking = tuple[np.ndarray, np.ndarray]  # (rows (k',) int64, scores (k',) float32), best first


@runtime_checkable
class VectorStore(Protocol):
    """The store interface. Scores are cosine similarities, best first."""

    exact: bool  # True when every row is compared with the query

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> Ranking:
        """Top-k for a (dim,) query: (rows (k',), scores (k',)), k' = min(k, len), best first."""

    def search_many(self, queries: np.ndarray, k: int) -> list[Ranking]:
        """``search`` for each row of an (m, dim) array, in one pass where the store can."""

    def row_of(self, key: str) -> int | None:
        """The row holding ``key``, or None; O(1) after the first call."""

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """The keys (str array) of these rows."""

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The L2-normalised float32 vectors (len(rows), dim) of these rows."""


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """(m, dim) unit float32 queries from one (dim,) query or an (m, dim) array; ValueError otherwise."""
    queries = np.asarray(queries, np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"query has dimension {queries.shape[-1]}, the index {dim}")
    return l2_normalize(queries)


class NumpyStore:
    """Exact cosine search over a float32 matrix, usually a read-only memory map of the features file.

    ``normalized=False`` (an index from the original project, whose rows may not have unit length) keeps
    the file untouched and rescales the scores by precomputed inverse norms instead.
    """

    exact = True
    CHUNK = 65536  # rows scored at once by search_many: bounds the (m, CHUNK) score block

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
        self._row_of: dict[str, int] | None = None  # key -> row, built on the first row_of

    @classmethod
    def empty(cls, dim: int) -> NumpyStore:
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, dtype=str))

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def search(self, query: np.ndarray, k: int) -> Ranking:
        query = as_queries(np.asarray(query).reshape(-1), self.dim)[0]
        scores = self._vectors @ query  # (N,)
        if self._inv_norms is not None:
            scores *= self._inv_norms
        return top_k(scores, k)

    def search_many(self, queries: np.ndarray, k: int) -> list[Ranking]:
        queries = as_queries(queries, self.dim)
        best = [(np.zeros(0, np.int64), np.zeros(0, np.float32))] * len(queries)
        for start in range(0, len(self), self.CHUNK):
            block = np.asarray(self._vectors[start : start + self.CHUNK], np.float32)
            scores = queries @ block.T  # (m, chunk)
            if self._inv_norms is not None:
                scores *= self._inv_norms[start : start + self.CHUNK]
            best = [_merge(prev, top_k(row, k), start, k) for prev, row in zip(best, scores)]
        return best

    def row_of(self, key: str) -> int | None:
        if self._row_of is None:
            self._row_of = {}
            for row, name in enumerate(self._keys.tolist()):
                self._row_of.setdefault(name, row)  # a key listed twice: its first row, as before
        return self._row_of.get(key)

    def keys(self, rows: np.ndarray) -> np.ndarray:
        return self._keys[rows]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        block = np.asarray(self._vectors[rows], dtype=np.float32)
        if self._inv_norms is not None:
            block = block * self._inv_norms[rows][:, None]
        return block

    @property
    def all_keys(self) -> np.ndarray:
        return self._keys


def _merge(prev: Ranking, block: Ranking, offset: int, k: int) -> Ranking:
    """The top-k of a ranking so far and a block's ranking whose rows start at ``offset``."""
    rows = np.concatenate([prev[0], block[0] + offset])
    scores = np.concatenate([prev[1], block[1]])
    order = top_k(scores, k)[0]  # ties by position: earlier rows first, as in one pass
    return rows[order], scores[order]


def _inverse_norms(vectors: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """1 / ||row|| for every row, read in chunks so a memory map is never copied whole."""
    out = np.empty(len(vectors), np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float32)
        out[start : start + chunk] = 1.0 / np.maximum(np.linalg.norm(block, axis=1), 1e-12)
    return out
