"""Pydantic models of the HTTP API (they are also the OpenAPI schema at /docs).

Search responses and history entries keep the original project's field names; additions are
`thumb_url` per item, `history_id`, `query_name`, `query_thumb_url` and `history_warning`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

TOPK_MIN, TOPK_MAX, TOPK_DEFAULT = 1, 200, 50


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
    query_thumb_url: str | None = Field(None, description="small thumbnail of the query image, if stored")


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


class SimilarRequest(BaseModel):
    """Search again with an image of the gallery as the query."""

    path: str = Field(description="the `filename` of a result: path relative to the gallery folder")
    topk: int = Field(TOPK_DEFAULT, ge=TOPK_MIN, le=TOPK_MAX)
    dedup: bool = True


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
