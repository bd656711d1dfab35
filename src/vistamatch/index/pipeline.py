"""The feeding side of a build: files read, hashed and decoded in worker threads ahead of the model,
then grouped by shape into batches.

Threads suffice: hashing, Pillow's decoding and resizing, and NumPy all release the GIL.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def read_and_decode(file: GalleryFile, config: PreprocessConfig, claims: Claims) -> Decoded:
    try:
        data = read_regular(file.abspath)  # the scanner checked it; this catches what was swapped in since
    except RefusedFile as exc:
        return Decoded(file, file.size, None, False, None, exc.reason)
    except OSError as exc:
        return Decoded(file, file.size, None, False, None, f"cannot read: {exc.strerror or exc}")
    digest = content_hash(data)
    if not claims.claim(digest):
        return Decoded(file, len(data), digest, False, None)
    pixels, error = decode_bytes(data, config, file.path)
    return Decoded(file, len(data), digest, True, pixels, error)


def decode_bytes(data: bytes, config: PreprocessConfig, name: str) -> tuple[np.ndarray | None, str | None]:
    """(pixels (1, 3, H, W), None) of an image's bytes, or (None, why they cannot be indexed)."""
    try:
        return load_and_preprocess(data, config, name=name), None
    except ImageLoadError as exc:
        return None, exc.reason
    except (OSError, ValueError, SyntaxError) as exc:  # a decoder error the loader did not wrap
        return None, f"{type(exc).__name__}: {exc}"


def decode_ahead(
    files: Iterable[GalleryFile], config: PreprocessConfig, claims: Claims, *, workers: int, prefetch: int
) -> Iterator[Decoded]:
    """``read_and_decode`` of each file, in order, with up to ``prefetch`` files in flight."""
    return ordered_map(lambda f: read_and_decode(f, config, claims), files, workers=workers, ahead=prefetch)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, ahead: int) -> Iterator[R]:
    """fn(item) for each item, in order, computed by `workers` threads up to `ahead` items in
    advance of the consumer (also while the consumer is busy with earlier results)."""
    items = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vistamatch-decode") as pool:
        window = deque(pool.submit(fn, item) for item in itertools.islice(items, max(1, ahead)))
        try:
            while window:
                future = window.popleft()
                window.extend(pool.submit(fn, item) for item in itertools.islice(items, 1))
                yield future.result()
        finally:
            for future in window:
                future.cancel()


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
