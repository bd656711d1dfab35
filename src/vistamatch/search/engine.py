"""``SearchEngine``: preprocessing + embedder + index, the one object the CLI and the server search with."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import VistaMatchError
from ..imaging import DecodedImage, PreprocessConfig, decoding, draft_size_for, preprocess_decoded
from .core import search
from .result import SearchResult
from .store import l2_normalize
from .tiers import ABSOLUTE_THRESHOLDS

if TYPE_CHECKING:
    from ..index import GalleryIndex


@dataclass(frozen=True)
class PreparedQuery:
    """A query image decoded once: its model input, and what ``also`` made from the same decode."""

    pixels: np.ndarray  # (1, 3, H, W)
    preprocess_ms: float
    also: Any = None


class SearchEngine:
    """Searches ``index`` with images embedded by ``embedder`` (embed/; a bare model is wrapped in a
    NumpyEmbedder).

    ``preprocess`` defaults to the settings the index was built with; an index built with other weights
    or preprocessing raises IndexMismatchError here, before any search. The search itself only reads
    the store; concurrent ``search_image`` calls are as thread-safe as the model's forward pass.

    An image query goes decoding -> model input (``prepare``, no model) -> embedding and search
    (``search_prepared``), so a caller can make more from the one decode and lock only the model run.
    ``decode_budget`` bounds the decode's memory (None: $VISTAMATCH_DECODE_BUDGET_MB).
    """

    def __init__(
        self,
        embedder,
        index: GalleryIndex,
        preprocess: PreprocessConfig | None = None,
        *,
        near_dup_threshold: float | None = None,
        tier_policy: str = "quantile",
        tier_thresholds: tuple[float, float, float] = ABSOLUTE_THRESHOLDS,
        decode_budget: int | None = None,
    ):
        if preprocess is None:
            preprocess = PreprocessConfig(**index.preprocess) if index.preprocess else PreprocessConfig()
        from ..embed.load import as_embedder  # embed/ imports index/, which imports search/

        self.embedder = as_embedder(embedder)
        index.check(self.embedder, preprocess)
        self.index = index
        self.preprocess = preprocess
        self.near_dup_threshold = near_dup_threshold
        self.tier_policy = tier_policy
        self.tier_thresholds = tier_thresholds
        self.decode_budget = decode_budget

    @property
    def gallery_size(self) -> int:
        return self.index.size

    def search_image(
        self,
        source: str | os.PathLike | bytes,
        *,
        topk: int = 50,
        dedup: bool = True,
        name: str | None = None,
        tier_policy: str | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """Search with an image file or uploaded bytes; ``timing_ms`` has preprocess, embed, search, dedup_filter, total."""
        return self.search_prepared(self.prepare(source, name=name), topk=topk, dedup=dedup, tier_policy=tier_policy, offset=offset)

    def prepare(
        self, source: str | os.PathLike | bytes, *, name: str | None = None, also: Callable[[DecodedImage], Any] | None = None
    ) -> PreparedQuery:
        """Decode ``source`` once into the model input; ``also(decoded)`` runs on the same decoded image."""
        t0 = time.perf_counter()
        with decoding(source, name=name, draft_size=draft_size_for(self.preprocess), budget=self.decode_budget) as decoded:
            pixels = preprocess_decoded(decoded, self.preprocess)
            extra = also(decoded) if also is not None else None
        return PreparedQuery(pixels, (time.perf_counter() - t0) * 1e3, extra)

    def search_prepared(
        self, query: PreparedQuery, *, topk: int = 50, dedup: bool = True, tier_policy: str | None = None, offset: int = 0
    ) -> SearchResult:
        """Embed a prepared query and search with it (the model run: serialise this if the model is shared)."""
        t0 = time.perf_counter()
        vector = self.embedder.embed(query.pixels)[0]  # (D,) unit length
        embed_ms = (time.perf_counter() - t0) * 1e3
        result = self.search_vector(vector, topk=topk, dedup=dedup, tier_policy=tier_policy, offset=offset)
        total = query.preprocess_ms + (time.perf_counter() - t0) * 1e3
        result.timing_ms = {"preprocess": query.preprocess_ms, "embed": embed_ms, **result.timing_ms, "total": total}
        return result

    def search_vector(
        self, vector: np.ndarray, *, topk: int = 50, dedup: bool = True, tier_policy: str | None = None, offset: int = 0
    ) -> SearchResult:
        """Search with a (D,) query vector (normalised here); ``offset`` skips the first ranks (a later page).

        Ranks and tiers are those of the top ``offset + topk`` list, so pages join up.
        """
        t0 = time.perf_counter()
        vector = l2_normalize(np.asarray(vector, dtype=np.float32)[None, :])[0]
        result = search(
            self.index.store,
            vector,
            offset + topk,
            dedup=dedup,
            near_dup_threshold=self.near_dup_threshold,
            tier_policy=tier_policy or self.tier_policy,
            tier_thresholds=self.tier_thresholds,
        )
        result.timing_ms["total"] = (time.perf_counter() - t0) * 1e3
        result.pending = self.index.manifest.pending if self.index.manifest else 0
        result.query_vector = vector
        return result.page(offset) if offset else result

    def search_similar(
        self, relative_path: str, *, topk: int = 50, dedup: bool = True, tier_policy: str | None = None, offset: int = 0
    ) -> SearchResult:
        """Search with a gallery image's stored embedding (no decoding, no model run)."""
        row = self.index.store.row_of(relative_path)
        if row is None:
            raise VistaMatchError(f"not in the index: {relative_path}")
        return self.search_vector(self.index.store.vectors(np.array([row]))[0], topk=topk, dedup=dedup, tier_policy=tier_policy, offset=offset)
