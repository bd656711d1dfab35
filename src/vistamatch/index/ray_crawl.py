"""A URL list as the input of a Ray build: ``vistamatch index GALLERY --executor ray --urls FILE``.

It runs under the index lock, once the embedder is checked and before the build scans the gallery
(``planned_build`` calls ``UrlCrawl.run``). The driver reads the list with the crawler's reader,
skips the rows the crawl state records as finished (GALLERY/.crawl/, the same journal as
``vistamatch crawl --csv FILE --out GALLERY``) and hands the others, ``shard_urls`` a call, to the
build's actor pool (ray_build.py's ``ActorPool``). Each ``UrlWorker`` downloads its URLs with the
crawler's Fetcher and validates them with ``validate_image`` (the crawl's FetchSettings and
ImageRules), decodes and embeds the valid images with its Embedder, and returns per URL the outcome,
the image's bytes and its vector. The driver, as the results come: the crawl's GalleryWriter says
duplicate or names the image and writes it (manifest line, then the file atomically: 000001.jpg,
... and urls.csv as a crawl writes them), CrawlState records the row, and the vector goes into the
index's checkpoint under the file's content hash. The build that follows scans the gallery, takes
those vectors from the checkpoint and embeds only the other new or changed files.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..crawler import CrawlReport, FetchSettings, Fetcher, GalleryWriter, ImageRules, ValidImage, open_url_source
from ..crawler.fetch import fetch_image
from ..crawler.reasons import DUPLICATE, SAVED, Rejected
from ..crawler.run import crawl_lock, failure_counts
from ..crawler.state import CrawlState, default_state_path
from ..embed import EmbedderSpec
from ..errors import VistaMatchError
from ..imaging import PreprocessConfig
from .build import FileEmbedder
from .checkpoint import CHECKPOINT_SECONDS, Checkpoint
from .paths import IndexPaths
from .pipeline import Claims, decode_bytes, ordered_map
from .scan import content_hash


@dataclass(frozen=True)
class UrlList:
    """The list (CSV/TSV, text or Parquet: crawler/reader.py) and how its URLs are fetched and checked."""

    source: Path
    column: str | None = None  # None: detected
    encoding: str | None = None
    fetch: FetchSettings = field(default_factory=FetchSettings)  # public_only False, as the crawler
    rules: ImageRules = field(default_factory=ImageRules)


class UrlCrawl:
    """The driver's side: the rows to fetch, then each result written into the gallery and checkpoint."""

    def __init__(self, urls: UrlList, gallery: Path, paths: IndexPaths, pool, preprocess: PreprocessConfig, shard_urls: int, batch_size: int):
        self.urls, self.gallery, self.paths, self.pool = urls, gallery, paths, pool
        self.preprocess, self.shard_urls, self.batch_size = preprocess, shard_urls, batch_size
        self.report = CrawlReport(out_dir=gallery, target=0)
        self.embedded: set[str] = set()  # content hashes of the saved images the actors embedded

    def run(self, meta: dict) -> None:
        """Download the list's unfinished rows into the gallery; ``meta``: the build's (for the checkpoint)."""
        urls, report = self.urls, self.report
        started = time.monotonic()
        source = open_url_source(urls.source, urls.column, urls.encoding)
        with crawl_lock(self.gallery):
            report.column = source.column
            report.state_path = default_state_path(self.gallery, urls.source, source.column)
            state = CrawlState(report.state_path)
            writer = GalleryWriter(self.gallery, min_number=state.resume.next_number)
            report.existing = writer.count
            checkpoint, _ = Checkpoint.open(self.paths.checkpoint_dir, meta)
            try:
                todo = []  # (row index, url)
                for row in source.rows(state.resume.row, state.resume.at):
                    if row.url and not state.is_done(row.index):
                        state.begin(row)
                        todo.append((row.index, row.url))
                    else:  # empty, or finished by an earlier run
                        report.resumed_rows += bool(row.url)
                        state.skip(row)
                report.attempted = len(todo)
                self._fetch(todo, state, writer, checkpoint)
            finally:
                checkpoint.flush()
                state.close(writer.next_number)
                report.elapsed_s = time.monotonic() - started

    def _fetch(self, todo: list[tuple[int, str]], state: CrawlState, writer: GalleryWriter, checkpoint: Checkpoint) -> None:
        if not todo:
            return
        step = self.shard_urls
        shards = [{"urls": json.dumps(todo[i : i + step])} for i in range(0, len(todo), step)]
        worker_args = dict(
            spec=self.pool.spec, preprocess=self.preprocess.to_dict(), fetch=asdict(self.urls.fetch),
            rules=asdict(self.urls.rules), batch_size=self.batch_size, threads=self.pool.cpus,
        )  # fmt: skip
        last_flush = time.monotonic()
        with tqdm(total=len(todo), unit="url", desc="downloading (ray)", disable=not self.pool.progress) as bar:
            for result in self.pool.map(UrlWorker, worker_args, shards):
                self._record(result, state, writer, checkpoint)
                bar.update(1)
                state.maybe_mark(writer.next_number)
                if time.monotonic() - last_flush >= CHECKPOINT_SECONDS:
                    checkpoint.flush()
                    last_flush = time.monotonic()

    def _record(self, result: dict, state: CrawlState, writer: GalleryWriter, checkpoint: Checkpoint) -> None:
        url, outcome, name = str(result["url"]), str(result["outcome"]), None
        if outcome == SAVED:
            image = ValidImage(bytes(result["data"]), str(result["extension"]), int(result["width"]), int(result["height"]), str(result["sha256"]))
            if writer.is_duplicate(image):
                outcome = DUPLICATE
            else:
                name = writer.reserve(image)
                try:
                    writer.write(name, image, url)
                except OSError as exc:
                    raise VistaMatchError(f"cannot write {writer.out_dir / name}: {exc.strerror or exc}") from None
                if result["embedded"]:
                    digest = str(result["digest"])
                    checkpoint.add([digest], np.asarray(result["vector"], np.float32)[None])
                    self.embedded.add(digest)
        state.finish(int(result["row"]), url, outcome, name)
        if outcome == SAVED:
            self.report.saved += 1
        else:
            self.report.failures[outcome] += 1


