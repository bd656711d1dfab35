"""Preprocessing: exact output shapes, the rounding rule, normalisation, center crop, config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from vistamatch.imaging import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig, preprocess, target_size

NORMALISED_STEP = 1 / 255 / min(IMAGENET_STD)  # one 8-bit level, in normalised units (~0.0175)


def reference(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The original pipeline written out plainly: one bicubic resize, float64 normalisation."""
    x = np.asarray(img.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.float64) / 255
    x = (x - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return x.transpose(2, 0, 1)[None]


@pytest.mark.parametrize(
    "size, expected_hw",
    [
        ((640, 427), (224, 336)),  # landscape: 335.7 -> 24 patches
        ((427, 640), (336, 224)),  # portrait
        ((512, 512), (224, 224)),  # square
        ((451, 300), (224, 336)),  # 336.75 -> 24.05 patches -> 336
        ((50, 30), (224, 378)),  # tiny, upscaled: 373.3 -> 26.67 patches -> 27
        ((1, 1), (224, 224)),
        ((33, 32), (224, 238)),  # exactly 16.5 patches: ties round up
        ((32, 33), (238, 224)),  # the same tie, portrait
        ((103, 100), (224, 224)),  # 16.48 patches -> 16
        ((1000, 100), (224, 896)),  # extreme aspect: capped at 4 x 224
        ((100, 1000), (896, 224)),
    ],
)
def test_output_shape(size, expected_hw):
    img = Image.new("RGB", size, (90, 120, 200))
    x = preprocess(img)
    assert x.shape == (1, 3, *expected_hw)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert target_size(*size) == expected_hw[::-1]


def test_uncapped_extreme_aspect_keeps_the_original_rule():
    config = PreprocessConfig(max_aspect=None)
    assert target_size(1000, 100, config) == (2240, 224)
    assert target_size(4000, 3, config) == (298662, 224)  # 21333.3 patches


def test_shapes_are_patch_multiples_with_the_short_side_exact():
    rng = np.random.default_rng(0)
    for width, height in rng.integers(1, 5000, size=(300, 2)):
        out_w, out_h = target_size(int(width), int(height))
        assert out_w % 14 == 0 and out_h % 14 == 0
        assert min(out_w, out_h) == 224
        exact_long = max(width, height) * 224 / min(width, height)
        assert abs(max(out_w, out_h) - exact_long) <= 7 or max(out_w, out_h) == 896


def test_resize_mode_is_the_original_pipeline(photos):
    for img in photos.values():
        x = preprocess(img)
        expected = reference(img, (x.shape[3], x.shape[2]))
        assert np.abs(x - expected).max() < 1e-5


def test_normalisation_on_a_constant_colour():
    colour = (10, 128, 250)
    x = preprocess(Image.new("RGB", (300, 200), colour))
    for channel, value in enumerate(colour):
        expected = (value / 255 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        assert np.allclose(x[0, channel], expected, atol=1e-6)
    assert np.isclose(x[0, 0, 0, 0], -1.9466563, atol=1e-6)  # (10/255 - 0.485) / 0.229


def test_black_and_white_extremes():
    black = preprocess(Image.new("RGB", (224, 224), (0, 0, 0)))
    white = preprocess(Image.new("RGB", (224, 224), (255, 255, 255)))
    assert np.allclose(black[0, :, 0, 0], [-2.1179039, -2.0357143, -1.8044444], atol=1e-6)
    assert np.allclose(white[0, :, 0, 0], [2.2489083, 2.4285715, 2.64], atol=1e-6)


def test_non_rgb_input_is_converted(photos):
    rgba = photos["astronaut"].convert("RGBA")
    assert np.array_equal(preprocess(rgba), preprocess(photos["astronaut"]))


@pytest.mark.parametrize("size", [(640, 427), (427, 640), (300, 300), (50, 30), (3000, 200)])
def test_center_crop_shape(size):
    x = preprocess(Image.new("RGB", size, (1, 2, 3)), PreprocessConfig(mode="center_crop"))
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32


def test_center_crop_equals_resize_then_crop(photos):
    config = PreprocessConfig(mode="center_crop")
    for img in photos.values():
        width, height = img.size
        short = min(width, height)
        scaled = (int(width * 224 / short + 0.5), int(height * 224 / short + 0.5))
        left, top = (scaled[0] - 224) // 2, (scaled[1] - 224) // 2
        resized = img.resize(scaled, Image.Resampling.BICUBIC).crop((left, top, left + 224, top + 224))
        expected = reference(resized, (224, 224))
        assert np.abs(preprocess(img, config) - expected).max() <= NORMALISED_STEP + 1e-5


def test_center_crop_without_scaling_is_an_exact_crop():
    rng = np.random.default_rng(3)
    wide = Image.fromarray(rng.integers(0, 256, (224, 500, 3), dtype=np.uint8))
    x = preprocess(wide, PreprocessConfig(mode="center_crop"))
    assert np.abs(x - reference(wide.crop((138, 0, 362, 224)), (224, 224))).max() < 1e-5


def test_capped_long_side_keeps_the_centre_at_the_same_scale():
    rng = np.random.default_rng(4)
    banner = Image.fromarray(rng.integers(0, 256, (112, 2000, 3), dtype=np.uint8))  # 17.9 : 1
    x = preprocess(banner)  # scale 2: the centred 448 source columns become 896
    assert x.shape == (1, 3, 224, 896)
    full = banner.resize((4000, 224), Image.Resampling.BICUBIC)
    expected = reference(full.crop((1552, 0, 2448, 224)), (896, 224))
    assert np.abs(x - expected).max() <= NORMALISED_STEP + 1e-5


def test_config_is_validated_and_serialised():
    assert PreprocessConfig().to_dict() == {"mode": "resize", "size": 224, "patch_size": 14, "max_aspect": 4.0}
    assert PreprocessConfig(mode="center_crop", size=112).to_dict()["size"] == 112
    for bad in ({"mode": "stretch"}, {"size": 200}, {"size": 0}, {"patch_size": 0}, {"max_aspect": 0.5}):
        with pytest.raises(ValueError):
            PreprocessConfig(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PreprocessConfig().size = 448
    assert PreprocessConfig() == PreprocessConfig(**PreprocessConfig().to_dict())


def test_other_size_and_patch():
    config = PreprocessConfig(size=112, patch_size=16)
    assert target_size(640, 427, config) == (160, 112)  # 167.9 / 16 = 10.49 -> 10 patches
    assert preprocess(Image.new("RGB", (640, 427)), config).shape == (1, 3, 112, 160)
