"""The decode budget: how much memory decoding one image may take, and how many large decodes run at once.

A few kilobytes of PNG or WebP can describe a 9000 x 9000 picture, so the file size says nothing
about the memory its decoding takes. The cost is computed here from the header alone, before any
pixel is decoded: the bytes of every full-size buffer the decode holds at once (the decoder's own,
Pillow's image, the upright and RGB copies). Over the budget, a format that can decode at reduced
scale (JPEG, through Pillow's ``draft``) is decoded at 1/2 to 1/8 scale; any other is refused
with :class:`~vistamatch.errors.DecodeBudgetError` (the server answers 413, the indexer skips the file).

Decodes above ``LARGE_DECODE_BYTES`` also take one of ``LARGE_DECODE_SLOTS`` slots, so at most
that many run at once, and glibc's free memory is handed back to the system after each.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from ..errors import DecodeBudgetError, VistaMatchError

MB = 1024 * 1024
DEFAULT_DECODE_BUDGET_MB = 256
BUDGET_ENV = "VISTAMATCH_DECODE_BUDGET_MB"
LARGE_DECODE_BYTES = 16 * MB
LARGE_DECODE_SLOTS = 2
DRAFT_SCALES = (1, 2, 4, 8)  # the reduced scales libjpeg decodes at

# Full-size buffers a decoder holds besides Pillow's image. WebP goes through libwebp's animation
# decoder: two canvases of its own plus the frame's bytes (one 9000 x 9000 decode measured 3.8x the image).
_DECODER_BUFFERS = {"WEBP": 3}
_ONE_BYTE_MODES = {"1", "L", "P"}
_RGB_BYTES = 4  # Pillow stores 3-band images padded to 4 bytes per pixel


def decode_budget_from_env() -> int:
    """The budget in bytes: $VISTAMATCH_DECODE_BUDGET_MB, else 256 MB."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_DECODE_BUDGET_MB * MB
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not megabytes > 0:
        raise VistaMatchError(f"{BUDGET_ENV} must be a positive number of megabytes, got {text!r}")
    return int(megabytes * MB)


def stored_bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel as Pillow stores ``mode`` (8-bit multi-band modes are padded to 4)."""
    if mode in _ONE_BYTE_MODES:
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_bytes_per_pixel(img: Image.Image, transposed: bool) -> int:
    """Bytes per pixel of every full-size buffer alive at once while ``img`` is decoded to upright RGB."""
    stored = stored_bytes_per_pixel(img.mode)
    total = stored * (1 + _DECODER_BUFFERS.get(img.format or "", 0))
    if transposed:
        total += stored  # the upright copy
    needs_rgba = img.mode in ("LA", "PA", "La") or ("transparency" in img.info and img.mode in ("1", "L", "P", "RGB"))
    if img.mode != "RGB" or needs_rgba:
        total += _RGB_BYTES  # the RGB image (see modes.to_rgb)
    if needs_rgba:
        total += _RGB_BYTES  # the RGBA copy that is composited on white
    if img.mode.startswith("I"):
        total += 2 * 4  # 16-bit gray is scaled through two uint32 arrays
    return total


def can_draft(img: Image.Image) -> bool:
    """Whether the format decodes at reduced scale (Pillow's base ``draft`` does nothing)."""
    return type(img).draft is not Image.Image.draft


def fit_to_budget(
    img: Image.Image, label: str, budget: int, draft_size: int | None, transposed: bool
) -> tuple[int, tuple[float, float]]:
    """Reduce ``img``'s decode scale (before ``load``) so decoding it fits ``budget``.

    ``draft_size`` asks for the most reduction that keeps the short side >= it (a speed-up); the
    budget may need more. Returns the decode's cost in bytes and the picture's extent in decoded
    pixels ((W / s, H / s) at scale 1/s: the last row and column may be partly padding).
    Raises DecodeBudgetError when no scale the format offers fits.
    """
    width, height = img.size
    per_pixel = decode_bytes_per_pixel(img, transposed)
    scales = DRAFT_SCALES if can_draft(img) else (1,)
    wanted = max((s for s in scales if draft_size is not None and min(width, height) // s >= draft_size), default=1)
    for scale in scales:
        if scale >= wanted and math.ceil(width / scale) * math.ceil(height / scale) * per_pixel <= budget:
            break
    extent = (float(width), float(height))
    if scale > 1:
        drafted = img.draft(img.mode, (max(1, width // scale), max(1, height // scale)))
        if drafted is not None:
            extent = drafted[1][2:]
    cost = img.width * img.height * per_pixel
    if cost > budget:
        raise DecodeBudgetError(label, _over_budget(width, height, width * height * per_pixel, budget, len(scales) > 1))
    return cost, extent


def _over_budget(width: int, height: int, cost: int, budget: int, reducible: bool) -> str:
    at = " even at 1/8 scale" if reducible else ""
    return (
        f"image too large to decode: {width} x {height} pixels need {cost / MB:.0f} MB{at}, "
        f"over the decode budget of {budget / MB:g} MB (raise it with {BUDGET_ENV})"
    )


_large_slots = threading.BoundedSemaphore(LARGE_DECODE_SLOTS)


@contextmanager
def decode_slot(cost: int) -> Iterator[None]:
    """Hold one of the large-decode slots while a decode of ``cost`` bytes (above 16 MB) is alive."""
    if cost <= LARGE_DECODE_BYTES:
        yield
        return
    with _large_slots:
        yield
    release_free_memory()


def _find_malloc_trim():
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


def release_free_memory() -> None:
    """Hand memory freed by a large decode back to the system (glibc keeps it in its arenas otherwise)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
