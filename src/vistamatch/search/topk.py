"""Exact top-k selection with ``argpartition``: O(N) to find the k best, O(k log k) to order them."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest scores, best first; ties ordered by row number so results are deterministic.

    Returns (rows (k',), scores (k',)) with k' = min(k, len(scores)).
    """
    n = len(scores)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if k < n:
        rows = np.argpartition(-scores, k - 1)[:k]
        # Rows tied with the k-th score may sit on either side of the cut: take them all, then trim.
        tied = np.flatnonzero(scores == scores[rows].min())
        if len(tied) > 1:
            rows = np.union1d(rows, tied)
    else:
        rows = np.arange(n)
    order = np.lexsort((rows, -scores[rows]))[:k]  # by score desc, then row asc
    rows = rows[order].astype(np.int64)
    return rows, np.asarray(scores[rows], dtype=np.float32)
