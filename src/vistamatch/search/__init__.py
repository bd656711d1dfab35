"""The search core the CLI and the server share: top-K, dedup, tiers, and the engine that feeds them.

Public API (stable names)::

    search(store, query_vector, topk=50, *, dedup=True, near_dup_threshold=None,
           tier_policy="quantile", tier_thresholds=ABSOLUTE_THRESHOLDS) -> SearchResult
    SearchEngine(model, index, preprocess=None, *, near_dup_threshold=None, tier_policy="quantile")
        .search_image(source: path | bytes, *, topk=50, dedup=True, name=None, tier_policy=None) -> SearchResult
        .prepare(source, *, name=None, also=None) -> PreparedQuery   # the one decode: model input (+ also(decoded))
        .search_prepared(query, *, topk=50, dedup=True, tier_policy=None) -> SearchResult   # embed + search
        .search_vector(vector, *, topk=50, dedup=True, tier_policy=None) -> SearchResult
        .search_similar(relative_path, *, topk=50, dedup=True) -> SearchResult   # by a gallery image
    SearchResult: .hits, .tiers, .topk_returned, .duplicates_removed, .timing_ms, .gallery_size, .to_dict()
    Tier(name, items): .size, .score_max, .score_min, .avg_score;  Hit(rank, score, filename, row)
    VectorStore (protocol: search, search_many, row_of, keys, vectors, exact, len, dim), NumpyStore (exact,
    memory-mapped); search.ann: AnnStore (approximate, re-scored exactly), choose_kind, StructureMismatch;
    search.recall: measure_recall, tune_effort, describe
    TIER_NAMES, TIER_POLICIES, tier_ends(scores, policy)

``SearchResult.to_dict()`` is the original API's shape: ok, topk_requested, topk_returned, dedup_enabled,
duplicates_removed, tier_policy, tiers [name, size, score_max, score_min, avg_score,
items [rank, score, filename]], timing_ms {preprocess, embed, search, dedup_filter, total}, gallery_size.
Only non-empty tiers are listed, best first; ``filename`` is the gallery-relative path.
"""

from .core import search
from .engine import PreparedQuery, SearchEngine
from .result import Hit, SearchResult, Tier
from .store import NumpyStore, VectorStore, l2_normalize
from .tiers import ABSOLUTE_THRESHOLDS, TIER_NAMES, TIER_POLICIES, tier_ends

__all__ = [
    "ABSOLUTE_THRESHOLDS",
    "TIER_NAMES",
    "TIER_POLICIES",
    "Hit",
    "NumpyStore",
    "PreparedQuery",
    "SearchEngine",
    "SearchResult",
    "Tier",
    "VectorStore",
    "l2_normalize",
    "search",
    "tier_ends",
]
