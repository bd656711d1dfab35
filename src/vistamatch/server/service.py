"""The search service: the loaded model and index, and searches run off the event loop.

Loading (weights, then building or updating the index, then opening it) happens once, on a
background thread, so the app answers the page, history and stats at once; searches wait for it.
Searches run in worker threads of the threadpool, one model run at a time (the engine's lock,
``turns.ModelTurns``, shared with a background build, which yields to searches): the model is not assumed thread safe, and its matrix products use every core anyway. An uploaded image is
decoded once, outside that lock: the model input and the query's thumbnail come from that one decode,
whose memory the decode budget bounds (imaging/budget.py).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from fastapi.concurrency import run_in_threadpool

from ..errors import ImageLoadError, VistaMatchError
from ..imaging import DecodedImage
from .settings import Settings
from .thumbs import make_thumbnail, thumbnail_of
from .turns import ModelTurns

if TYPE_CHECKING:
    from ..search import SearchEngine, SearchResult
    from .schemas import SearchOptions

Thumbnail = bytes | None  # WebP bytes of the query, None when it could not be made

log = logging.getLogger(__name__)


@dataclass
class LoadedEngine:
    """A ready SearchEngine and what /api/stats tells about it."""

    engine: "SearchEngine"
    weights: str
    fingerprint: str | None
    model_backend: str  # "mkl" or "numpy"
    dim: int
    gallery_size: int
    built_at: str | None  # from the index manifest
    build_seconds: float | None  # build/update time in this process, if one ran
    store: str = "exact"  # the vector store searched: "exact" or "ann"
    store_description: str | None = None  # e.g. "approximate: 99.7 % of exact top-50, measured on 1,000 of your images"
    lock: ModelTurns = field(default_factory=ModelTurns)  # one model run at a time (shared with a background build)

    def with_index(self, index) -> "LoadedEngine":
        """The same embedder and options on another opened index (a new generation to publish)."""
        engine = copy.copy(self.engine)
        engine.index = index
        return replace(self, engine=engine, **_index_facts(index))


def _index_facts(index) -> dict:
    """What /api/stats tells about an opened index."""
    return {
        "dim": index.dim,
        "gallery_size": index.size,
        "built_at": index.manifest.built_at if index.manifest else None,
        "store": "exact" if index.store.exact else "ann",
        "store_description": index.store_description,
    }


class StaleQuery(VistaMatchError):
    """A stored query embedding from other weights than the loaded ones (answered 409)."""


class ServiceUnavailable(VistaMatchError):
    """The model or index could not be loaded; searches answer 503 with this message."""


def load_engine(settings: Settings, *, progress: bool = False, publish: Callable[[LoadedEngine], None] | None = None) -> LoadedEngine:
    """Weights (fetched on first use), the index built or updated if needed, then the engine.

    The build waits for another process building the same index (several server workers queue);
    one that waits past ``index_lock_timeout`` serves the last committed index instead, or, when
    there is none yet, waits again (logging who holds the lock each time). An index of the original
    project gets its approximate structure grown: with ``publish``, on a thread while the exact scan
    answers, the index then published again; without, before the engine is returned.
    """
    spec, embedder = load_settings_embedder(settings)
    paths = index_paths_of(settings)
    build_seconds = None
    if settings.update_index or not usable_index(paths):
        start = time.perf_counter()
        _build(settings, spec, embedder, paths, progress)
        build_seconds = time.perf_counter() - start
    if publish is None:
        _grow_structure(settings, paths)
    else:
        def grow_then_publish() -> None:
            if _grow_structure(settings, paths):
                publish(open_loaded(settings, spec, embedder, build_seconds=build_seconds))

        threading.Thread(target=grow_then_publish, name="vistamatch-grow", daemon=True).start()
    return open_loaded(settings, spec, embedder, build_seconds=build_seconds)


def load_settings_embedder(settings: Settings):
    """(EmbedderSpec, Embedder) of ``settings``: the weights resolved (None: $WEIGHTS_PATH or the default file) and loaded."""
    from ..wiring import embedder_spec

    spec = embedder_spec(
        settings.weights, kind=settings.embedder, device=settings.device, dtype=settings.dtype,
        num_attention_heads=settings.num_attention_heads,
    )  # fmt: skip
    return spec, spec.load()


def index_paths_of(settings: Settings):
    from ..index import IndexPaths

    return IndexPaths(settings.features_path, settings.mapping_path, settings.manifest_path)


def open_loaded(settings: Settings, spec, embedder, *, build_seconds=None, lock: ModelTurns | None = None) -> LoadedEngine:
    """The committed index of ``settings`` opened for searching with ``embedder`` (``lock``: the model's, if shared)."""
    from ..wiring import open_engine

    engine = open_engine(
        embedder, index_paths_of(settings), gallery_dir=settings.gallery_dir, store=settings.store,
        near_dup_threshold=settings.near_dup_threshold, decode_budget=settings.decode_budget_bytes,
    )  # fmt: skip
    index = engine.index
    return LoadedEngine(
        engine=engine,
        weights=spec.weights,
        fingerprint=embedder.fingerprint,
        model_backend=embedder.model.backend if embedder.name == "numpy" else embedder.name,
        build_seconds=build_seconds,
        **_index_facts(index),
        **({"lock": lock} if lock is not None else {}),
    )


def _grow_structure(settings: Settings, paths) -> bool:
    """An index of the original project (no manifest) gets its approximate structure (a writer's job);
    True when one was written."""
    from ..index.files import LockTimeout
    from ..index.store import grow_structure

    try:
        done = grow_structure(paths, settings.store, lock_timeout=settings.index_lock_timeout)
    except LockTimeout as exc:  # another writer: it grows it, or the next start does
        log.warning("%s", exc)
        return False
    except Exception as exc:  # noqa: BLE001 - the exact scan keeps answering
        log.warning("growing the approximate structure failed: %s", exc)
        return False
    if done:
        log.info("%s", done)
    return done is not None and paths.structure.exists()


def usable_index(paths) -> bool:
    """Whether the index can be served as it is (present, its manifest readable)."""
    from ..index.manifest import BrokenManifestError, read_summary

    if not paths.exists():
        return False
    try:
        if paths.manifest.exists():
            read_summary(paths.manifest)
    except BrokenManifestError:
        return False
    return True


def _build(settings: Settings, spec, embedder, paths, progress: bool) -> None:
    from ..index.files import LockTimeout
    from ..wiring import update_index

    while True:
        try:
            report = update_index(  # keeps the preprocessing the index was built with
                settings.gallery_dir,
                spec,
                paths,
                embedder=embedder,
                progress=progress,
                lock_timeout=settings.index_lock_timeout,
                follow_outside_links=settings.follow_outside_links,
                store=settings.store,
            )
            break
        except LockTimeout as exc:
            if usable_index(paths):
                log.warning("%s; serving the last committed index", exc)
                return
            log.warning("%s; no committed index to serve yet: waiting again", exc)  # e.g. another worker's first build
    if report.set_aside:
        log.warning("index manifest %s", report.set_aside)
    log.info("%s", report.summary())


class SearchService:
    def __init__(self, loader: Callable[[], LoadedEngine], *, load_wait_seconds: float = 60.0):
        self._loader = loader
        self._load_wait_seconds = load_wait_seconds
        self._loaded: Future[LoadedEngine] = Future()
        self._current: LoadedEngine | None = None  # what searches use now: replaced by ``publish``
        self._count_lock = threading.Lock()
        self.searches_served = 0

    @classmethod
    def ready_with(cls, loaded: LoadedEngine) -> "SearchService":
        service = cls(lambda: loaded)
        service._current = loaded
        service._loaded.set_result(loaded)
        return service

    def publish(self, loaded: LoadedEngine) -> None:
        """Searches from now on use ``loaded`` (a new index generation); those running finish on theirs."""
        self._current = loaded

    def start(self) -> None:
        """Begin loading in the background (no-op if already loaded or loading)."""
        if self._loaded.done() or self._loaded.running():
            return
        self._loaded.set_running_or_notify_cancel()
        threading.Thread(target=self._load, name="vistamatch-load", daemon=True).start()

    def _load(self) -> None:
        try:
            loaded = self._loader()
        except BaseException as exc:  # reported to every search, and in /api/stats
            log.error("loading the model and index failed: %s", exc)
            self._loaded.set_exception(exc)
        else:
            log.info("ready: %d images, dim %d", loaded.gallery_size, loaded.dim)
            if self._current is None:
                self._current = loaded
            self._loaded.set_result(loaded)

    @property
    def ready(self) -> bool:
        return self._loaded.done() and self._loaded.exception() is None

    @property
    def load_error(self) -> str | None:
        if self._loaded.done() and self._loaded.exception() is not None:
            return str(self._loaded.exception()) or type(self._loaded.exception()).__name__
        return None

    @property
    def loaded(self) -> LoadedEngine | None:
        return self._current if self.ready else None

    async def wait_loaded(self) -> LoadedEngine:
        """The engine a search uses from start to end: one index generation, whatever is published meanwhile."""
        try:
            # shield: a request that gives up must not cancel the load for everyone else
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._loaded)), self._load_wait_seconds)
            return self._current
        except asyncio.TimeoutError:
            raise ServiceUnavailable("still loading the model and index (building it can take a while); try again soon") from None
        except Exception as exc:
            raise ServiceUnavailable(f"the search engine is not available: {exc}") from exc

    async def search(self, data: bytes, *, name: str, options: "SearchOptions", thumb_size: int) -> tuple["SearchResult", Thumbnail]:
        """Search with uploaded image bytes; also the query's thumbnail. Raises ImageLoadError for a bad image."""
        loaded = await self.wait_loaded()
        return self._counted(await run_in_threadpool(_search_image, loaded, data, name, options, thumb_size))

    async def search_gallery_image(
        self, relative: str, file: Path, *, options: "SearchOptions", thumb_size: int
    ) -> tuple["SearchResult", Thumbnail]:
        """Search with a gallery image: its stored embedding if indexed, else the file itself."""
        loaded = await self.wait_loaded()
        return self._counted(await run_in_threadpool(_search_gallery_image, loaded, relative, file, options, thumb_size))

    async def search_vector(self, vector, *, model: str | None, options: "SearchOptions") -> "SearchResult":
        """Search with a stored query embedding made by weights `model` (a fingerprint; None: not recorded).
        No model run, so no lock. Another model's embedding is refused: its scores would mean nothing."""
        loaded = await self.wait_loaded()
        if len(vector) != loaded.dim or (model is not None and loaded.fingerprint is not None and model != loaded.fingerprint):
            raise StaleQuery("this search was made with other weights than the index now uses: search with the image again")
        result = await run_in_threadpool(loaded.engine.search_vector, vector, **_engine_options(options))
        result.timing_ms = {"preprocess": 0.0, "embed": 0.0, **result.timing_ms}
        return self._counted((result, None))[0]

    def _counted(self, searched: tuple["SearchResult", Thumbnail]) -> tuple["SearchResult", Thumbnail]:
        with self._count_lock:
            self.searches_served += 1
        return searched


