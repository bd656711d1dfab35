"""The crawl: read rows, download and validate concurrently, save until exactly ``target`` images.

Scheduling never lets images-in-folder + downloads-in-flight pass the target, so the last images are
not over-fetched and the folder ends with exactly ``target`` images (or fewer when the list, or
``max_attempts``, runs out first).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm import tqdm

from ..errors import VistaMatchError
from .fetch import Fetcher, FetchSettings, fetch_image
from .reader import SourceRow, UrlSource, open_url_source
from .reasons import DUPLICATE, SAVED, Rejected
from .state import STATE_DIR, CrawlState, default_state_path
from .validate import ImageRules
from .writer import GalleryWriter

SKIPS_PER_YIELD = 4096  # empty or already-finished rows read before letting downloads progress

TARGET_REACHED = "target reached"
LIST_EXHAUSTED = "the URL list ran out"
MAX_ATTEMPTS = "max attempts reached"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class CrawlConfig:
    source: Path
    out_dir: Path
    target: int = 12_000
    column: str | None = None  # None: detect the column holding URLs
    encoding: str | None = None  # None: utf-8, then gbk
    max_attempts: int | None = None  # URLs tried in this run
    inflight: int | None = None  # URLs in progress (downloading, waiting, retrying); None: 2 x concurrency
    chunksize: int = 10_000  # Parquet rows per batch
    fetch: FetchSettings = field(default_factory=FetchSettings)
    rules: ImageRules = field(default_factory=ImageRules)
    state_path: Path | None = None  # None: <out_dir>/.crawl/<list>-<key>.jsonl
    decode_threads: int = max(1, min(4, os.cpu_count() or 1))
    progress: bool | None = None  # None: a progress bar when stderr is a terminal


@dataclass
class CrawlReport:
    out_dir: Path
    target: int
    column: str | None = None
    state_path: Path | None = None
    existing: int = 0  # images in the folder before this run
    saved: int = 0
    attempted: int = 0  # URLs tried in this run
    requests: int = 0  # HTTP tries, retries included
    resumed_rows: int = 0  # rows finished by an earlier run, skipped
    failures: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0
    stop_reason: str = ""

    @property
    def total(self) -> int:
        return self.existing + self.saved

    @property
    def images_per_s(self) -> float:
        return self.saved / self.elapsed_s if self.elapsed_s > 0 else 0.0


def crawl(config: CrawlConfig) -> CrawlReport:
    """Run a crawl to its end (or Ctrl-C, reported as ``interrupted``). User errors raise VistaMatchError."""
    if config.target < 1:
        raise VistaMatchError("--target must be at least 1")
    source = open_url_source(config.source, config.column, config.encoding, config.chunksize)  # before any write
    job = _Crawl(config, source)
    with crawl_lock(config.out_dir):
        try:
            asyncio.run(job.run())
        except KeyboardInterrupt:
            job.report.stop_reason = INTERRUPTED
    return job.report


@contextmanager
def crawl_lock(out_dir: Path) -> Iterator[None]:
    """Hold the gallery folder's crawl lock (``.crawl/lock``); refused at once if another crawl holds it."""
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir / STATE_DIR / "lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise VistaMatchError(f"another crawl is writing into {out_dir}") from None
    try:
        yield
    finally:
        lock.release()


