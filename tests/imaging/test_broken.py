"""Broken, hostile and missing inputs: always ImageLoadError naming the file, never a crash or warning."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from vistamatch.errors import ImageLoadError, VistaMatchError
from vistamatch.imaging import DEFAULT_MAX_PIXELS, load_and_preprocess, load_image
from vistamatch.imaging import formats

from .helpers import encode


@pytest.fixture(scope="module")
def jpeg(photos) -> bytes:
    return encode(photos["astronaut"], "JPEG", quality=90)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG claiming width x height: IHDR, a few bytes of IDAT, IEND."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def load_error(source, **kwargs) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as caught:
        load_image(source, **kwargs)
    return caught.value


def test_error_type_is_a_vistamatch_error():
    assert issubclass(ImageLoadError, VistaMatchError)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    error = load_error(path)
    assert error.name == str(path) and str(path) in str(error)
    assert error.reason.startswith("not an image")
    assert not error.damaged


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert load_error(path).reason == "not an image"


def test_html_named_jpg(tmp_path):
    path = tmp_path / "page.jpg"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    error = load_error(path)
    assert error.reason == "not an image" and "page.jpg" in str(error)
    assert not error.damaged


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(tmp_path, photos, fmt):
    data = encode(photos["coffee"], fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    error = load_error(path)
    assert error.reason == "truncated or corrupt image data" and "cut." in str(error)
    assert error.damaged


def test_truncated_is_caught_by_load_and_preprocess_too(photos):
    data = encode(photos["rocket"], "JPEG")
    with pytest.raises(ImageLoadError, match="truncated"):
        load_and_preprocess(data[:-2000], name="upload.jpg")


def test_corrupt_bytes_inside_a_png(photos):
    data = bytearray(encode(photos["coins"], "PNG"))
    data[200:400] = bytes(200)  # smash part of the compressed stream, keep the length
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(bytes(data))


def test_header_claiming_huge_dimensions_is_refused_before_decoding():
    error = load_error(png_header_only(100_000, 100_000), name="bomb.png")
    assert error.name == "bomb.png"
    assert error.reason.startswith("image too large (10000000000 pixels")
    assert error.damaged


def test_over_our_limit_but_under_pillows_hard_limit():
    error = load_error(png_header_only(10_000, 10_000), name="big.png")
    assert error.reason == f"image too large (10000 x 10000 pixels, limit {DEFAULT_MAX_PIXELS})"
    assert error.damaged


def test_bomb_is_an_error_even_when_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in (10_000, 100_000):
            with pytest.raises(ImageLoadError, match="image too large"):
                load_image(png_header_only(size, size))


def test_max_pixels_applies_to_real_images(jpeg):
    error = load_error(jpeg, name="astronaut.jpg", max_pixels=512 * 511)
    assert error.reason == f"image too large (512 x 512 pixels, limit {512 * 511})"
    assert load_image(jpeg, max_pixels=512 * 512).size == (512, 512)


def test_nonexistent_path(tmp_path):
    path = tmp_path / "missing.jpg"
    error = load_error(path)
    assert error.reason == "file not found" and str(path) in str(error)


def test_directory(tmp_path):
    assert "directory" in load_error(tmp_path).reason


def test_bytes_are_named_by_name_or_as_an_upload():
    assert str(load_error(b"junk")).startswith("uploaded image: ")
    assert str(load_error(b"junk", name="query.png")) == "query.png: not an image"


def test_formats_pillow_knows_but_we_do_not_open(photos):
    ico = encode(photos["astronaut"].resize((64, 64)), "ICO")
    assert load_error(ico).reason == "unsupported format ICO"


def test_heic_without_its_plugin_names_the_format(monkeypatch):
    monkeypatch.setattr(formats, "HEIF_AVAILABLE", False)
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert formats.sniff_unreadable_format(head) == "HEIC (install pillow-heif)"
    assert formats.sniff_unreadable_format(b"\x00\x00\x00\x18ftypisom") is None


def test_unsupported_ftyp_reaches_the_user(monkeypatch):
    monkeypatch.setattr(formats, "HEIF_AVAILABLE", False)
    fake_heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    # READABLE_FORMATS was fixed at import; a file no opener accepts is sniffed for a name.
    assert load_error(fake_heic).reason == "unsupported format HEIC (install pillow-heif)"


def test_no_pillow_or_numpy_exception_escapes_on_garbage():
    rng = np.random.default_rng(1)
    signatures = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    for signature in signatures:
        for length in (0, 10, 100, 1000):
            blob = signature + rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            with pytest.raises(ImageLoadError):
                load_image(blob)


def test_good_image_after_bad_ones_still_loads(jpeg):
    for junk in (b"", b"xx", png_header_only(100_000, 100_000)):
        with pytest.raises(ImageLoadError):
            load_image(junk)
    assert load_image(jpeg).size == (512, 512)
    assert Image.MAX_IMAGE_PIXELS is not None, "Pillow's global limit is left in place"
