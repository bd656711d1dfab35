"""Feeding an embedder: images decoded and preprocessed in worker threads while the embedder works
on the batches already made, so decoding overlaps the model (Pillow's decoding and resizing and
NumPy release the GIL; a GPU embedder leaves the CPU cores to the decoders).

Images are grouped by input shape into batches (index/pipeline.py's ShapeBatcher); within a shape
they keep their input order. Unreadable images are skipped and reported in `FeedStats.skipped`.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ImageLoadError
from ..imaging import PreprocessConfig, load_and_preprocess
from ..imaging.loading import ImageSource
from ..index.pipeline import ShapeBatcher, ordered_map
from ..model.parallel import default_threads
from .base import Embedder

@dataclass
class FeedStats:
    images: int = 0  # decoded into batches
    skipped: list[tuple[Hashable, str]] = field(default_factory=list)  # (key, why)
    decode_s: float = 0.0  # decoding + preprocessing, summed over the workers
    wait_s: float = 0.0  # the consumer waiting for a decoded image (decoding not hidden)
    embed_s: float = 0.0  # inside embedder.embed


def decoded_batches(
    items: Iterable[tuple[Hashable, ImageSource]],
    config: PreprocessConfig = PreprocessConfig(),
    *,
    batch_size: int = 16,
    workers: int | None = None,
    ahead: int | None = None,
    stats: FeedStats | None = None,
) -> Iterator[tuple[list[Hashable], np.ndarray]]:
    """(key, path or bytes) pairs -> (keys, (B, 3, H, W) float32) batches of one shape each.

    workers: decoding threads (default: the cores this process may use); ahead: images decoded in
    advance (default: two batches, at least two per worker)."""
    workers = workers or default_threads()
    ahead = ahead or max(2 * batch_size, 2 * workers)
    stats = stats if stats is not None else FeedStats()
    batcher = ShapeBatcher(batch_size, max_held=max(ahead, 4 * batch_size))

    def decode(item: tuple[Hashable, ImageSource]) -> tuple[Hashable, np.ndarray | None, str | None, float]:
        key, source = item
        start = time.perf_counter()
        pixels, error = None, None
        try:
            pixels = load_and_preprocess(source, config, name=str(key))
        except ImageLoadError as exc:
            error = exc.reason
        except (OSError, ValueError, SyntaxError) as exc:  # a decoder error the loader did not wrap
            error = f"{type(exc).__name__}: {exc}"
        return key, pixels, error, time.perf_counter() - start

    decoded = ordered_map(decode, items, workers=workers, ahead=ahead)
    while True:
        start = time.perf_counter()
        item = next(decoded, None)
        stats.wait_s += time.perf_counter() - start
        if item is None:
            break
        key, pixels, error, seconds = item
        stats.decode_s += seconds
        if pixels is None:
            stats.skipped.append((key, error))
            continue
        stats.images += 1
        yield from batcher.add(key, pixels)
    yield from batcher.drain()


def embedded_batches(
    embedder: Embedder,
    batches: Iterable[tuple[list[Hashable], np.ndarray]],
    stats: FeedStats | None = None,
) -> Iterator[tuple[list[Hashable], np.ndarray]]:
    """(keys, pixels) batches (from `decoded_batches`) through the embedder: (keys, (B, D)
    unit-length float32 vectors); the embedder's time is added to `stats.embed_s`."""
    for keys, pixels in batches:
        start = time.perf_counter()
        vectors = embedder.embed(pixels)
        if stats is not None:
            stats.embed_s += time.perf_counter() - start
        yield keys, vectors
