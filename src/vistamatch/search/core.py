"""``search``: top-K over a store, deduplicated, split into tiers. Shared by the CLI and the server."""

from __future__ import annotations

import time

import numpy as np

from .. import defaults
from .dedup import deduplicate
from .result import Hit, SearchResult, Tier
from .store import VectorStore
from .tiers import ABSOLUTE_THRESHOLDS, TIER_NAMES, tier_ends

MIN_OVERFETCH = 32  # extra candidates fetched beyond K so dedup can still return K


def search(
    store: VectorStore,
    query_vector: np.ndarray,
    topk: int = 50,
    *,
    dedup: bool = True,
    near_dup_threshold: float | None = None,
    tier_policy: str = "quantile",
    tier_thresholds: tuple[float, float, float] = ABSOLUTE_THRESHOLDS,
) -> SearchResult:
    """Top-``topk`` of ``store`` for a (D,) query vector, with dedup and tiers.

    ``near_dup_threshold`` defaults to ``vistamatch.defaults.near_dup_threshold()`` (0.9995, or
    DEDUP_FEAT_SIM_TH). Fills ``timing_ms`` with ``search`` and ``dedup_filter``.
    """
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    threshold = defaults.near_dup_threshold() if near_dup_threshold is None else near_dup_threshold
    n = len(store)
    t0 = time.perf_counter()
    dedup_ms = 0.0
    fetch = min(n, topk + max(topk, MIN_OVERFETCH)) if dedup else min(n, topk)
    while True:
        rows, scores = store.search(query_vector, fetch)
        if not dedup:
            kept, removed = np.arange(len(rows)), 0
            break
        t1 = time.perf_counter()
        outcome = deduplicate(store.keys(rows), store.vectors(rows), topk, threshold=threshold)
        dedup_ms += (time.perf_counter() - t1) * 1e3
        kept, removed = outcome.kept, outcome.removed
        if len(kept) == topk or fetch >= n:
            break
        fetch = min(n, fetch * 4)  # too many duplicates: look deeper
    total_ms = (time.perf_counter() - t0) * 1e3

    rows, scores = rows[kept], scores[kept]
    names = store.keys(rows)
    hits = [Hit(rank=i + 1, score=float(s), filename=str(name), row=int(r)) for i, (r, s, name) in enumerate(zip(rows, scores, names))]
    ends = tier_ends(scores, tier_policy, tier_thresholds)
    starts = [0, *ends[:-1]]
    tiers = [Tier(name, hits[a:b]) for name, a, b in zip(TIER_NAMES, starts, ends) if b > a]
    return SearchResult(
        topk_requested=topk,
        dedup_enabled=dedup,
        duplicates_removed=removed,
        tiers=tiers,
        gallery_size=n,
        tier_policy=tier_policy,
        timing_ms={"search": total_ms - dedup_ms, "dedup_filter": dedup_ms},
    )
