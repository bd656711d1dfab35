"""Shared fixtures: real photos (scikit-image's sample images) and tiny random DINOv2 weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# scikit-image ships these photos in its wheel: no download at test time.
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel", "camera", "coins")


def sample_photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    return Image.fromarray(np.ascontiguousarray(arr))


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """The sample photos as RGB (grayscale ones converted), by name."""
    return {name: sample_photo(name).convert("RGB") for name in PHOTO_NAMES}


@pytest.fixture(scope="session")
def photo_gallery(tmp_path_factory, photos) -> Path:
    """A small gallery of real photos in several formats, one in a sub-folder."""
    root = tmp_path_factory.mktemp("gallery")
    formats = [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tiff", "TIFF"), ("gif", "GIF")]
    for i, (name, img) in enumerate(photos.items()):
        ext, fmt = formats[i % len(formats)]
        folder = root / "sub" if i % 3 == 2 else root
        folder.mkdir(exist_ok=True)
        img.save(folder / f"{name}.{ext}", format=fmt)
    return root


@pytest.fixture(scope="session")
def tiny_config():
    from vistamatch.model import Dinov2Config

    return Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_config) -> Path:
    """A .npz of small random weights with the real DINOv2 key names."""
    from vistamatch.model import random_state_dict, save_weights

    path = tmp_path_factory.mktemp("weights") / "tiny-dinov2.npz"
    save_weights(random_state_dict(tiny_config, seed=0), path)
    return path


# A 9000 x 9000 lossless WebP of one colour, 38 bytes: Image.new("RGB", (9000, 9000), (200, 120, 40))
# saved with lossless=True, method=0, quality=0. Decoded in full it costs about 1.2 GB.
HUGE_WEBP = bytes.fromhex("524946461e000000574542505650384c110000002f27e3c9080750bc2217a5ff8188e87f0000")


def png_of_zeros(width: int, height: int, color_type: int = 2) -> bytes:
    """An 8-bit PNG of black pixels (colour type 2: RGB, 0: gray), compressed row by row: a
    picture of any size in little memory."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row_bytes = 1 + width * (3 if color_type == 2 else 1)  # filter byte + pixels
    block = b"\0" * min(row_bytes, 1 << 20)
    packer = zlib.compressobj(1)
    parts = [packer.compress(block[: min(len(block), row_bytes - done)]) for _ in range(height) for done in range(0, row_bytes, len(block))]
    idat = b"".join(parts) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def zeros_png():
    """png_of_zeros(width, height, color_type=2)."""
    return png_of_zeros


@pytest.fixture(scope="session")
def huge_images() -> dict[str, bytes]:
    """Small files that decode huge, all under the pixel limit: a 9000 x 9000 WebP, a 9400 x 9400 PNG
    and an 89,000,000 x 1 PNG."""
    return {"9000x9000.webp": HUGE_WEBP, "9400x9400.png": png_of_zeros(9400, 9400), "89Mx1.png": png_of_zeros(89_000_000, 1)}


@pytest.fixture
def special_gallery(tmp_path, photos) -> Path:
    """A gallery of two photos beside things that are not files to read, each named like an image.

    a.jpg and sub/b.png: photos; in.jpg: a link to a.jpg; o.jpg: a link to a photo outside the
    gallery (tmp_path/outside/o.jpg); x.jpg: a FIFO; s.jpg: a unix socket; z.png: a link to
    /dev/null (a device that is harmless if a regression reads it); d.jpg: a dangling link.
    """
    import os
    import socket

    root, outside = tmp_path / "gallery", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    photos["chelsea"].resize((64, 48)).save(root / "a.jpg", format="JPEG")
    photos["coffee"].resize((48, 64)).save(root / "sub" / "b.png", format="PNG")
    photos["rocket"].resize((56, 56)).save(outside / "o.jpg", format="JPEG")
    (root / "in.jpg").symlink_to("a.jpg")
    (root / "o.jpg").symlink_to(outside / "o.jpg")
    (root / "z.png").symlink_to("/dev/null")  # a device; /dev/zero has its own test, under a memory cap
    (root / "d.jpg").symlink_to(root / "gone.jpg")
    os.mkfifo(root / "x.jpg")
    cwd = os.getcwd()
    os.chdir(root)  # a relative name: a socket path may not be longer than ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind("s.jpg")
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture(scope="session")
def within():
    """``within(seconds, fn, *args)``: fn's result or exception; fails the test if fn is still blocked after ``seconds``.

    fn runs on a daemon thread, so a read blocked on a FIFO fails one test instead of hanging the suite.
    """
    import threading

    def run(seconds: float, fn, *args):
        outcome = []

        def target():
            try:
                outcome.append((True, fn(*args)))
            except BaseException as exc:  # handed to the test
                outcome.append((False, exc))

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(timeout=seconds)
        assert outcome, f"{getattr(fn, '__name__', fn)} still blocked after {seconds} s"
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    return run