class UrlWorker:
    """A Ray Data actor: one Embedder, loaded once; each call downloads, validates and embeds one
    shard of URLs and returns one row per URL (the image's bytes and vector when it is one)."""

    def __init__(self, spec: EmbedderSpec, preprocess: dict, fetch: dict, rules: dict, batch_size: int, threads: int):
        self.embedder = spec.load(threads=threads)
        self.preprocess = PreprocessConfig(**preprocess)
        self.fetch = FetchSettings(**fetch)
        self.rules = ImageRules(**rules)
        self.batch_size = batch_size
        self.threads = threads

    def __call__(self, batch: dict) -> dict:
        rows = json.loads(str(batch["urls"][0]))
        urls = [url for _, url in rows]
        with ThreadPoolExecutor(self.threads, thread_name_prefix="vistamatch-urls") as pool:
            results = asyncio.run(self._download(urls, pool))
        valid = [r if isinstance(r, ValidImage) else None for r in results]
        digests = [content_hash(v.data) if v else "" for v in valid]  # the key the build finds a file's vector under
        images = [(url, v, d) for url, v, d in zip(urls, valid, digests) if v]
        claims, files = Claims(), FileEmbedder(self.embedder, self.batch_size)

        def decode(item: tuple[str, ValidImage, str]):
            url, image, digest = item
            return digest, decode_bytes(image.data, self.preprocess, url)[0] if claims.claim(digest) else None

        for digest, pixels in ordered_map(decode, images, workers=self.threads, ahead=max(2 * self.batch_size, 4 * self.threads)):
            if pixels is not None:
                files.add_pixels(digest, pixels)
        files.finish()
        vectors = np.zeros((len(rows), int(self.embedder.dim)), np.float32)  # (n, D): a saved image's vector
        embedded = np.zeros(len(rows), bool)
        for i, digest in enumerate(digests):
            vector = files.vectors.get(digest) if digest else None
            if vector is not None:
                vectors[i], embedded[i] = vector, True
        return {
            "row": np.array([index for index, _ in rows], np.int64),
            "url": np.array(urls, dtype=object),
            "outcome": np.array([SAVED if v else r for v, r in zip(valid, results)], dtype=object),
            "data": np.array([v.data if v else b"" for v in valid], dtype=object),
            "extension": np.array([v.extension if v else "" for v in valid], dtype=object),
            "width": np.array([v.width if v else 0 for v in valid], np.int64),
            "height": np.array([v.height if v else 0 for v in valid], np.int64),
            "sha256": np.array([v.sha256 if v else "" for v in valid], dtype=object),
            "digest": np.array(digests, dtype=object),
            "embedded": embedded,
            "vector": vectors,
        }

    async def _download(self, urls: list[str], pool: ThreadPoolExecutor) -> list[ValidImage | str]:
        """Each URL's valid image, or the reason it gave none (crawler/reasons.py)."""

        async def one(url: str) -> ValidImage | str:
            try:
                return await fetch_image(fetcher, url, self.rules, pool)
            except Rejected as exc:
                return exc.reason

        async with Fetcher(self.fetch) as fetcher:
            return await asyncio.gather(*(one(url) for url in urls))


def summary(report: CrawlReport, source: Path) -> str:
    """One line (two with rows resumed) for the command: what the URL list gave."""
    failed = sum(report.failures.values())
    line = (
        f"URL list {source}: tried {report.attempted} URLs, saved {report.saved} into {report.out_dir}"
        f" (+{report.existing} already there), failed {failed}"
    )
    if report.failures:
        line += f" ({failure_counts(report.failures)})"
    if report.resumed_rows:
        line += f"\n  skipped {report.resumed_rows} rows finished by an earlier run"
    return line
