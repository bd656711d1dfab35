"""JPEG draft decoding stays within its stated tolerance of a full decode and never changes the shape."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.imaging import DecodedImage, PreprocessConfig, decode_image, load_and_preprocess, preprocess_decoded
from vistamatch.imaging.pipeline import DRAFT_MAX_ABS_DIFF, DRAFT_MEAN_ABS_DIFF, draft_size_for

from .helpers import encode, mosaic, with_exif_orientation


@pytest.fixture(scope="module")
def sharp(photos):
    """2001 x 1501 of native-resolution photos (odd sizes: the last drafted pixel is part padding)."""
    return mosaic(photos, 2001, 1501)


@pytest.fixture(scope="module")
def big_jpeg(photos) -> bytes:
    return encode(mosaic(photos, 3600, 2700), "JPEG", quality=90)  # decoded at 1/4


@pytest.mark.parametrize("mode", ["resize", "center_crop"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_draft_within_tolerance(sharp, mode, orientation):
    blob = encode(sharp, "JPEG", quality=90, exif=with_exif_orientation(orientation))
    config = PreprocessConfig(mode=mode)
    assert decode_image(blob, draft_size=draft_size_for(config)).image.size in {(1001, 751), (751, 1001)}
    full = load_and_preprocess(blob, config, draft=False)
    drafted = load_and_preprocess(blob, config)
    assert drafted.shape == full.shape
    difference = np.abs(drafted - full)
    assert difference.max() <= DRAFT_MAX_ABS_DIFF
    assert difference.mean() <= DRAFT_MEAN_ABS_DIFF


def test_quarter_scale_draft_within_tolerance(big_jpeg):
    decoded = decode_image(big_jpeg, draft_size=448)
    assert decoded.image.size == (900, 675) and decoded.full_size == (3600, 2700)
    full = load_and_preprocess(big_jpeg, draft=False)
    drafted = load_and_preprocess(big_jpeg)
    assert drafted.shape == full.shape == (1, 3, 224, 294)
    assert np.abs(drafted - full).max() <= DRAFT_MAX_ABS_DIFF
    assert np.abs(drafted - full).mean() <= DRAFT_MEAN_ABS_DIFF


@pytest.mark.parametrize("orientation", range(1, 9))
def test_padding_of_the_last_drafted_pixel_is_placed_by_orientation(sharp, orientation):
    """The picture spans 1000.5 of 1001 drafted columns; after a flip the half pixel is on the left."""
    blob = encode(sharp, "JPEG", quality=90, exif=with_exif_orientation(orientation))
    full = load_and_preprocess(blob, draft=False)
    decoded = decode_image(blob, draft_size=448)
    width, height = decoded.image.size
    left, top, right, bottom = decoded.content_box
    extent_x, extent_y = right - left, bottom - top
    assert {round(extent_x, 1), round(extent_y, 1)} == {1000.5, 750.5}

    def error(box) -> float:
        return float(np.abs(preprocess_decoded(DecodedImage(decoded.image, decoded.full_size, box)) - full).mean())

    corners = [(0, 0), (width - extent_x, 0), (0, height - extent_y), (width - extent_x, height - extent_y)]
    placements = [error((x, y, x + extent_x, y + extent_y)) for x, y in corners]
    assert error(decoded.content_box) == min(placements)
    assert sorted(placements)[1] > 3 * min(placements), "a misplaced half pixel shows clearly"


def test_other_formats_ignore_draft(sharp):
    png = encode(sharp, "PNG")
    assert decode_image(png, draft_size=448).image.size == (2001, 1501)
    assert np.array_equal(load_and_preprocess(png), load_and_preprocess(png, draft=False))


def test_small_jpeg_is_decoded_in_full(photos):
    blob = encode(mosaic(photos, 1700, 800), "JPEG")  # short side < 2 x 448: no room to draft
    assert decode_image(blob, draft_size=448).image.size == (1700, 800)
    assert np.array_equal(load_and_preprocess(blob), load_and_preprocess(blob, draft=False))
