"""``build_index_ray``: the embedding of a build fanned out over a Ray cluster (the ``ray`` extra).

The driver plans as a local build does (index/build.py's ``planned_build``: under the index's
lock, what is new or changed), cuts the files to read into shards (shards.py) and hands the
shards not yet done to Ray Data: ``map_batches`` over an actor pool, each actor holding one
Embedder (loaded from the EmbedderSpec it is sent; one GPU per actor where the cluster has GPUs,
else a group of CPU cores) and reading, hashing, decoding and embedding one shard at a time with
the local build's FileEmbedder, then writing the shard's file atomically. The driver then reads
every shard, and the local build's ``finish_build`` commits through IndexFiles, reusing the
previous index's rows: the same rows, mapping and manifest as a local build.

Resumable: a shard's file is its done marker, so after a kill of the driver or the cluster a rerun
embeds only the shards without one; an actor lost mid-shard is restarted and its task retried by
Ray Data. Gallery files are read by the actors at the driver's absolute paths, and shards are
written beside the index: on a real cluster both must be on storage every node mounts at the same
path. Ray is imported only here, when such a build runs.

A URL list (``urls``: ``--urls FILE``) is downloaded into the gallery first by the same actor
pool (ray_crawl.py), under the index lock before the scan; the vectors of its images wait in the
index's checkpoint (checkpoint.py), which this build reads like a resumed local build's, so the
files it saved are read and hashed by the shards but not embedded again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..embed import EmbedderSpec
from ..errors import VistaMatchError
from ..imaging import PreprocessConfig
from .build import BuildReport, FileEmbedder, finish_build, planned_build
from .checkpoint import Checkpoint
from .files import DEFAULT_LOCK_TIMEOUT
from .paths import IndexPaths
from .pipeline import Claims, Decoded
from .shards import DEFAULT_SHARD_FILES, Shard, ShardStore, cut_shards

if TYPE_CHECKING:
    from .ray_crawl import UrlList

INSTALL_HINT = "pip install 'vistamatch[ray]'"
CPUS_PER_ACTOR = 4  # without GPUs: one actor per group of this many cores (fewer on a smaller cluster)
# An actor lost mid-shard (its process or node died) is restarted and its shard retried, a few
# times: bounded, so that a shard that kills every actor it reaches fails the build, not loops.
ACTOR_RESTARTS = 3
DEFAULT_SHARD_URLS = 500  # URLs per call of a URL list's actors (ray_crawl.py)


class RayUnavailableError(VistaMatchError):
    """Ray is not installed, or the cluster cannot be reached."""


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(f"--executor ray needs Ray ({exc}): {INSTALL_HINT}") from None
    return ray


def build_index_ray(
    gallery_dir: str | os.PathLike,
    spec: EmbedderSpec,
    paths: IndexPaths,
    preprocess: PreprocessConfig | None = None,
    *,
    address: str | None = None,
    embedder=None,
    shard_files: int = DEFAULT_SHARD_FILES,
    actors: int | None = None,
    cpus_per_actor: int | None = None,
    batch_size: int = 8,
    restarts: int = ACTOR_RESTARTS,
    progress: bool = True,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    follow_outside_links: bool = False,
    store: str = "auto",
    urls: UrlList | None = None,
    shard_urls: int = DEFAULT_SHARD_URLS,
) -> BuildReport:
    """``build_index``'s result, embedded by Ray actors. Joins the running Ray instance, else
    ``address`` (or $RAY_ADDRESS), else starts a local one (shut down at the end).

    spec: the actors' embedder (kind "auto": torch where the cluster has GPUs and the device is
    not cpu, else numpy). embedder: the driver's, for the fingerprint and the agreement check
    (default: the spec's, on the driver's CPU). actors: how many (default: one per GPU, else one
    per ``cpus_per_actor`` cores). restarts: of a lost actor, its shard retried each time.
    urls: a ``ray_crawl.UrlList`` downloaded into the gallery first, ``shard_urls`` a call, its
    images embedded by the same actors (``report.crawl`` says what the list gave)."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError) as exc:
            raise RayUnavailableError(f"cannot start or join Ray at {address or 'a local instance'}: {exc}") from exc
    try:
        pool = _actor_pool(ray, spec, actors, cpus_per_actor, restarts, progress)
        spec = pool.spec
        if embedder is None:
            embedder = spec.load(device="cpu") if spec.kind == "torch" else spec.load()
        crawl = None
        if urls is not None:  # the URL list fills the gallery first, under the index lock (ray_crawl.py)
            from .ray_crawl import UrlCrawl

            Path(gallery_dir).mkdir(parents=True, exist_ok=True)
            crawl = UrlCrawl(urls, Path(gallery_dir), paths, pool, preprocess or PreprocessConfig(), shard_urls, batch_size)
        before_scan = crawl.run if crawl else None
        with planned_build(gallery_dir, embedder, paths, preprocess, lock_timeout, follow_outside_links, store, before_scan) as plan:
            plan.report.crawl = crawl.report if crawl else None
            checkpoint, saved = Checkpoint.open(paths.checkpoint_dir, plan.meta)  # a URL list's vectors, or a local build's
            shard_store = ShardStore(paths.shards_dir, {**plan.meta, "embedder": spec.kind, "dtype": spec.dtype}).open()
            shards = cut_shards(plan.to_read, shard_files)
            pending = [s for s in shards if not shard_store.done(s.key)]
            t0 = time.perf_counter()
            if pending:
                known = frozenset(plan.previous.row_of_hash) | frozenset(saved)
                worker_args = dict(
                    spec=spec, preprocess=plan.preprocess.to_dict(), known=known, folder=str(shard_store.folder),
                    meta=shard_store.meta, dim=plan.meta["dim"], batch_size=batch_size, threads=pool.cpus,
                )  # fmt: skip
                with tqdm(total=sum(len(s.files) for s in pending), unit="img", desc="indexing (ray)", disable=not pool.progress) as bar:
                    for row in pool.map(ShardWorker, worker_args, [s.to_row() for s in pending]):
                        bar.update(int(row["files"]))
            plan.report.embed_seconds = time.perf_counter() - t0 + (crawl.report.elapsed_s if crawl else 0.0)
            decoded, failed, fresh, resumed = [], {}, {}, {}
            just_done = {s.key for s in pending}
            for shard in shards:
                result = shard_store.load(shard.key, shard)
                if result is None:
                    raise VistaMatchError(f"shard {shard.key} was not written by the cluster; run the build again")
                decoded += result.decoded
                failed.update(result.failed)
                (fresh if shard.key in just_done else resumed).update(result.vectors)
            if crawl:  # embedded by the URL actors of this run: fresh, and their first file is the one that was read
                fresh.update((h, saved.pop(h)) for h in crawl.embedded if h in saved)
                decoded = claimed_by(decoded, crawl.embedded)
            resumed.update(saved)
            plan.report.embedded = len(fresh)
            finish_build(plan, decoded, failed, resumed, fresh)
            shard_store.remove()
            checkpoint.remove()
        return plan.report
    finally:
        if started_here:
            ray.shutdown()


