"""The feeding side of a build: files read, hashed and decoded in worker threads ahead of the model,
then grouped by shape into batches.

Threads suffice beside a CPU model: hashing, Pillow's decoding and resizing, and NumPy release the
GIL, and the model takes the cores anyway. Beside a GPU the decoders are the bottleneck and the
Python between their C calls contends for the GIL, so there files are read and hashed in threads
and decoded in worker processes (``decode_ahead(..., processes=N)``).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

import numpy as np

from ..errors import ImageLoadError
from ..imaging import PreprocessConfig, load_and_preprocess
from ..regular_files import RefusedFile, read_regular
from .scan import GalleryFile, content_hash

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Decoded:
    file: GalleryFile
    size: int  # bytes actually read
    digest: str | None  # None when the file could not be read
    claimed: bool  # this file's content is decoded here (else it is known, or another file's)
    pixels: np.ndarray | None  # (1, 3, H, W) when claimed and decoded
    error: str | None = None  # why the file cannot be indexed


class Claims:
    """Content hashes already embedded or being decoded, so each distinct content is decoded once."""

    def __init__(self, known: Iterable[str] = ()):
        self._seen = set(known)
        self._lock = threading.Lock()

    def claim(self, digest: str) -> bool:
        """True for the first caller with this digest."""
        with self._lock:
            if digest in self._seen:
                return False
            self._seen.add(digest)
            return True


def read_and_claim(file: GalleryFile, claims: Claims) -> tuple[Decoded, bytes | None]:
    """The file read and hashed (no pixels yet), with its bytes when this call claimed its content."""
    try:
        data = read_regular(file.abspath)  # the scanner checked it; this catches what was swapped in since
    except RefusedFile as exc:
        return Decoded(file, file.size, None, False, None, exc.reason), None
    except OSError as exc:
        return Decoded(file, file.size, None, False, None, f"cannot read: {exc.strerror or exc}"), None
    digest = content_hash(data)
    if not claims.claim(digest):
        return Decoded(file, len(data), digest, False, None), None
    return Decoded(file, len(data), digest, True, None), data


def decode_read(read: tuple[Decoded, bytes | None], config: PreprocessConfig) -> Decoded:
    """``read_and_claim``'s result with the claimed content's pixels (or why it cannot be indexed)."""
    decoded, data = read
    if data is None:
        return decoded
    pixels, error = decode_bytes(data, config, decoded.file.path)
    return replace(decoded, pixels=pixels, error=error)


def read_and_decode(file: GalleryFile, config: PreprocessConfig, claims: Claims) -> Decoded:
    return decode_read(read_and_claim(file, claims), config)


def decode_bytes(data: bytes, config: PreprocessConfig, name: str) -> tuple[np.ndarray | None, str | None]:
    """(pixels (1, 3, H, W), None) of an image's bytes, or (None, why they cannot be indexed)."""
    try:
        return load_and_preprocess(data, config, name=name), None
    except ImageLoadError as exc:
        return None, exc.reason
    except (OSError, ValueError, SyntaxError) as exc:  # a decoder error the loader did not wrap
        return None, f"{type(exc).__name__}: {exc}"


def decode_ahead(
    files: Iterable[GalleryFile], config: PreprocessConfig, claims: Claims, *, workers: int, prefetch: int, processes: int = 0
) -> Iterator[Decoded]:
    """``read_and_decode`` of each file, in order, with up to ``prefetch`` files in flight: in
    ``workers`` threads, or read and hashed there and decoded in ``processes`` worker processes."""
    if not processes:
        return ordered_map(lambda f: read_and_decode(f, config, claims), files, workers=workers, ahead=prefetch)
    read = ordered_map(partial(read_and_claim, claims=claims), files, workers=workers, ahead=prefetch)
    return ordered_map(partial(decode_read, config=config), read, workers=processes, ahead=prefetch, processes=True)


def decode_processes_for(device: str) -> int:
    """Decoding processes for an embedder on ``device``: none on the CPU (threads, the model needs
    the cores), every core but one beside a GPU."""
    return 0 if device == "cpu" else max(1, (os.cpu_count() or 2) - 1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, ahead: int, processes: bool = False) -> Iterator[R]:
    """fn(item) for each item, in order, computed by `workers` threads (or processes: then fn and
    the items must pickle) up to `ahead` items in advance of the consumer (also while the consumer
    is busy with earlier results)."""
    items = iter(items)
    with _pool(workers, processes) as pool:
        window = deque(pool.submit(fn, item) for item in itertools.islice(items, max(1, ahead)))
        try:
            while window:
                future = window.popleft()
                window.extend(pool.submit(fn, item) for item in itertools.islice(items, 1))
                yield future.result()
        finally:
            for future in window:
                future.cancel()


def _pool(workers: int, processes: bool) -> Executor:
    if processes:  # spawned, not forked: the parent may hold threads and a CUDA context
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vistamatch-decode")


class ShapeBatcher:
    """Groups (1, 3, H, W) arrays of the same shape into (B, 3, H, W) batches of ``batch_size``.

    Holds at most ``max_held`` arrays: beyond that the fullest bucket goes out early.
    """

    def __init__(self, batch_size: int, max_held: int):
        self.batch_size = batch_size
        self.max_held = max(max_held, batch_size)
        self._buckets: dict[tuple[int, ...], list[tuple[Hashable, np.ndarray]]] = {}
        self._held = 0

    def add(self, key: Hashable, pixels: np.ndarray) -> list[tuple[list[Hashable], np.ndarray]]:
        """Queue one image; returns the batches that became ready (keys, (B, 3, H, W))."""
        bucket = self._buckets.setdefault(pixels.shape, [])
        bucket.append((key, pixels))
        self._held += 1
        if len(bucket) >= self.batch_size:
            return [self._take(pixels.shape)]
        if self._held > self.max_held:
            return [self._take(max(self._buckets, key=lambda s: len(self._buckets[s])))]
        return []

    def drain(self) -> list[tuple[list[Hashable], np.ndarray]]:
        return [self._take(shape) for shape in list(self._buckets)]

    def _take(self, shape) -> tuple[list[Hashable], np.ndarray]:
        items = self._buckets.pop(shape)
        self._held -= len(items)
        return [k for k, _ in items], np.concatenate([p for _, p in items])
