"""``build_index``: a gallery folder -> features, mapping and manifest; incremental and resumable.

A build reads only new or changed files (size or mtime differ from the manifest), embeds each distinct
content once (files are keyed by content hash, so renames and duplicates reuse an embedding), saves its
progress in checkpoints, and commits the three files together, with the approximate store's
structure when the index has one (``store.plan_store``). Rows are sorted by relative path, so
the result depends only on the folder's contents: an incremental, resumed or clean build give the same
index.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..embed.base import Embedder
from ..embed.load import as_embedder, embedder_key
from ..errors import VistaMatchError
from ..imaging import PreprocessConfig
from ..search.ann import choose_kind
from ..search.store import NumpyStore
from .agreement import check_embedder
from .checkpoint import CHECKPOINT_SECONDS, Checkpoint
from .files import DEFAULT_LOCK_TIMEOUT, IndexFiles
from .manifest import INDEXED, SKIPPED, FileRecord, Manifest, as_read_back
from .paths import IndexPaths
from .pipeline import Claims, Decoded, ShapeBatcher, decode_ahead, decode_processes_for
from .previous import PreviousIndex
from .scan import scan_gallery
from .store import plan_store


@dataclass
class BuildReport:
    gallery_dir: Path
    total: int = 0  # images in the index now
    seen: int = 0  # files found in the gallery: total + skipped
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    embedded: int = 0  # contents run through the model in this build
    reused: int = 0  # new or changed files whose embedding already existed (renames, duplicates, resumed work)
    resumed: int = 0  # embeddings recovered from an interrupted build
    duplicates: int = 0  # indexed files whose content equals an earlier file's
    skipped: list[FileRecord] = field(default_factory=list)
    written: bool = False  # False when the index on disk was already up to date
    set_aside: str | None = None  # a broken manifest moved aside before rebuilding (a warning to show)
    embed_seconds: float = 0.0  # reading, decoding and embedding
    seconds: float = 0.0
    note: str | None = None
    store: dict | None = None  # manifest.store: the vector store kind built, its recall
    crawl: object | None = None  # a Ray build's URL list: its crawler.CrawlReport (ray_crawl.py)

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        """Each file seen counted once: new, changed or unchanged if indexed, else skipped; and removed."""
        skipped = {f.path for f in self.skipped}
        new = sum(path not in skipped for path in self.added)
        changed = sum(path not in skipped for path in self.changed)
        return {"new": new, "changed": changed, "unchanged": self.total - new - changed, "skipped": len(skipped),
                "removed": len(self.removed)}

    def summary(self) -> str:
        c = self.counts()
        lines = [
            f"indexed {self.total} images from {self.gallery_dir}",
            (
                f"  new {c['new']}, changed {c['changed']}, unchanged {c['unchanged']}, skipped {c['skipped']}"
                f" (= {self.seen} files seen); removed {c['removed']}"
            ),
            (
                f"  embedded {self.embedded} ({self.images_per_second:.1f} images/s), reused {self.reused} "
                f"(renames, duplicates, resumed {self.resumed}), duplicate files {self.duplicates}"
            ),
            f"  {'written' if self.written else 'already up to date'} in {self.seconds:.1f} s",
        ]
        if self.note:
            lines.insert(1, f"  note: {self.note}")
        if self.store:
            lines.append(f"  store: {_store_line(self.store)}")
        lines += [f"  skipped {f.path}: {f.reason}" for f in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class BuildProgress:
    """Where a running build stands, given to ``on_progress`` after each model call and each commit."""

    done: int  # files settled so far: unchanged, read and embedded (or skipped)
    total: int  # files found in the gallery
    embedded: int  # contents run through the model so far
    seconds: float  # since reading began
    committed: bool = False  # a partial commit (see ``commit_seconds``) has just landed


def build_index(
    gallery_dir: str | os.PathLike,
    embedder: Embedder,
    paths: IndexPaths,
    preprocess: PreprocessConfig | None = None,
    *,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    follow_outside_links: bool = False,
    commit_seconds: float | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
    store: str = "auto",
    retrain: str = "now",
    decode_processes: int | None = None,
) -> BuildReport:
    """Index every image under ``gallery_dir`` into ``paths``, reusing all the work that can be reused.

    ``embedder``: an Embedder (embed/; a bare model is wrapped in a NumpyEmbedder). Checkpoints the
    embeddings every ``checkpoint_seconds`` (see ``checkpoint``). Waits up to ``lock_timeout``
    seconds for another build of the same index. Raises VistaMatchError if the folder is missing,
    LockTimeout if the other build takes longer, EmbedderMismatchError if another embedder wrote
    the index and this one disagrees with its rows. Only regular files are read; symlinks leading
    outside the gallery are skipped unless ``follow_outside_links``. ``store`` ("auto", "exact" or
    "ann") is the vector store kind to build; ``retrain`` "later" leaves the training of a new
    approximate structure to ``store.retrain_structure`` in the background (see ``store.plan_store``).
    ``decode_processes``: decode in that many worker processes (0: in the ``workers`` threads;
    default: threads on the CPU, processes beside a GPU embedder, see ``pipeline.decode_processes_for``).

    With ``commit_seconds``, what is embedded so far is also committed every that many seconds (the
    files not read yet keep their previous rows, new ones are left out and counted in the manifest's
    ``pending``; the store of such a commit is the exact scan), so readers can search a large first
    build while it runs. ``on_progress`` gets a ``BuildProgress`` after each model call and commit.
    """
    with planned_build(gallery_dir, embedder, paths, preprocess, lock_timeout, follow_outside_links, store) as plan:
        plan.retrain = retrain
        workers = workers or min(8, os.cpu_count() or 2)
        checkpoint, resumed = Checkpoint.open(paths.checkpoint_dir, plan.meta)
        t0 = time.perf_counter()
        batches = FileEmbedder(plan.embedder, batch_size, checkpoint, checkpoint_seconds)
        claims = Claims([*plan.previous.row_of_hash, *resumed])
        partial = _PartialCommits(plan, resumed, commit_seconds)
        finished = 0  # of plan.to_read

        def report_progress(committed: bool) -> None:
            if on_progress is not None:
                done = len(plan.files) - len(plan.to_read) + finished
                on_progress(BuildProgress(done, len(plan.files), len(batches.vectors), time.perf_counter() - t0, committed))

        with tqdm(total=len(plan.to_read), unit="img", desc="indexing", disable=not progress, smoothing=0.05) as bar:

            def done(n: int) -> None:
                nonlocal finished
                bar.update(n)
                finished += n
                report_progress(partial.maybe_commit(batches))

            try:
                processes = decode_processes_for(plan.embedder.device) if decode_processes is None else decode_processes
                decoded = batches.run(plan.to_read, plan.preprocess, claims, workers, done, processes)
            except BaseException:  # Ctrl-C or a crash: keep what was embedded for the next run
                checkpoint.flush()
                raise
        plan.report.embed_seconds = time.perf_counter() - t0
        plan.report.embedded = len(batches.vectors)
        finish_build(plan, decoded, batches.failed, resumed, batches.vectors, rows_on_disk_changed=partial.commits > 0)
        checkpoint.remove()
        report_progress(plan.report.written or partial.commits > 0)
    return plan.report


@dataclass
class BuildPlan:
    """A build under the lock: what the previous index gives, and the files to read (``to_read``)."""

    root: Path
    embedder: Embedder
    preprocess: PreprocessConfig
    index_files: IndexFiles
    meta: dict  # fingerprint, preprocessing, dimension: what the rows depend on
    previous: PreviousIndex
    files: list  # every scanned GalleryFile, in row order
    records: dict[str, FileRecord]  # by path: the files not read again (unchanged, or unreadable)
    to_read: list  # GalleryFiles new or changed
    report: BuildReport
    started: float
    store: str  # the vector store kind to build: auto, exact or ann
    retrain: str = "now"  # or "later": a new approximate structure is trained by store.retrain_structure


@contextmanager
def planned_build(
    gallery_dir, embedder, paths: IndexPaths, preprocess, lock_timeout, follow_outside_links, store="auto", before_scan=None
) -> Iterator[BuildPlan]:
    """Lock the index, recover an interrupted commit, load the previous index, check the embedder
    against it and scan the gallery: the start every build engine shares (local, Ray).

    ``before_scan(meta)``: called under the lock once the embedder is checked, before the scan
    (the Ray build's URL list fills the gallery there: ray_crawl.py)."""
    started = time.perf_counter()
    choose_kind(0, store)  # a bad kind, or "ann" without faiss: refused before any work
    embedder = as_embedder(embedder)
    preprocess = preprocess or PreprocessConfig()
    root = Path(gallery_dir).resolve()
    if not root.is_dir():
        raise VistaMatchError(f"gallery folder not found: {gallery_dir}")
    index_files = IndexFiles(paths, lock_timeout=lock_timeout)
    with index_files.locked():
        index_files.recover()
        meta = {
            "model_fingerprint": embedder.fingerprint,
            "preprocess": as_read_back(preprocess.to_dict()),
            "dim": int(embedder.dim),
        }
        report = BuildReport(gallery_dir=root)
        previous = PreviousIndex.load(index_files, meta)
        report.note, report.set_aside = previous.note, previous.set_aside
        check_embedder(previous, embedder, root, preprocess)
        if before_scan is not None:
            before_scan(meta)

        files = scan_gallery(root, follow_outside_links=follow_outside_links)
        records: dict[str, FileRecord] = {}
        to_read = []
        for f in files:
            rec = previous.unchanged(f.path, f.size, f.mtime_ns)
            if f.problem:
                records[f.path] = FileRecord(f.path, f.size, f.mtime_ns, None, SKIPPED, f.problem)
            elif rec is None:
                to_read.append(f)
            else:
                records[f.path] = rec
        report.unchanged = sum(1 for path in records if path in previous.records)
        yield BuildPlan(root, embedder, preprocess, index_files, meta, previous, files, records, to_read, report, started, store)
    report.seconds = time.perf_counter() - started


def finish_build(
    plan: BuildPlan, decoded: list[Decoded], failed: dict[str, str], resumed: dict, fresh: dict, *, rows_on_disk_changed: bool = False
) -> None:
    """Records for the files read, the report's counts, and the commit (under the plan's lock).

    decoded: one per file of ``plan.to_read`` (pixels dropped); failed: content hash -> why it
    could not be embedded; resumed / fresh: content hash -> (D,) vector, from an interrupted
    build's saved work / embedded in this one; rows_on_disk_changed: partial commits replaced the
    previous rows (see ``_PartialCommits``)."""
    report, previous, records = plan.report, plan.previous, plan.records
    _classify(decoded, previous, failed, records, report)
    report.removed = sorted(set(previous.records) - set(records))
    ordered = [records[f.path] for f in plan.files]
    indexed = [r for r in ordered if r.status == INDEXED]
    report.total = len(indexed)
    report.seen = len(plan.files)
    report.skipped = [r for r in ordered if r.status == SKIPPED]
    report.duplicates = len(indexed) - len({r.hash for r in indexed})
    report.resumed = len({r.hash for r in indexed} & set(resumed) - set(previous.row_of_hash))

    manifest = _manifest(plan, ordered)
    fresh = {**resumed, **fresh}
    report.written = _write(plan.index_files, manifest, indexed, previous, fresh, plan.store, plan.retrain, rows_on_disk_changed=rows_on_disk_changed)
    report.store = manifest.store


def _manifest(plan: BuildPlan, ordered: list[FileRecord], pending: int = 0) -> Manifest:
    return Manifest(
        model_fingerprint=plan.meta["model_fingerprint"],
        preprocess=plan.meta["preprocess"],
        dim=plan.meta["dim"],
        files=ordered,
        gallery_dir=str(plan.root),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=time.perf_counter() - plan.started,
        embedder=embedder_key(plan.embedder),
        pending=pending,
    )


def _record_of(d: Decoded, failed: dict[str, str]) -> FileRecord:
    f = d.file
    if d.digest is None:
        return FileRecord(f.path, d.size, f.mtime_ns, None, SKIPPED, d.error)
    if d.digest in failed:
        return FileRecord(f.path, d.size, f.mtime_ns, d.digest, SKIPPED, failed[d.digest])
    return FileRecord(f.path, d.size, f.mtime_ns, d.digest, INDEXED)  # embedded now, before, or in an interrupted build


COMMIT_STRETCH = 10  # partial commits are at least this many times their own duration apart


class _PartialCommits:
    """Commits what a running build has embedded so far, every ``seconds`` (None: never)."""

    def __init__(self, plan: BuildPlan, resumed: dict, seconds: float | None):
        self.plan, self.resumed, self.seconds = plan, resumed, seconds
        self.last = time.perf_counter()
        self.commits = 0
        self.last_duration = 0.0
        self._ready_at_last = 0

    def maybe_commit(self, batches: FileEmbedder) -> bool:
        """Commit now if the interval has passed and more files are ready; returns whether it did.

        The interval is ``seconds``, or COMMIT_STRETCH times the last commit's duration if longer:
        each commit rewrites every row so far, and this keeps that under a tenth of the build's time.
        """
        if self.seconds is None or time.perf_counter() - self.last < max(self.seconds, COMMIT_STRETCH * self.last_duration):
            return False
        self.last = time.perf_counter()
        plan, failed = self.plan, batches.failed
        fresh = {**self.resumed, **batches.vectors}
        usable = fresh.keys() | plan.previous.row_of_hash.keys()
        ready = {d.file.path: _record_of(d, failed) for d in batches.decoded if d.digest is None or d.digest in failed or d.digest in usable}
        if len(ready) <= self._ready_at_last:
            return False
        ordered, pending = [], 0
        for f in plan.files:
            rec = plan.records.get(f.path) or ready.get(f.path)
            if rec is None:
                pending += 1
                rec = plan.previous.records.get(f.path)  # read later; its old rows meanwhile, if any
            if rec is not None:
                ordered.append(rec)
        manifest = _manifest(plan, ordered, pending)
        indexed = [r for r in ordered if r.status == INDEXED]
        _write(plan.index_files, manifest, indexed, plan.previous, fresh, "exact", rows_on_disk_changed=True)  # the final commit plans the store
        self._ready_at_last = len(ready)
        self.commits += 1
        self.last_duration = time.perf_counter() - self.last
        return True


class FileEmbedder:
    """Reads, decodes and embeds files: batches decoded images by shape, runs the embedder, and
    checkpoints the embeddings every ``seconds`` (no checkpoint: kept in ``vectors`` only)."""

    def __init__(self, embedder: Embedder, batch_size: int, checkpoint: Checkpoint | None = None, seconds: float = CHECKPOINT_SECONDS):
        self.embedder = embedder
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.batcher = ShapeBatcher(batch_size, max_held=8 * batch_size)
        self.seconds = seconds
        self.last_flush = time.monotonic()
        self.vectors: dict[str, np.ndarray] = {}  # content hash -> (D,) unit vector
        self.failed: dict[str, str] = {}  # content hash -> reason
        self.decoded: list[Decoded] = []  # files read by ``run`` so far (pixels dropped)

    def run(self, files, preprocess: PreprocessConfig, claims: Claims, workers: int, done=lambda n: None, processes: int = 0) -> list[Decoded]:
        """Every file read (hashed and decoded in ``workers`` threads, or decoded in ``processes``
        worker processes) and embedded; one Decoded each (pixels dropped). ``done(n)``: n more files
        finished (a progress bar)."""
        self.decoded = []  # so far: what a partial commit can use (build_index's commit_seconds)
        prefetch = max(2 * self.batch_size, 4 * workers)
        for d in decode_ahead(files, preprocess, claims, workers=workers, prefetch=prefetch, processes=processes):
            self.decoded.append(replace(d, pixels=None))  # the batcher holds the pixels until embedded
            done(self.add(d))
        done(self.finish())
        return self.decoded

    def add(self, d: Decoded) -> int:
        """Take one decoded file; returns how many files are finished (for the progress bar)."""
        if d.error and d.digest:
            self.failed[d.digest] = d.error
        if d.pixels is None:
            return 1
        return self.add_pixels(d.digest, d.pixels)

    def add_pixels(self, digest: str, pixels: np.ndarray) -> int:
        """Queue one content's (1, 3, H, W) pixels; returns how many were embedded by this call."""
        return sum(self._embed(*batch) for batch in self.batcher.add(digest, pixels))

    def finish(self) -> int:
        done = sum(self._embed(*batch) for batch in self.batcher.drain())
        if self.checkpoint is not None:
            self.checkpoint.flush()
        return done

    def _embed(self, digests: list[str], pixels: np.ndarray) -> int:
        vectors = self.embedder.embed(pixels)  # (B, 3, H, W) -> (B, D) unit rows
        self.vectors.update(zip(digests, vectors))
        if self.checkpoint is not None:
            self.checkpoint.add(digests, vectors)
            if time.monotonic() - self.last_flush >= self.seconds:
                self.checkpoint.flush()
                self.last_flush = time.monotonic()
        return len(digests)


def _classify(decoded, previous: PreviousIndex, failed: dict[str, str], records, report: BuildReport) -> None:
    """Records for the files read in this build, and the added/changed/unchanged/reused counts."""
    for d in decoded:
        f = d.file
        rec = _record_of(d, failed)
        records[f.path] = rec
        old = previous.records.get(f.path)
        if old is not None and (old.hash, old.status) == (rec.hash, rec.status):
            report.unchanged += 1  # touched, same bytes
            continue
        (report.added if old is None else report.changed).append(f.path)
        if rec.status == INDEXED and not d.claimed:
            report.reused += 1


def _write(
    files: IndexFiles,
    manifest: Manifest,
    indexed: list[FileRecord],
    previous: PreviousIndex,
    fresh,
    store: str,
    retrain: str = "now",
    *,
    rows_on_disk_changed: bool = False,
) -> bool:
    """Commit the new index; only the manifest (and store) when the rows did not change. Returns whether rows were written.

    ``rows_on_disk_changed``: a partial commit replaced the previous rows, so they are written whatever.
    """
    order = [(r.path, r.hash) for r in indexed]
    old = previous.manifest
    before = previous.exact_store()
    if old is not None and order == previous.order and not rows_on_disk_changed:
        plan = plan_store(store, before, (previous.structure, before), old.store, None, retrain=retrain)
        manifest.store = plan.store
        if old.files != manifest.files or old.store != plan.store:  # e.g. touched files: same rows, new mtimes
            manifest.built_at, manifest.build_seconds = old.built_at, old.build_seconds
            files.commit(manifest, structure=plan.structure)
        return False
    features = np.zeros((len(indexed), manifest.dim), np.float32)  # (N, D)
    from_previous = []  # (row here, row in the previous features)
    for row, r in enumerate(indexed):
        if r.hash in fresh:
            features[row] = fresh[r.hash]
        else:
            from_previous.append((row, previous.row_of_hash[r.hash]))
    if from_previous:
        here, there = np.array(from_previous).T
        features[here] = previous.features[there]  # one gather from the memory map
    mapping = np.array([r.path for r in indexed], dtype=str) if indexed else np.zeros(0, dtype="<U1")
    hash_before = dict(previous.order)
    changed = [path for path, h in order if hash_before.get(path, h) != h]
    plan = plan_store(store, NumpyStore(features, mapping), (previous.structure, before), old.store if old else None, changed, retrain=retrain)
    manifest.store = plan.store
    files.commit(manifest, (features, mapping), plan.structure)
    return True


def _store_line(store: dict) -> str:
    if store["kind"] == "ann":
        r = store["recall"]
        return f"approximate ({store['lists']} lists, {store['effort']} probed): recall@{r['k']} {r['recall']:.4f} on {r['queries']} images"
    return f"exact{': ' + store['note'] if store.get('note') else ''}"
