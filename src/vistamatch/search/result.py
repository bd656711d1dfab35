"""Search results as dataclasses; ``SearchResult.to_dict()`` is the original API's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Hit:
    rank: int  # 1-based, after dedup
    score: float  # cosine similarity
    filename: str  # gallery-relative path, '/'-separated
    row: int  # row in the index

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "score": round(self.score, 6), "filename": self.filename}


@dataclass(frozen=True)
class Tier:
    name: str
    items: list[Hit]

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def score_max(self) -> float:
        return max(h.score for h in self.items)

    @property
    def score_min(self) -> float:
        return min(h.score for h in self.items)

    @property
    def avg_score(self) -> float:
        return sum(h.score for h in self.items) / len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "score_max": round(self.score_max, 6),
            "score_min": round(self.score_min, 6),
            "avg_score": round(self.avg_score, 6),
            "items": [h.to_dict() for h in self.items],
        }


@dataclass
class SearchResult:
    topk_requested: int
    dedup_enabled: bool
    duplicates_removed: int
    tiers: list[Tier]  # non-empty tiers, best first
    gallery_size: int
    tier_policy: str = "quantile"
    timing_ms: dict[str, float] = field(default_factory=dict)  # preprocess, embed, search, dedup_filter, total
    pending: int = 0  # gallery files not indexed yet (a first build still running): the results are partial

    @property
    def partial(self) -> dict[str, Any] | None:
        """{indexed, total, message} while the index is partial, else None."""
        if not self.pending:
            return None
        total = self.gallery_size + self.pending
        return {"indexed": self.gallery_size, "total": total, "message": f"partial: {self.gallery_size} of {total} indexed"}
    offset: int = 0  # results before this rank are left out (a later page)
    query_vector: np.ndarray | None = field(default=None, repr=False)  # (D,) unit query, to search again

    def page(self, offset: int) -> "SearchResult":
        """The results after the first ``offset`` ranks (tiers as split over the whole list), and the page's K."""
        tiers = [Tier(t.name, [h for h in t.items if h.rank > offset]) for t in self.tiers]
        return SearchResult(
            topk_requested=self.topk_requested - offset,
            dedup_enabled=self.dedup_enabled,
            duplicates_removed=self.duplicates_removed,
            tiers=[t for t in tiers if t.items],
            gallery_size=self.gallery_size,
            tier_policy=self.tier_policy,
            timing_ms=self.timing_ms,
            offset=offset,
            query_vector=self.query_vector,
            pending=self.pending,
        )

    @property
    def hits(self) -> list[Hit]:
        """All results in rank order."""
        return [h for t in self.tiers for h in t.items]

    @property
    def topk_returned(self) -> int:
        return sum(t.size for t in self.tiers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "topk_requested": self.topk_requested,
            "topk_returned": self.topk_returned,
            "dedup_enabled": self.dedup_enabled,
            "duplicates_removed": self.duplicates_removed,
            "tier_policy": self.tier_policy,
            "offset": self.offset,
            "tiers": [t.to_dict() for t in self.tiers],
            "timing_ms": {k: round(v, 3) for k, v in self.timing_ms.items()},
            "gallery_size": self.gallery_size,
            **({"partial": self.partial} if self.pending else {}),
        }
