"""Deduplication of a ranked candidate list, as the original project did it.

1. File name: a name (the basename, whatever its sub-folder) appears once, at its best rank.
2. Near duplicate: a candidate whose cosine to an already kept result is above ``threshold`` is dropped.

The near-duplicate check is vectorised: one Gram matrix of the candidates (no per-candidate stacking),
and a Python step only for the few candidates that have an earlier near duplicate at all. The name
check is one set lookup per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DedupOutcome:
    kept: np.ndarray  # (k',) positions into the candidate list, in rank order
    removed: int  # duplicates dropped ahead of the last kept result


def deduplicate(names: np.ndarray, vectors: np.ndarray, k: int, *, threshold: float) -> DedupOutcome:
    """Keep up to ``k`` candidates (names (m,), unit vectors (m, D), best first), dropping duplicates.

    ``removed`` counts the candidates dropped before the k-th kept one: the ones a user would have seen.
    """
    m = len(names)
    keep = first_of_each_name(names)
    keep &= ~near_duplicates(vectors, keep, threshold)
    kept = np.flatnonzero(keep)[:k]
    considered = kept[-1] + 1 if len(kept) == k else m  # list scanned up to the k-th kept result
    return DedupOutcome(kept=kept, removed=int(considered - len(kept)))


def first_of_each_name(names: np.ndarray) -> np.ndarray:
    """(m,) bool: True where the basename appears for the first time."""
    first = np.zeros(len(names), dtype=bool)
    seen: set[str] = set()
    for i, name in enumerate(names.tolist()):
        base = name.rsplit("/", 1)[-1]
        if base not in seen:
            seen.add(base)
            first[i] = True
    return first


def near_duplicates(vectors: np.ndarray, eligible: np.ndarray, threshold: float) -> np.ndarray:
    """(m,) bool: True for an eligible candidate too close to an earlier kept one (greedy, in rank order)."""
    m = len(vectors)
    dropped = np.zeros(m, dtype=bool)
    if m < 2:
        return dropped
    close = (vectors @ vectors.T) > threshold  # (m, m)
    close &= np.tri(m, k=-1, dtype=bool)  # only earlier candidates count
    close &= eligible[None, :]
    suspects = np.flatnonzero(close.any(axis=1) & eligible)
    kept = eligible.copy()
    for i in suspects:  # few: only candidates with an earlier near duplicate
        if (close[i] & kept).any():
            kept[i] = False
            dropped[i] = True
    return dropped
