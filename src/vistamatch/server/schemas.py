"""Pydantic models of the HTTP API (they are also the OpenAPI schema at /docs).

Search responses and history entries keep the original project's field names; additions are
`thumb_url` per item, `history_id`, `query_name`, `query_thumb_url` and `history_warning`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..defaults import TOPK_DEFAULT, TOPK_MAX, TOPK_MIN
from ..search.tiers import TIER_POLICIES

# A later page may start this deep; with dedup the candidates' Gram matrix grows with the square of
# offset + topk, so dedup pages stop earlier (10 000 rows: 100 MB).
OFFSET_MAX, OFFSET_MAX_DEDUP = 10_000_000, 10_000 - TOPK_MAX
TierPolicy = Literal["quantile", "absolute"]
assert set(TierPolicy.__args__) == set(TIER_POLICIES)


class TimingMs(BaseModel):
    """Milliseconds spent in each stage of one search."""

    preprocess: float
    embed: float
    search: float
    dedup_filter: float
    total: float


class ResultItem(BaseModel):
    rank: int = Field(description="1-based rank after dedup")
    score: float = Field(description="cosine similarity to the query")
    filename: str = Field(description="path relative to the gallery folder, '/'-separated (plain text, never HTML)")
    url: str = Field(description="full image: /gallery_images/<percent-encoded filename>")
    thumb_url: str | None = Field(None, description="256 px thumbnail: /thumbs/<percent-encoded filename>")


class Tier(BaseModel):
    name: str = Field(description="Perfect, Excellent, Good or Just-so-so")
    size: int
    score_max: float | None = None
    score_min: float | None = None
    avg_score: float | None = None
    items: list[ResultItem]


class PartialIndex(BaseModel):
    """Present while the gallery is still being indexed for the first time: results cover what is indexed."""

    indexed: int
    total: int
    message: str = Field(description='e.g. "partial: 120 of 5000 indexed"')


class SearchResult(BaseModel):
    """The result fields shared by a search response and a history entry."""

    query_name: str = Field(description="upload file name or gallery path of the query (plain text)")
    topk_requested: int
    topk_returned: int
    dedup_enabled: bool
    duplicates_removed: int
    gallery_size: int
    timing_ms: TimingMs
    tiers: list[Tier] = Field(description="best first: Perfect, Excellent, Good, Just-so-so; empty tiers may be left out")
    tier_policy: str | None = Field(None, description="how scores were split into tiers (quantile or absolute)")
    offset: int = Field(0, description="ranks skipped before this page (the first result's rank is offset + 1)")
    query_thumb_url: str | None = Field(None, description="small thumbnail of the query image, if stored")
    partial: PartialIndex | None = Field(None, description="set while the index covers only part of the gallery")
    query_vector_stored: bool = Field(False, description="the query's embedding is stored: POST /api/search/again can re-run it")


class SearchResponse(SearchResult):
    ok: bool = True
    project: str = "VistaMatch"
    history_id: str | None = Field(None, description="id of the history entry; null if it could not be saved")
    history_warning: str | None = Field(None, description="why the history entry was not saved, if it was not")


class HistoryEntry(SearchResult):
    # Entries written by other versions may carry more fields: keep them.
    model_config = ConfigDict(extra="allow")

    id: str
    ts: str = Field(description="local time of the search, ISO 8601 to the second")


class HistoryList(BaseModel):
    ok: bool = True
    items: list[HistoryEntry] = Field(description="newest first")
    total: int = Field(description="entries stored (items may be fewer because of limit)")
    warnings: list[str] = Field(default_factory=list, description="e.g. a corrupt file moved aside to a backup")


class HistoryEntryResponse(BaseModel):
    ok: bool = True
    entry: HistoryEntry


class HistoryDeleted(BaseModel):
    ok: bool = True
    deleted: str


class HistoryCleared(BaseModel):
    ok: bool = True
    removed: int


class SearchOptions(BaseModel):
    """What every search takes besides its query."""

    topk: int = Field(TOPK_DEFAULT, ge=TOPK_MIN, le=TOPK_MAX)
    dedup: bool = True
    tiers: TierPolicy = Field("quantile", description="quantile (by rank, the original) or absolute (by score)")
    offset: int = Field(0, ge=0, le=OFFSET_MAX, description="skip this many ranks: the next page")

    @model_validator(mode="after")
    def _dedup_depth(self) -> "SearchOptions":
        if self.dedup and self.offset > OFFSET_MAX_DEDUP:
            raise ValueError(f"with dedup, offset is at most {OFFSET_MAX_DEDUP}; turn dedup off to page deeper")
        return self


class SimilarRequest(SearchOptions):
    """Search again with an image of the gallery as the query."""

    path: str = Field(description="the `filename` of a result: path relative to the gallery folder")


class AgainRequest(SearchOptions):
    """Search again with the stored embedding of a history entry (no upload, no model run)."""

    history_id: str


class UrlRequest(SearchOptions):
    """Search with an image the server fetches from a web address."""

    url: str = Field(max_length=4096, description="http or https address of an image")


class TierInfo(BaseModel):
    name: str
    description: str


class PageConfig(BaseModel):
    """What the page needs to know: limits, defaults and tier names, from the server."""

    ok: bool = True
    topk_min: int = TOPK_MIN
    topk_max: int = TOPK_MAX
    topk_default: int = TOPK_DEFAULT
    offset_max: int = OFFSET_MAX
    offset_max_dedup: int = OFFSET_MAX_DEDUP
    max_upload_bytes: int
    tier_names: list[str] = Field(description="best first")
    tier_policies: list[TierInfo]
    tier_policy_default: str
    absolute_thresholds: list[float] = Field(description="minimum score of Perfect, Excellent, Good under the absolute policy")
    url_queries: bool = Field(description="POST /api/search/url is available")


class Stats(BaseModel):
    ok: bool = True
    project: str = "VistaMatch"
    ready: bool = Field(description="model and index loaded; searches wait until then")
    load_error: str | None = Field(None, description="why loading failed, if it did")
    gallery_dir: str
    gallery_size: int | None = None
    dim: int | None = Field(None, description="embedding dimension")
    weights: str | None = Field(None, description="weights file in use")
    weights_fingerprint: str | None = None
    model_backend: str | None = Field(None, description="who runs the model: mkl or numpy (the NumPy embedder's kernels), or torch")
    index_built_at: str | None = Field(None, description="when the index was last built or updated (ISO 8601)")
    index_build_seconds: float | None = Field(None, description="how long the last build/update in this process took")
    store: str | None = Field(None, description="vector store searched: exact or ann (approximate)")
    store_description: str | None = Field(
        None, description="how exact the search is, e.g. 'approximate: 99.7 % of exact top-50, measured on 1,000 of your images'"
    )
    searches_served: int = Field(description="searches answered since this server started")
    history_size: int
    history_max_len: int
    history_warnings: list[str] = Field(default_factory=list)
    max_upload_bytes: int


class Health(BaseModel):
    ok: bool = True
    ready: bool


class ErrorResponse(BaseModel):
    ok: bool = False
    error: str = Field(description="one readable line for the user")
    detail: object | None = Field(None, description="FastAPI's detail (validation errors list for 422)")


class DuplicateMember(BaseModel):
    path: str = Field(description="gallery-relative path (plain text, never HTML)")
    similarity: float = Field(description="cosine to the group's keeper (1.0 for the keeper)")
    exact: bool = Field(description="the same bytes as the keeper (content hash)")
    size: int = Field(description="bytes")
    mtime_ns: int
    width: int | None = None
    height: int | None = None
    url: str
    thumb_url: str


class DuplicateGroupOut(BaseModel):
    keeper: DuplicateMember = Field(description="the file the keeper rule keeps")
    duplicates: list[DuplicateMember] = Field(description="closest first")
    reclaimable_bytes: int


class Histogram(BaseModel):
    edges: list[float]
    counts: list[int] = Field(description="images whose nearest neighbour scores in each bin")


class DuplicatesResponse(BaseModel):
    ok: bool = True
    threshold: float
    gallery_size: int
    group_count: int = Field(description="all groups (groups holds offset..offset+limit of them)")
    duplicate_count: int
    reclaimable_bytes: int = Field(description="bytes in the duplicates of all groups")
    offset: int
    groups: list[DuplicateGroupOut]
    nearest_histogram: Histogram
    cache: str = Field(description="neighbour graph: hit, missing, stale, corrupt or off")
    graph_seconds: float
    missing: list[str] = Field(description="indexed files no longer in the gallery, left out")
    notes: list[str]


class TrashGroup(BaseModel):
    keeper: str = Field(description="the file kept; never moved")
    move: list[str] = Field(description="duplicates of the keeper to move to the trash", max_length=10000)


class TrashRequest(BaseModel):
    groups: list[TrashGroup] = Field(max_length=100000)
    dry_run: bool = False


class Refusal(BaseModel):
    path: str
    reason: str


class TrashResponse(BaseModel):
    ok: bool = True
    batch: str | None = Field(description="the batch id (undo names it); null when nothing moved")
    state: str | None = Field(description="moving, moved, restoring or restored")
    done: list[str] = Field(description="paths moved (or restored, or that would move in a dry run)")
    refused: list[Refusal] = Field(description="left in place, with the reason")
    dry_run: bool


class UndoRequest(BaseModel):
    batch: str | None = Field(None, description="the batch to undo; default the newest not restored")


class TrashEntry(BaseModel):
    path: str
    keeper: str
    size: int
    similarity: float


class TrashBatch(BaseModel):
    id: str
    created: str
    state: str
    count: int
    bytes: int
    entries: list[TrashEntry]


class TrashBatches(BaseModel):
    ok: bool = True
    batches: list[TrashBatch] = Field(description="newest first")
    warnings: list[str] = Field(description="unreadable journals set aside")


class SkippedFileInfo(BaseModel):
    path: str
    reason: str


class IndexState(BaseModel):
    """GET /api/index: where the gallery's index stands."""

    ok: bool = True
    state: str = Field(description="loading, indexing (a build runs), watching (up to date, watching the gallery) or idle")
    watching: bool = Field(description="the server follows changes to the gallery")
    indexed: int = Field(description="files settled in the current or last build (indexed or skipped)")
    total: int = Field(description="files found in the gallery")
    searchable: int = Field(description="images in the index searches use now")
    images_per_second: float | None = Field(None, description="embedding speed of the running or last build")
    eta_seconds: float | None = Field(None, description="estimated time left of the running build")
    skipped_count: int = 0
    skipped: list[SkippedFileInfo] | None = Field(None, description="with ?skipped=1: the skipped files and why (at most 1000)")
    last_update: str | None = Field(None, description="when the index last changed (ISO 8601)")
    generation: int | None = Field(None, description="the committed generation searches use")
    error: str | None = Field(None, description="why the last update failed, if it did")
    structure: str | None = Field(None, description="'training' while the approximate structure is trained in the background")
    structure_note: str | None = Field(None, description="what the last background training of the structure did")
    store: str | None = Field(None, description="how searches run now: the exact scan, or the approximate store and its measured recall")
