"""EXIF orientation is applied: the picture comes out upright, with width and height swapped for 5-8."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from vistamatch.imaging import load_image

from .helpers import mean_abs_diff, pixels, with_exif_orientation, write


@pytest.fixture(scope="module")
def cat(photos) -> Image.Image:
    return photos["chelsea"]  # 451 x 300


@pytest.mark.parametrize(
    "orientation, upright",
    [(6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)],  # camera turned 90 degrees
)
def test_rotated_jpeg_comes_out_upright(tmp_path, cat, orientation, upright):
    path = write(tmp_path, f"rot{orientation}.jpg", cat, "JPEG", quality=95, exif=with_exif_orientation(orientation))
    img = load_image(path)
    assert img.size == (300, 451), "width and height are swapped"
    expected = cat.transpose(upright)
    assert mean_abs_diff(img, expected) < 3
    wrong = cat.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    assert mean_abs_diff(img, wrong) > 20, "rotated the right way, not the opposite one"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillows_exif_transpose(tmp_path, cat, orientation):
    path = write(tmp_path, f"o{orientation}.png", cat, "PNG", exif=with_exif_orientation(orientation))
    expected = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    img = load_image(path)
    assert img.size == expected.size
    assert np.array_equal(pixels(img), pixels(expected))


def test_nonsense_orientation_value_is_ignored(tmp_path, cat):
    path = write(tmp_path, "o99.jpg", cat, "JPEG", quality=95, exif=with_exif_orientation(99))
    assert load_image(path).size == cat.size