def _engine_options(options: "SearchOptions") -> dict:
    return {"topk": options.topk, "dedup": options.dedup, "tier_policy": options.tiers, "offset": options.offset}


def _search_image(
    loaded: LoadedEngine, source: bytes | Path, name: str, options: "SearchOptions", thumb_size: int
) -> tuple["SearchResult", Thumbnail]:
    engine = loaded.engine
    # The one decode of this request; no model run, so outside the lock.
    query = engine.prepare(source, name=name, also=partial(_query_thumbnail, size=thumb_size, name=name, budget=engine.decode_budget))
    with loaded.lock:
        return engine.search_prepared(query, **_engine_options(options)), query.also


def _search_gallery_image(
    loaded: LoadedEngine, relative: str, file: Path, options: "SearchOptions", thumb_size: int
) -> tuple["SearchResult", Thumbnail]:
    engine = loaded.engine
    if not (engine.index.relative_paths == relative).any():  # e.g. added after the index was built
        return _search_image(loaded, file, relative, options, thumb_size)
    result = engine.search_similar(relative, **_engine_options(options))  # no model run: no lock needed
    result.timing_ms = {"preprocess": 0.0, "embed": 0.0, **result.timing_ms}
    return result, _query_thumbnail(file, thumb_size, relative, engine.decode_budget)


def _query_thumbnail(source: DecodedImage | Path, size: int, name: str, budget: int | None) -> Thumbnail:
    """The query's thumbnail, from its decoded image or its file; the search stands without it."""
    try:
        if isinstance(source, DecodedImage):
            return thumbnail_of(source, size)
        return make_thumbnail(source, size, name=name, budget=budget)
    except (ImageLoadError, OSError, ValueError) as exc:
        log.info("no thumbnail for query %r: %s", name, exc)
        return None
