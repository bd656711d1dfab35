"""``SearchEngine``: preprocessing + model + index, the one object the CLI and the server search with."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import VistaMatchError
from ..imaging import PreprocessConfig, load_and_preprocess
from .core import search
from .result import SearchResult
from .store import l2_normalize
from .tiers import ABSOLUTE_THRESHOLDS

if TYPE_CHECKING:
    from ..index import GalleryIndex


class SearchEngine:
    """Searches ``index`` with images embedded by ``model``.

    ``preprocess`` defaults to the settings the index was built with; an index built with other weights
    or preprocessing raises IndexMismatchError here, before any search. The search itself only reads
    the store; concurrent ``search_image`` calls are as thread-safe as the model's forward pass.
    """

    def __init__(
        self,
        model,
        index: GalleryIndex,
        preprocess: PreprocessConfig | None = None,
        *,
        near_dup_threshold: float | None = None,
        tier_policy: str = "quantile",
        tier_thresholds: tuple[float, float, float] = ABSOLUTE_THRESHOLDS,
    ):
        if preprocess is None:
            preprocess = PreprocessConfig(**index.preprocess) if index.preprocess else PreprocessConfig()
        index.check(model, preprocess)
        self.model = model
        self.index = index
        self.preprocess = preprocess
        self.near_dup_threshold = near_dup_threshold
        self.tier_policy = tier_policy
        self.tier_thresholds = tier_thresholds

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
    ) -> SearchResult:
        """Search with an image file or uploaded bytes; ``timing_ms`` has preprocess, embed, search, dedup_filter, total."""
        t0 = time.perf_counter()
        vector, timing = self._embed(source, name)
        result = self.search_vector(vector, topk=topk, dedup=dedup, tier_policy=tier_policy)
        result.timing_ms = {**timing, **result.timing_ms, "total": (time.perf_counter() - t0) * 1e3}
        return result

    def search_vector(
        self, vector: np.ndarray, *, topk: int = 50, dedup: bool = True, tier_policy: str | None = None
    ) -> SearchResult:
        """Search with a (D,) query vector (normalised here)."""
        t0 = time.perf_counter()
        result = search(
            self.index.store,
            vector,
            topk,
            dedup=dedup,
            near_dup_threshold=self.near_dup_threshold,
            tier_policy=tier_policy or self.tier_policy,
            tier_thresholds=self.tier_thresholds,
        )
        result.timing_ms["total"] = (time.perf_counter() - t0) * 1e3
        return result

    def search_similar(self, relative_path: str, *, topk: int = 50, dedup: bool = True, tier_policy: str | None = None) -> SearchResult:
        """Search with a gallery image's stored embedding (no decoding, no model run)."""
        row = self.index.store.row_of(relative_path)
        if row is None:
            raise VistaMatchError(f"not in the index: {relative_path}")
        return self.search_vector(self.index.store.vectors(np.array([row]))[0], topk=topk, dedup=dedup, tier_policy=tier_policy)

    def _embed(self, source, name) -> tuple[np.ndarray, dict[str, float]]:
        t0 = time.perf_counter()
        pixels = load_and_preprocess(source, self.preprocess, name=name)  # (1, 3, H, W)
        t1 = time.perf_counter()
        vector = l2_normalize(self.model(pixels))[0]  # (D,)
        t2 = time.perf_counter()
        return vector, {"preprocess": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3}
