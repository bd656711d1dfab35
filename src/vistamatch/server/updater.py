"""The live index: build in the background, watch the gallery, and swap in each new generation.

Used when ``settings.watch`` is on. One thread owns the index: it loads the model, publishes the committed index (if any) at once, then
runs an incremental ``build_index`` that commits what it has embedded every ``commit_seconds``, so a
new gallery is searchable while it is first indexed. Each commit is opened and published to the
search service: a search uses one published engine from start to end, so it sees one generation.

A second thread follows the gallery with watchfiles (the system's file events, or
polling for network drives: ``watch_poll``). Changes wake the index thread, which waits for a quiet
``watch_debounce_seconds`` and for the changed files to stop growing (a copy in progress), then runs
the incremental build again: only new and changed files are embedded, deleted ones dropped.

The approximate structure is never trained inside those builds (``retrain="later"``): a build keeps
the committed one updated in place, or commits the exact scan, and marks the store pending; a third
thread then trains a new structure from the committed rows (``store.retrain_structure``) while
searches go on with the old structure or the exact scan, and publishes the index once it is committed.

The model is shared: the build runs it through ``_TurnTakingEmbedder``, taking turns (``turns.py``) with
the searches' model runs, searches first: a search waits for one build batch at most.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import VistaMatchError
from ..imaging import IMAGE_EXTENSIONS
from .service import LoadedEngine, index_paths_of, load_settings_embedder, open_loaded, usable_index
from .settings import Settings
from .turns import ModelTurns

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5  # a file that changed since its last event is checked again after this, until it stops
SETTLE_LIMIT_SECONDS = 60.0  # a file still growing after this is indexed as it is (and again when it changes)
SKIPPED_LISTED = 1000  # /api/index?skipped=1 lists at most this many
RETRY_SECONDS = 5.0  # after another process held the index lock too long
LIVE_BATCH_SIZE = 1  # images per model call of a background build: what a search may wait behind


@dataclass
class IndexStatus:
    """What GET /api/index reports."""

    state: str = "loading"  # loading, indexing, watching, idle
    indexed: int = 0
    total: int = 0
    images_per_second: float | None = None
    eta_seconds: float | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    last_update: str | None = None
    generation: int | None = None
    error: str | None = None
    structure: str | None = None  # "training" while the approximate structure is trained in the background
    structure_note: str | None = None  # what the last background training did


class _Stopped(Exception):
    """Raised into a running build when the server stops."""


class _TurnTakingEmbedder:
    """The embedder as the build runs it: each batch waits its turn, after any search that waits."""

    def __init__(self, embedder, turns: ModelTurns):
        self._embedder, self._turns = embedder, turns

    def __getattr__(self, name):  # name, fingerprint, config, dim, device, describe, ...
        return getattr(self._embedder, name)

    def embed(self, batch):
        with self._turns.background():
            return self._embedder.embed(batch)


class IndexUpdater:
    def __init__(self, settings: Settings, publish: Callable[[LoadedEngine], None], *, model=None):
        """``model``: (EmbedderSpec, Embedder) already loaded, else loaded by the index thread."""
        self.settings = settings
        self._publish = publish
        self.paths = index_paths_of(settings)
        self.model_turns = ModelTurns()  # shared by every published engine and the build
        self._first: Future[LoadedEngine] = Future()
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._events_lock = threading.Lock()
        self._changed: dict[str, tuple[int, int]] = {}  # changed file -> (size, mtime_ns) when its event came
        self._last_event = 0.0
        self._status_lock = threading.Lock()
        self._status = IndexStatus()
        self._threads: list[threading.Thread] = []
        self._publish_lock = threading.Lock()  # the index and training threads publish in commit order
        self._training: threading.Thread | None = None
        self._spec, self._embedder = model or (None, None)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="vistamatch-index", daemon=True)
        self._threads.append(thread)
        thread.start()

    def first_engine(self) -> LoadedEngine:
        """Blocks until the first committed index is published (or loading failed: raises why)."""
        return self._first.result()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def status(self) -> IndexStatus:
        with self._status_lock:
            return IndexStatus(**vars(self._status))

    def _set(self, **changes) -> None:
        with self._status_lock:
            for key, value in changes.items():
                setattr(self._status, key, value)

    # -- the index thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._embedder is None:
                self._spec, self._embedder = load_settings_embedder(self.settings)
        except BaseException as exc:  # no weights: reported to every search
            self._first.set_exception(exc)
            self._set(state="idle", error=str(exc))
            return
        if usable_index(self.paths):
            try:
                self._open_and_publish()  # searches answer at once, on the last committed index
            except VistaMatchError as exc:  # e.g. built with other weights: the build below redoes it
                log.warning("%s", exc)
        watcher = threading.Thread(target=self._watch, name="vistamatch-watch", daemon=True)
        self._threads.append(watcher)
        watcher.start()  # before the build: what changes meanwhile is updated right after it
        while not self._stop.is_set():
            if not self._update():  # another process holds the index lock: try again soon
                self._stop.wait(RETRY_SECONDS)
            elif not self._wait_for_changes():
                break
        self._set(state="idle")

    def _update(self) -> bool:
        """One incremental build, its commits published; False when it should be tried again soon."""
        from ..index import build_index
        from ..index.files import LockTimeout
        from ..wiring import index_preprocess

        self._set(state="indexing", error=None)
        try:
            report = build_index(
                self.settings.gallery_dir,
                _TurnTakingEmbedder(self._embedder, self.model_turns),
                self.paths,
                index_preprocess(self.paths),  # the one the index was built with
                batch_size=LIVE_BATCH_SIZE,
                progress=False,
                lock_timeout=self.settings.index_lock_timeout,
                follow_outside_links=self.settings.follow_outside_links,
                commit_seconds=self.settings.commit_seconds,
                on_progress=self._on_progress,
                store=self.settings.store,
                retrain="later",  # trained by _train_in_background, not in this build
            )
        except _Stopped:  # the server is shutting down; the checkpoint keeps the work done
            return True
        except LockTimeout as exc:
            log.warning("%s; serving the last committed index meanwhile", exc)
            self._set(state="watching", error=str(exc))
            return False
        except (VistaMatchError, OSError) as exc:  # keep serving what is committed; tried again on the next change
            log.warning("index update failed: %s", exc)
            self._set(state="watching", error=str(exc))
            return True
        if report.set_aside:
            log.warning("index manifest %s", report.set_aside)
        log.info("%s", report.summary())
        if not self._first.done() or self._committed_generation() != self.status().generation:
            self._open_and_publish()  # not usable before, or committed by another process (another worker)
        self._set(
            state="watching",
            indexed=len(report.skipped) + report.total,
            total=len(report.skipped) + report.total,
            eta_seconds=None,
            skipped=[(r.path, r.reason or "") for r in report.skipped],
        )
        if (report.store or {}).get("retrain") == "pending":
            self._train_in_background()
        return True

    def _train_in_background(self) -> None:
        """Start training the pending approximate structure, unless a training runs (the next build asks again)."""
        if self._training is not None and self._training.is_alive():
            return
        self._set(structure="training")
        self._training = threading.Thread(target=self._train, name="vistamatch-train", daemon=True)
        self._threads.append(self._training)
        self._training.start()

    def _train(self) -> None:
        from ..index.store import retrain_structure

        try:
            note = retrain_structure(self.paths, lock_timeout=self.settings.index_lock_timeout)
        except Exception as exc:  # noqa: BLE001 - the committed structure (or the exact scan) keeps answering
            log.warning("training the approximate structure failed: %s", exc)
            self._set(structure=None, structure_note=f"training failed: {exc}")
            return
        if note:
            log.info("%s", note)
        try:
            if self._committed_generation() != self.status().generation:
                self._open_and_publish()
        finally:
            self._set(structure=None, structure_note=note)

    def _on_progress(self, progress) -> None:
        if self._stop.is_set():
            raise _Stopped
        rate = progress.embedded / progress.seconds if progress.seconds > 0 and progress.embedded else None
        left = progress.total - progress.done
        self._set(
            indexed=progress.done,
            total=progress.total,
            images_per_second=rate,
            eta_seconds=left / rate if rate and left else (0.0 if not left else None),
        )
        if progress.committed:
            self._open_and_publish()

    def _committed_generation(self) -> int | None:
        from ..index.manifest import BrokenManifestError, read_summary

        try:
            return read_summary(self.paths.manifest).generation
        except BrokenManifestError:
            return None

    def _open_and_publish(self) -> None:
        with self._publish_lock:
            loaded = open_loaded(self.settings, self._spec, self._embedder, lock=self.model_turns)
            manifest = loaded.engine.index.manifest
            self._publish(loaded)
            if not self._first.done():
                self._first.set_result(loaded)
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._set(generation=manifest.generation if manifest else None, last_update=now)

    # -- watching -------------------------------------------------------------------------------

    def _watch(self) -> None:
        """Record each relevant change and wake the index thread; falls back to polling if events fail."""
        from watchfiles import watch

        poll = self.settings.watch_poll
        while not self._stop.is_set():
            try:
                for changes in watch(
                    self.settings.gallery_dir,
                    watch_filter=self._relevant,
                    stop_event=self._stop,
                    force_polling=poll,
                    poll_delay_ms=500,
                    debounce=400,
                    step=50,
                    raise_interrupt=False,
                ):
                    sizes = _sizes({path for _, path in changes})
                    with self._events_lock:
                        self._changed.update(sizes)
                        self._last_event = time.monotonic()
                    self._dirty.set()
            except (OSError, RuntimeError) as exc:  # e.g. inotify watches exhausted
                if poll:
                    log.error("watching %s failed: %s", self.settings.gallery_dir, exc)
                    self._stop.wait(5)
                else:
                    log.warning("file events failed (%s); watching %s by polling", exc, self.settings.gallery_dir)
                    poll = True

    def _relevant(self, change, path: str) -> bool:
        """Images and folders outside hidden ones (the gallery's own .vistamatch/ index, .thumbs/, editors' files).

        Files of other kinds (the index's .npy, .json, .tmp, .lock when it lives in the gallery) are ignored.
        """
        try:
            rel = Path(path).relative_to(Path(self.settings.gallery_dir).resolve())
        except ValueError:
            rel = Path(os.path.relpath(path, self.settings.gallery_dir))
        if any(part.startswith(".") for part in rel.parts):
            return False
        suffix = rel.suffix.lower()
        return suffix in IMAGE_EXTENSIONS or os.path.isdir(path) or (not suffix and not os.path.exists(path))

    def _wait_for_changes(self) -> bool:
        """Until a change has settled: quiet for the debounce time, changed files no longer growing.

        Returns False when stopped.
        """
        while not self._dirty.wait(0.5):
            if self._stop.is_set():
                return False
        while True:  # a quiet period after the last event
            with self._events_lock:
                quiet_at = self._last_event + self.settings.watch_debounce_seconds
            if time.monotonic() >= quiet_at:
                break
            if self._stop.wait(quiet_at - time.monotonic()):
                return False
        self._dirty.clear()
        with self._events_lock:
            changed, self._changed = self._changed, {}
        return self._settle(changed)

    def _settle(self, seen: dict[str, tuple[int, int]]) -> bool:
        """Wait while a changed file still grows without events (a copy seen by polling), up to SETTLE_LIMIT_SECONDS."""
        deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
        while (now := _sizes(set(seen))) != seen and time.monotonic() < deadline:
            if self._stop.wait(SETTLE_SECONDS):
                return False
            seen = now
        return not self._stop.is_set()


def _sizes(paths: set[str]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each path that is a file now."""
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            out[path] = (st.st_size, st.st_mtime_ns)
    return out
