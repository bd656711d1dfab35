"""File or bytes -> model input, decoding big JPEGs at reduced scale where that is safe."""

from __future__ import annotations

import numpy as np

from .geometry import PreprocessConfig, source_box, target_size
from .loading import DEFAULT_MAX_PIXELS, DecodedImage, ImageSource, decoding
from .preprocessing import resize_and_normalize

DRAFT_FACTOR = 2
"""JPEG draft decoding keeps the short side >= DRAFT_FACTOR x the target short side."""

# Stated tolerance of draft decoding vs a full decode, normalised tensor units (see below).
DRAFT_MAX_ABS_DIFF = 0.25
DRAFT_MEAN_ABS_DIFF = 0.01


def draft_size_for(config: PreprocessConfig) -> int:
    """The smallest short side a draft-decoded JPEG may have for ``config``."""
    return DRAFT_FACTOR * config.size


def load_and_preprocess(
    source: ImageSource,
    config: PreprocessConfig = PreprocessConfig(),
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: bool = True,
    budget: int | None = None,
) -> np.ndarray:
    """Decode ``source`` and return the (1, 3, H, W) float32 model input.

    The output shape and region always come from the full-resolution upright size, so
    draft decoding never changes the shape. With ``draft`` (the default) a JPEG whose
    short side is at least 4x ``config.size`` is decoded by libjpeg at 1/2, 1/4 or 1/8
    scale, keeping its short side >= 2x ``config.size`` (448 for 224).

    Stated tolerance against a full decode, in normalised units (one 8-bit level is
    about 0.017): max abs difference <= 0.25 (DRAFT_MAX_ABS_DIFF), mean abs <= 0.01
    (DRAFT_MEAN_ABS_DIFF). ``benchmarks/bench_draft.py`` measured at worst 0.228 / 0.0059
    on 1.2-24 MP JPEG q=90 mosaics of native-resolution photos and textures (sharper
    than most camera photos), EXIF-rotated and odd-sized ones included; for scale,
    saving those pictures as JPEG q=90 changed the tensor by up to 0.105 / 0.0076.
    Decode + preprocess was 1.8-8x faster on 2-24 MP JPEGs (3-4x at 12 MP).

    ``budget`` bounds the decode's memory (see :mod:`.budget`): an image over it is decoded at
    reduced scale where the format can, else DecodeBudgetError is raised before decoding.
    """
    draft_size = draft_size_for(config) if draft else None
    with decoding(source, name=name, max_pixels=max_pixels, draft_size=draft_size, budget=budget) as decoded:
        return preprocess_decoded(decoded, config)


def preprocess_decoded(decoded: DecodedImage, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Like :func:`preprocess`, with geometry from the full-resolution size of a decoded image."""
    full_w, full_h = decoded.full_size
    box = decoded.full_to_image(source_box(full_w, full_h, config))
    return resize_and_normalize(decoded.image, box, target_size(full_w, full_h, config))
