"""The neighbour graph of a gallery: every pair of rows whose cosine is at least a floor.

``exact_neighbours`` computes it exactly with blocked matrix products: the (N, D) unit rows are cut
into blocks of ``block`` rows, and only the tiles on and above the diagonal are multiplied (the
Gram matrix is symmetric), so memory stays at one ``block x block`` tile whatever N, and a memory
map is read block by block. ``neighbours_from_search`` builds the same graph from a store's batched
top-k (an approximate index's ``search_many``), for galleries too large for the exact N^2 product.

Besides the pairs, the graph keeps each row's nearest-neighbour score (the best cosine to any other
row): the distribution a user looks at to choose a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BLOCK = 4096  # rows per block: a 4096 x 4096 float32 tile is 64 MiB


@dataclass(frozen=True)
class NeighbourGraph:
    """Pairs (first < second) with cosine >= ``floor``, and each row's best score to another row."""

    size: int  # N, rows of the index
    floor: float  # the lowest score kept: thresholds at or above it need no recomputation
    first: np.ndarray  # (E,) int64 row numbers
    second: np.ndarray  # (E,) int64 row numbers, first < second
    scores: np.ndarray  # (E,) float32 cosine
    nearest: np.ndarray  # (N,) float32: best cosine to any other row (-1 for a one-row index)

    def at(self, threshold: float) -> NeighbourGraph:
        """The pairs with score >= ``threshold`` (at least ``floor``)."""
        if threshold < self.floor:
            raise ValueError(f"threshold {threshold} is below the graph's floor {self.floor}")
        keep = self.scores >= threshold
        return NeighbourGraph(self.size, threshold, self.first[keep], self.second[keep], self.scores[keep], self.nearest)


def exact_neighbours(vectors, floor: float, *, block: int = DEFAULT_BLOCK) -> NeighbourGraph:
    """Every pair of rows with cosine >= ``floor``; exact.

    ``vectors``: an (N, D) array of unit rows (a memory map is fine), or a store (its ``vectors(rows)``).
    """
    n = len(vectors)
    nearest = np.full(n, -1.0, np.float32)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i0 in range(0, n, block):
        rows = _rows(vectors, i0, block)
        for j0 in range(i0, n, block):
            cols = rows if j0 == i0 else _rows(vectors, j0, block)
            tile = rows @ cols.T  # (b_i, b_j)
            if j0 == i0:  # each pair once (first < second), never a row with itself
                tile[np.tri(len(rows), dtype=bool)] = -np.inf
            # row maxima cover rows i0.. against block j0, column maxima the reverse (the matrix is symmetric)
            row_best = tile.max(axis=1)
            np.maximum(nearest[i0 : i0 + len(rows)], row_best, out=nearest[i0 : i0 + len(rows)])
            np.maximum(nearest[j0 : j0 + len(cols)], tile.max(axis=0), out=nearest[j0 : j0 + len(cols)])
            hot = np.flatnonzero(row_best >= floor)  # only the rows with a pair in this tile
            if len(hot) == 0:
                continue
            a, b = np.nonzero(tile[hot] >= floor)
            if len(a):
                a = hot[a]
                found.append((a + i0, b + j0, tile[a, b]))
    return _graph(n, floor, found, nearest)


def neighbours_from_search(store, floor: float, *, k: int = 32, batch: int = 1024) -> NeighbourGraph:
    """The graph from a store's batched top-k search: each row's ``k`` best, kept where >= ``floor``.

    Any ``VectorStore`` works (``search_many``, one batch of queries at a time; an approximate
    index makes this sub-quadratic). A row with more than ``k - 1`` neighbours above the floor
    keeps only its best ``k - 1``; pairs found from either side are merged.
    """
    n = len(store)
    nearest = np.full(n, -1.0, np.float32)
    found = []
    k = min(k, n)
    for start in range(0, n, batch):
        queries = np.arange(start, min(start + batch, n))
        rows = np.full((len(queries), k), -1, np.int64)  # a ranking may be shorter than k: padded
        scores = np.full((len(queries), k), -np.inf, np.float32)
        for i, (r, s) in enumerate(store.search_many(store.vectors(queries), k)):
            rows[i, : len(r)], scores[i, : len(s)] = r, s
        other = rows != queries[:, None]
        scores = np.where(other & (rows >= 0), scores, -np.inf)  # drop self and padding (-1) rows
        if scores.shape[1]:
            nearest[queries] = np.maximum(scores.max(axis=1), -1.0)
        q, c = np.nonzero(scores >= floor)
        a, b = queries[q], rows[q, c]
        found.append((np.minimum(a, b), np.maximum(a, b), scores[q, c]))
    graph = _graph(n, floor, found, nearest)
    # the same pair found from both rows: keep it once
    _, first = np.unique(graph.first * n + graph.second, return_index=True)
    return NeighbourGraph(n, floor, graph.first[first], graph.second[first], graph.scores[first], nearest)


def _rows(vectors, start: int, count: int) -> np.ndarray:
    if hasattr(vectors, "vectors"):
        return np.asarray(vectors.vectors(np.arange(start, min(start + count, len(vectors)))), np.float32)
    return np.asarray(vectors[start : start + count], dtype=np.float32)


def _graph(n: int, floor: float, found, nearest: np.ndarray) -> NeighbourGraph:
    if found:
        first, second, scores = (np.concatenate(parts) for parts in zip(*found))
    else:
        first = second = np.zeros(0, np.int64)
        scores = np.zeros(0, np.float32)
    order = np.lexsort((second, first))
    return NeighbourGraph(
        n, float(floor), first[order].astype(np.int64), second[order].astype(np.int64), scores[order].astype(np.float32), nearest
    )