def claimed_by(decoded: list[Decoded], embedded: set[str]) -> list[Decoded]:
    """``decoded`` with the first file of each content in ``embedded`` marked as the one embedded
    (so the report counts it as new, not reused: the URL actors embedded it, not a shard)."""
    left, out = set(embedded), []
    for d in decoded:
        if d.digest in left and not d.claimed:
            left.discard(d.digest)
            d = replace(d, claimed=True)
        out.append(d)
    return out


def _actor_spec(spec: EmbedderSpec, gpus: int) -> EmbedderSpec:
    """The spec the actors load: kind "auto" decided by the cluster's GPUs (not the driver's)."""
    kind = spec.kind
    if kind == "auto":
        kind = "torch" if gpus and spec.device != "cpu" else "numpy"
    device = spec.device
    if kind == "torch" and device == "auto":
        device = "cuda" if gpus else "cpu"
    return replace(spec, kind=kind, device=device)


@dataclass(frozen=True)
class ActorPool:
    """How the cluster's actors are made: the spec they load, how many, their CPUs and GPUs."""

    spec: EmbedderSpec
    actors: int
    cpus: int  # per actor: its decoding threads too
    gpus: int  # per actor: 1 for torch on GPUs, else 0
    restarts: int
    progress: bool

    def map(self, worker: type, worker_args: dict, rows: list[dict]) -> Iterator[dict]:
        """Each row given to one call of a ``worker`` actor (made with ``worker_args``); the calls'
        output rows as they finish. A failure Ray gives up on raises VistaMatchError."""
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False  # ours count files or URLs, not blocks
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        done = ds.map_batches(
            worker,
            batch_size=1,  # one shard per call
            fn_constructor_kwargs=worker_args,
            compute=ray.data.ActorPoolStrategy(size=min(self.actors, len(rows))),
            num_cpus=self.cpus,
            num_gpus=self.gpus,
            max_restarts=self.restarts,  # as ray_remote_args: Ray 2.60 names no parameter for them
            max_task_retries=self.restarts,
        )
        try:
            yield from done.iter_rows()
        except ray.exceptions.RayError as exc:  # e.g. a shard that killed every actor it reached
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise VistaMatchError(f"the Ray build stopped ({why}); the work written is kept: run it again to resume") from exc


def _actor_pool(ray, spec: EmbedderSpec, actors: int | None, cpus_per_actor: int | None, restarts: int, progress: bool) -> ActorPool:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    spec = _actor_spec(spec, gpus)
    if spec.kind == "torch" and spec.device != "cpu":
        return ActorPool(spec, actors or gpus, max(1, cpus // max(1, gpus)), 1, restarts, progress)
    per_actor = min(cpus_per_actor or CPUS_PER_ACTOR, cpus)
    return ActorPool(spec, actors or max(1, cpus // per_actor), per_actor, 0, restarts, progress)


class ShardWorker:
    """A Ray Data actor: one Embedder, loaded once; each call reads, embeds and writes one shard."""

    def __init__(self, spec: EmbedderSpec, preprocess: dict, known: frozenset, folder: str, meta: dict, dim: int, batch_size: int, threads: int):
        self.embedder = spec.load(threads=threads)
        self.preprocess = PreprocessConfig(**preprocess)
        self.known = known
        self.store = ShardStore(Path(folder), meta)
        self.dim = dim
        self.batch_size = batch_size
        self.threads = threads

    def __call__(self, batch: dict) -> dict:
        keys, counts = [], []
        for key, files in zip(batch["key"], batch["files"]):
            shard = Shard.from_row({"key": key, "files": files})
            batches = FileEmbedder(self.embedder, self.batch_size)
            decoded = batches.run(shard.files, self.preprocess, Claims(self.known), self.threads)
            self.store.write(shard, decoded, batches.vectors, batches.failed, self.dim)
            keys.append(shard.key)
            counts.append(len(shard.files))
        return {"key": keys, "files": counts}
