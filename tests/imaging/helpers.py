"""Small helpers for the imaging tests: write images in a given format, compare pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    # Pillow keeps save options on the image object (encoderinfo) and reuses them with
    # append_images: save copies so the shared session photos stay untouched.
    if "append_images" in options:
        options["append_images"] = [frame.copy() for frame in options["append_images"]]
    buf = io.BytesIO()
    img.copy().save(buf, format=fmt, **options)
    return buf.getvalue()


def write(folder: Path, filename: str, img: Image.Image, fmt: str, **options) -> Path:
    path = folder / filename
    path.write_bytes(encode(img, fmt, **options))
    return path


def pixels(img: Image.Image) -> np.ndarray:
    """(H, W, C) int32, so differences do not wrap around."""
    return np.asarray(img).astype(np.int32)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size, (a.size, b.size)
    return float(np.abs(pixels(a) - pixels(b)).mean())


def with_exif_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def mosaic(photos: dict[str, Image.Image], width: int, height: int) -> Image.Image:
    """The sample photos tiled at native resolution: detail down to the pixel, like a sharp photo."""
    canvas = Image.new("RGB", (width, height))
    tiles = list(photos.values())
    y, i = 0, 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            tile = tiles[i % len(tiles)]
            canvas.paste(tile, (x, y))
            x, row_h, i = x + tile.width, max(row_h, tile.height), i + 1
        y += row_h
    return canvas