class _Crawl:
    def __init__(self, config: CrawlConfig, source: UrlSource):
        self.config = config
        self.source = source
        self.report = CrawlReport(out_dir=config.out_dir, target=config.target)
        self.inflight_limit = config.inflight or 2 * config.fetch.concurrency

    async def run(self) -> None:
        cfg, report = self.config, self.report
        started = time.monotonic()
        report.column = self.source.column
        report.state_path = cfg.state_path or default_state_path(cfg.out_dir, cfg.source, self.source.column)
        state = CrawlState(report.state_path)
        writer = GalleryWriter(cfg.out_dir, min_number=state.resume.next_number)
        report.existing = writer.count
        rows = self.source.rows(state.resume.row, state.resume.at)
        pool = ThreadPoolExecutor(cfg.decode_threads, thread_name_prefix="crawl-decode")
        bar = tqdm(total=cfg.target, initial=min(writer.count, cfg.target), unit="img", desc="images",
                   disable=None if cfg.progress is None else not cfg.progress, dynamic_ncols=True)
        tasks: dict[asyncio.Task, SourceRow] = {}
        exhausted = False
        try:
            async with Fetcher(cfg.fetch) as fetcher:
                while True:
                    exhausted = exhausted or await self._schedule(rows, state, writer, fetcher, pool, tasks)
                    if not tasks:
                        break
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        self._record(tasks.pop(task), task.result(), state, bar)
                    state.maybe_mark(writer.next_number)
                    report.requests = fetcher.requests
        except asyncio.CancelledError:  # Ctrl-C: finish the images being written, then stop
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for row, result in zip(tasks.values(), results):
                if isinstance(result, tuple):
                    self._record(row, result, state, bar)
            report.stop_reason = INTERRUPTED
            raise
        finally:
            state.close(writer.next_number)
            pool.shutdown(wait=True)
            bar.close()
            report.elapsed_s = time.monotonic() - started
        report.stop_reason = self._why_stopped(writer, exhausted)

    async def _schedule(
        self,
        rows: Iterator[SourceRow],
        state: CrawlState,
        writer: GalleryWriter,
        fetcher: Fetcher,
        pool: ThreadPoolExecutor,
        tasks: dict[asyncio.Task, SourceRow],
    ) -> bool:
        """Start tasks while the target, the in-flight limit and max_attempts allow; True once the list ended."""
        cfg, report = self.config, self.report
        skipped = 0
        while writer.count + len(tasks) < cfg.target and len(tasks) < self.inflight_limit:
            if cfg.max_attempts is not None and report.attempted >= cfg.max_attempts:
                return False
            row = next(rows, None)
            if row is None:
                return True
            if not row.url or state.is_done(row.index):
                report.resumed_rows += bool(row.url)
                state.skip(row)
                skipped += 1
                if skipped % SKIPS_PER_YIELD == 0:
                    await asyncio.sleep(0)
                continue
            state.begin(row)
            report.attempted += 1
            tasks[asyncio.create_task(self._process(row.url, fetcher, writer, pool))] = row
        return False

    async def _process(
        self, url: str, fetcher: Fetcher, writer: GalleryWriter, pool: ThreadPoolExecutor
    ) -> tuple[str, str | None]:
        """(outcome, saved file name or None) for one URL."""
        loop = asyncio.get_running_loop()
        try:
            image = await fetch_image(fetcher, url, self.config.rules, pool)
        except Rejected as exc:
            return exc.reason, None
        if writer.is_duplicate(image):
            return DUPLICATE, None
        name = writer.reserve(image)
        write = loop.run_in_executor(pool, writer.write, name, image, url)
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            await write  # the name and hash are claimed: finish the file so state and folder agree
        except OSError as exc:  # disk full, permissions: stop the crawl with a clear message
            raise VistaMatchError(f"cannot write {writer.out_dir / name}: {exc.strerror or exc}") from None
        return SAVED, name

    def _record(self, row: SourceRow, result: tuple[str, str | None], state: CrawlState, bar: tqdm) -> None:
        outcome, name = result
        state.finish(row.index, row.url, outcome, name)
        report = self.report
        if outcome == SAVED:
            report.saved += 1
            bar.update(1)
        else:
            report.failures[outcome] += 1
        bar.set_postfix(attempted=report.attempted, failed=sum(report.failures.values()), refresh=False)

    def _why_stopped(self, writer: GalleryWriter, exhausted: bool) -> str:
        if writer.count >= self.config.target:
            return TARGET_REACHED
        if exhausted:
            return LIST_EXHAUSTED
        return MAX_ATTEMPTS


def format_summary(report: CrawlReport) -> str:
    failed = sum(report.failures.values())
    lines = [
        f"stopped: {report.stop_reason} ({report.total} of {report.target} images in {report.out_dir})",
        f"attempted {report.attempted} URLs ({report.requests} requests), saved {report.saved}"
        f" (+{report.existing} already there), failed {failed}",
    ]
    if report.resumed_rows:
        lines.append(f"skipped {report.resumed_rows} rows finished by an earlier run")
    if report.failures:
        lines.append(f"failures: {failure_counts(report.failures)}")
    lines.append(f"elapsed {report.elapsed_s:.1f} s, {report.images_per_s:.1f} images/s")
    return "\n".join(lines)


def failure_counts(failures: Counter) -> str:
    """"http_404 2, not_image 1": the failures by reason, the most frequent first."""
    return ", ".join(f"{reason} {n}" for reason, n in failures.most_common())
