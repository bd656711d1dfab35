"""``find_duplicate_groups``: every group of duplicates in an index, with keepers and file facts."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import VistaMatchError
from ..index import Manifest
from .cache import cached_graph
from .files import FileFacts, file_facts
from .graph import NeighbourGraph, exact_neighbours, neighbours_from_search
from .groups import keeper_groups, keeper_key

DEFAULT_THRESHOLD = 0.95
# The graph keeps every pair from here up, so any threshold >= 0.90 reuses the cached graph.
GRAPH_FLOOR = 0.90
# Above this many rows a store with a batched approximate search (``search_many``) builds the graph.
EXACT_LIMIT = 200_000
SORTS = ("size", "space")
# Nearest-neighbour score histogram: one bin below 0.80, then steps of 0.01 up to 1.0.
HISTOGRAM_EDGES = np.round(np.concatenate([[-1.0], np.linspace(0.80, 1.0, 21)]), 2)


@dataclass(frozen=True)
class Member:
    path: str  # gallery-relative
    similarity: float  # cosine to the group's keeper (1.0 for the keeper itself)
    exact: bool  # a duplicate with the same bytes as the keeper (content hash); False for the keeper
    size: int  # bytes
    mtime_ns: int
    width: int | None
    height: int | None


@dataclass(frozen=True)
class DuplicateGroup:
    keeper: Member
    duplicates: list[Member]  # closest first

    @property
    def size(self) -> int:
        return 1 + len(self.duplicates)

    @property
    def reclaimable(self) -> int:
        """Bytes freed by putting the duplicates away."""
        return sum(m.size for m in self.duplicates)


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup]
    threshold: float
    gallery_size: int
    nearest_histogram: dict  # {"edges": [...], "counts": [...]}: each image's best score to another
    cache: str  # hit, missing, stale, corrupt (see cache.py), or off
    graph_seconds: float  # finding the pairs (near zero on a cache hit)
    missing: list[str] = field(default_factory=list)  # indexed files gone from the gallery, left out
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "gallery_size": self.gallery_size,
            "group_count": len(self.groups),
            "duplicate_count": sum(len(g.duplicates) for g in self.groups),
            "reclaimable_bytes": sum(g.reclaimable for g in self.groups),
            "groups": [{"keeper": asdict(g.keeper), "duplicates": [asdict(m) for m in g.duplicates]} for g in self.groups],
            "nearest_histogram": self.nearest_histogram,
            "cache": self.cache,
            "graph_seconds": round(self.graph_seconds, 3),
            "missing": self.missing,
            "notes": self.notes,
        }


def find_duplicate_groups(
    index,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    min_size: int = 2,
    prefer: str | None = None,
    sort: str = "size",
    use_cache: bool = True,
) -> DuplicateReport:
    """The duplicate groups of a ``GalleryIndex``: exact copies (same content hash) and near duplicates
    (cosine >= ``threshold`` to the group's keeper); see ``groups.py``. ``sort``: "size" (most
    images first) or "space" (most bytes in duplicates first); ties stay in keeper order."""
    if sort not in SORTS:
        raise VistaMatchError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if not 0.0 < threshold <= 1.0:
        raise VistaMatchError(f"threshold must be in (0, 1], got {threshold}")
    floor = min(threshold, GRAPH_FLOOR)
    t0 = time.perf_counter()
    if use_cache:
        cached = cached_graph(index.paths, threshold, floor, lambda f: _compute(index.store, f))
        graph, status, notes = cached.graph, cached.status, [cached.note] if cached.note else []
    else:
        graph, status, notes = _compute(index.store, floor).at(threshold), "off", []
    seconds = time.perf_counter() - t0
    hashes = _hashes(index)
    graph = _with_exact_copies(graph, hashes)

    paths = index.relative_paths
    rows = np.union1d(graph.first, graph.second)
    facts: dict[int, FileFacts] = {}
    missing = []
    for row in rows.tolist():
        found = file_facts(index.resolve(str(paths[row])))
        if found is None:
            missing.append(str(paths[row]))
        else:
            facts[row] = found
    order = np.array(sorted(facts, key=lambda r: keeper_key(str(paths[r]), facts[r], prefer)), dtype=np.int64)

    def member(row: int, similarity: float, keeper: int) -> Member:
        f = facts[row]
        exact = row != keeper and hashes is not None and hashes[row] is not None and hashes[row] == hashes[keeper]
        return Member(str(paths[row]), round(float(similarity), 6), exact, f.size, f.mtime_ns, f.width, f.height)

    groups = [
        DuplicateGroup(member(g.keeper, 1.0, g.keeper), [member(int(r), s, g.keeper) for r, s in zip(g.members, g.scores)])
        for g in keeper_groups(graph, order)
        if 1 + len(g.members) >= min_size
    ]
    groups.sort(key=lambda g: -(g.size if sort == "size" else g.reclaimable))
    counts, _ = np.histogram(np.clip(graph.nearest, -1.0, 1.0), bins=HISTOGRAM_EDGES)
    histogram = {"edges": HISTOGRAM_EDGES.tolist(), "counts": counts.tolist()}
    return DuplicateReport(groups, threshold, index.size, histogram, status, seconds, missing, notes)


def _compute(store, floor: float) -> NeighbourGraph:
    if len(store) > EXACT_LIMIT and hasattr(store, "search_many"):
        return neighbours_from_search(store, floor)
    return exact_neighbours(store, floor)


def _hashes(index) -> list[str | None] | None:
    """Each row's content hash from the manifest, or None (no manifest, or one that does not match)."""
    if index.manifest is None or not index.paths.manifest.is_file():
        return None
    indexed = Manifest.load(index.paths.manifest).indexed
    if [f.path for f in indexed] != index.relative_paths.tolist():
        return None
    return [f.hash for f in indexed]


def _with_exact_copies(graph: NeighbourGraph, hashes: list[str | None] | None) -> NeighbourGraph:
    """The graph plus a pair of score 1.0 between every two rows with the same content hash."""
    if not hashes:
        return graph
    by_hash: dict[str, list[int]] = {}
    for row, h in enumerate(hashes):
        if h is not None:
            by_hash.setdefault(h, []).append(row)
    pairs = [(a, b) for rows in by_hash.values() if len(rows) > 1 for i, a in enumerate(rows) for b in rows[i + 1 :]]
    if not pairs:
        return graph
    extra = np.array(pairs, dtype=np.int64)
    first = np.concatenate([graph.first, extra[:, 0]])
    second = np.concatenate([graph.second, extra[:, 1]])
    scores = np.concatenate([graph.scores, np.ones(len(extra), np.float32)])
    # one pair each, at its highest score
    order = np.lexsort((-scores, second, first))
    first, second, scores = first[order], second[order], scores[order]
    _, unique = np.unique(first * graph.size + second, return_index=True)
    return NeighbourGraph(graph.size, graph.floor, first[unique], second[unique], scores[unique], graph.nearest)
