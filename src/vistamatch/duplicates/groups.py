"""Groups from the neighbour graph, formed around keepers so they never grow by chaining.

Rows with at least one neighbour are taken in keeper order (best first, see ``keeper_key``). The
first row not yet in a group becomes a keeper, and its group is every row not yet in a group whose
score *to the keeper* is at least the threshold. So every member is within the threshold of its
keeper: with A~B, B~C and A far from C, A keeps B, and C is left to group with its own neighbours
(single-link clustering would put A and C together). A group's keeper is the best of its members.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from .files import FileFacts
from .graph import NeighbourGraph


@dataclass(frozen=True)
class RowGroup:
    keeper: int  # row number
    members: np.ndarray  # (m,) rows of the others, closest first
    scores: np.ndarray  # (m,) float32 cosine of each member to the keeper


def keeper_key(path: str, facts: FileFacts, prefer: str | None = None) -> tuple:
    """Sort key, best keeper first: matching ``prefer`` (a glob on the gallery-relative path), then
    most pixels, then largest file, then oldest, then shortest path, then path."""
    preferred = prefer is not None and fnmatch.fnmatchcase(path, prefer)
    return (not preferred, -facts.pixels, -facts.size, facts.mtime_ns, len(path), path)


def keeper_groups(graph: NeighbourGraph, order: np.ndarray) -> list[RowGroup]:
    """Groups of the graph's pairs, keepers tried in ``order`` (row numbers, best keeper first).

    Rows absent from ``order`` take no part (a file gone from the gallery). Groups come in keeper order.
    """
    allowed = np.zeros(graph.size, dtype=bool)
    allowed[order] = True
    ok = allowed[graph.first] & allowed[graph.second]
    source = np.concatenate([graph.first[ok], graph.second[ok]])
    target = np.concatenate([graph.second[ok], graph.first[ok]])
    scores = np.concatenate([graph.scores[ok], graph.scores[ok]])
    by_source = np.argsort(source, kind="stable")
    source, target, scores = source[by_source], target[by_source], scores[by_source]
    starts = np.searchsorted(source, np.arange(graph.size + 1))

    grouped = np.zeros(graph.size, dtype=bool)
    groups = []
    for keeper in order[np.isin(order, source)]:  # rows with a neighbour, in keeper order
        if grouped[keeper]:
            continue
        near = slice(starts[keeper], starts[keeper + 1])
        free = ~grouped[target[near]]
        members, member_scores = target[near][free], scores[near][free]
        if not len(members):
            continue
        closest = np.lexsort((members, -member_scores))
        grouped[keeper] = True
        grouped[members] = True
        groups.append(RowGroup(int(keeper), members[closest], member_scores[closest]))
    return groups
