"""Duplicates across the whole gallery: the neighbour graph, its cache beside the index, and groups.

Public API::

    find_duplicate_groups(index, threshold=0.95, *, min_size=2, prefer=None, sort="size", use_cache=True)
        -> DuplicateReport
    DuplicateReport: .groups [DuplicateGroup(keeper, duplicates [Member])], .threshold, .nearest_histogram,
                     .cache, .graph_seconds, .missing, .notes, .to_dict()
    exact_neighbours(vectors, floor, *, block=4096) / neighbours_from_search(store, floor, *, k=32) -> NeighbourGraph
    keeper_groups(graph, order) -> [RowGroup];  keeper_key(path, facts, prefer) (the keeper rule)
    Trash(gallery_dir, index_paths).move({path: keeper}, dry_run=False) / .undo(batch_id=None) / .redo(batch_id=None)
        -> TrashResult (.batch, .done, .refused);  .batches() -> [Batch];  .empty(batch_id=None)

graph.py finds the pairs, cache.py keeps them in ``gallery_features.neighbours.npz`` beside the index,
files.py reads file facts, groups.py forms groups around keepers, finder.py puts it together,
trash.py moves duplicates into the gallery's trash and back (journalled, safe under kill -9).
"""

from .finder import DEFAULT_THRESHOLD, DuplicateGroup, DuplicateReport, Member, find_duplicate_groups
from .graph import NeighbourGraph, exact_neighbours, neighbours_from_search
from .groups import RowGroup, keeper_groups, keeper_key

__all__ = [
    "DEFAULT_THRESHOLD",
    "DuplicateGroup",
    "DuplicateReport",
    "Member",
    "NeighbourGraph",
    "RowGroup",
    "exact_neighbours",
    "find_duplicate_groups",
    "keeper_groups",
    "keeper_key",
    "neighbours_from_search",
]
