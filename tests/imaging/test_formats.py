"""Real photos in every format people have: each loads as the right upright RGB picture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, features

from vistamatch.imaging import IMAGE_EXTENSIONS, load_image
from vistamatch.imaging.formats import AVIF_AVAILABLE, HEIF_AVAILABLE

from .helpers import encode, mean_abs_diff, pixels, write


@pytest.fixture(scope="module")
def cat(photos) -> Image.Image:
    return photos["chelsea"]  # 451 x 300, landscape: a transposition would show in the size


def test_extensions_are_lowercase_suffixes_with_the_dot():
    base = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
    assert base <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert ({".heic", ".heif"} <= IMAGE_EXTENSIONS) == HEIF_AVAILABLE
    assert (".avif" in IMAGE_EXTENSIONS) == bool(features.check("avif"))


@pytest.mark.parametrize(
    "fmt, options, max_mean_diff",
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 85}, 6),
        ("JPEG", {"quality": 90}, 4),
        ("JPEG", {"quality": 90, "progressive": True}, 4),
        ("JPEG", {"quality": 90, "subsampling": 0}, 3),
    ],
)
def test_rgb_formats_round_trip(tmp_path, cat, fmt, options, max_mean_diff):
    path = write(tmp_path, f"cat.{fmt.lower()}", cat, fmt, **options)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == cat.size
    assert mean_abs_diff(img, cat) <= max_mean_diff


def test_cmyk_jpeg_becomes_rgb(tmp_path, cat):
    path = write(tmp_path, "cmyk.jpg", cat.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(path).mode == "CMYK"
    img = load_image(path)
    assert img.mode == "RGB" and img.size == cat.size
    assert mean_abs_diff(img, cat) < 4


def test_grayscale_jpeg_becomes_three_equal_channels(tmp_path, photos):
    gray = photos["camera"].convert("L")
    img = load_image(write(tmp_path, "gray.jpg", gray, "JPEG", quality=95))
    rgb = pixels(img)
    assert img.mode == "RGB" and np.array_equal(rgb[..., 0], rgb[..., 2])
    assert np.abs(rgb[..., 0] - pixels(gray)).mean() < 3


def test_palette_png(tmp_path, cat):
    palette = cat.quantize(colors=64)
    img = load_image(write(tmp_path, "palette.png", palette, "PNG"))
    assert np.array_equal(pixels(img), pixels(palette.convert("RGB")))


def test_palette_png_with_transparent_index_becomes_white(tmp_path, cat):
    palette = cat.quantize(colors=64)
    hidden = palette.getpixel((0, 0))
    img = load_image(write(tmp_path, "palette_t.png", palette, "PNG", transparency=hidden))
    index = np.asarray(palette)
    rgb = pixels(img)
    assert (rgb[index == hidden] == 255).all()
    assert np.array_equal(rgb[index != hidden], pixels(palette.convert("RGB"))[index != hidden])


def test_rgba_png_is_composited_on_white(tmp_path, cat):
    alpha = np.tile(np.linspace(0, 255, cat.width).round().astype(np.uint8), (cat.height, 1))  # left clear, right opaque
    rgba = cat.copy()
    rgba.putalpha(Image.fromarray(alpha))
    img = load_image(write(tmp_path, "alpha.png", rgba, "PNG"))
    rgb, source = pixels(img), pixels(cat)
    assert (rgb[:, 0] == 255).all(), "a fully transparent pixel becomes white"
    assert np.array_equal(rgb[:, -1], source[:, -1]), "an opaque pixel keeps its colour"
    weight = alpha[..., None].astype(np.int32)
    expected = (source * weight + 255 * (255 - weight)) / 255
    assert np.abs(rgb - expected).max() <= 1


def test_la_png_is_composited_on_white(tmp_path, photos):
    gray = photos["coins"].convert("L")
    alpha = np.zeros(gray.size[::-1], dtype=np.uint8)
    alpha[:, gray.width // 2 :] = 255
    la = Image.merge("LA", (gray, Image.fromarray(alpha)))
    img = load_image(write(tmp_path, "la.png", la, "PNG"))
    rgb = pixels(img)
    assert (rgb[:, : gray.width // 2] == 255).all()
    assert np.array_equal(rgb[:, gray.width // 2 :, 1], pixels(gray)[:, gray.width // 2 :])


def test_gray_png_with_transparency_key_becomes_white(tmp_path, photos):
    gray = photos["camera"].convert("L")
    key = int(np.asarray(gray)[0, 0])
    img = load_image(write(tmp_path, "gray_key.png", gray, "PNG", transparency=key))
    rgb = pixels(img)
    assert (rgb[np.asarray(gray) == key] == 255).all()


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path, photos):
    gray8 = np.asarray(photos["camera"].convert("L"))
    wide = Image.fromarray(gray8.astype(np.uint16) * 257)  # full 16-bit range
    path = write(tmp_path, "gray16.png", wide, "PNG")
    assert Image.open(path).mode.startswith("I")
    img = load_image(path)
    assert np.array_equal(pixels(img)[..., 0], gray8)


def test_16_bit_tiff(tmp_path, photos):
    gray8 = np.asarray(photos["coins"].convert("L"))
    img = load_image(write(tmp_path, "gray16.tif", Image.fromarray(gray8.astype(np.uint16) * 257), "TIFF"))
    assert np.array_equal(pixels(img)[..., 2], gray8)


def test_animated_gif_uses_the_first_frame(tmp_path, cat):
    first, second = cat, Image.new("RGB", cat.size, (255, 0, 0))
    path = write(tmp_path, "anim.gif", first, "GIF", save_all=True, append_images=[second], duration=100)
    assert Image.open(path).n_frames == 2
    img = load_image(path)
    assert img.size == cat.size
    assert mean_abs_diff(img, first) < 12  # GIF keeps 256 colours
    assert mean_abs_diff(img, second) > 60


def test_animated_webp_uses_the_first_frame(tmp_path, cat):
    second = Image.new("RGB", cat.size, (0, 0, 255))
    path = write(tmp_path, "anim.webp", cat, "WEBP", save_all=True, append_images=[second], lossless=True)
    assert Image.open(path).n_frames == 2
    img = load_image(path)
    assert mean_abs_diff(img, cat) < 1 and mean_abs_diff(img, second) > 60


def test_multipage_tiff_uses_the_first_page(tmp_path, cat, photos):
    second = photos["coffee"]
    path = write(tmp_path, "pages.tiff", cat, "TIFF", save_all=True, append_images=[second])
    assert Image.open(path).n_frames == 2
    img = load_image(path)
    assert img.size == cat.size and mean_abs_diff(img, cat) == 0


def test_bytes_source(cat):
    img = load_image(encode(cat, "PNG"))
    assert np.array_equal(pixels(img), pixels(cat))


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="pillow-heif is not installed (pip install 'vistamatch[heif]')")
def test_heic(tmp_path, cat):
    img = load_image(write(tmp_path, "cat.heic", cat, "HEIF", quality=90))
    assert img.mode == "RGB" and img.size == cat.size
    assert mean_abs_diff(img, cat) < 6


@pytest.mark.skipif(not AVIF_AVAILABLE, reason="this Pillow is built without AVIF support")
def test_avif(tmp_path, cat):
    img = load_image(write(tmp_path, "cat.avif", cat, "AVIF", quality=90))
    assert img.mode == "RGB" and img.size == cat.size
    assert mean_abs_diff(img, cat) < 6
