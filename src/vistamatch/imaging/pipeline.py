"""File or bytes -> model input, decoding big JPEGs at reduced scale where that is safe."""

from __future__ import annotations

import numpy as np

from .geometry import PreprocessConfig, source_box, target_size
from .loading import DEFAULT_MAX_PIXELS, DecodedImage, ImageSource, decode_image
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
) -> np.ndarray:
    """Decode ``source`` and return the (1, 3, H, W) float32 model input.

    The output shape and region always come from the full-resolution upright size, so
    draft decoding never changes the shape. With ``draft`` (the default) a JPEG whose
    short side is at least 4x ``config.size`` is decoded by libjpeg at 1/2, 1/4 or 1/8
    scale, keeping the short side >= 2x ``config.size`` (448 for 224). Measured by
    ``benchmarks/bench_draft.py`` against a full decode, on 1.2-24 MP JPEG mosaics of
    native-resolution sample photos and textures (the hardest case: detail down to the
    pixel): max abs difference <= DRAFT_MAX_ABS_DIFF and mean abs difference
    <= DRAFT_MEAN_ABS_DIFF in normalised units (one 8-bit step is about 0.017).
    """
    decoded = decode_image(source, name=name, max_pixels=max_pixels, draft_size=draft_size_for(config) if draft else None)
    return preprocess_decoded(decoded, config)


def preprocess_decoded(decoded: DecodedImage, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Like :func:`preprocess`, with geometry from the full-resolution size of a decoded image."""
    full_w, full_h = decoded.full_size
    box = decoded.full_to_image(source_box(full_w, full_h, config))
    return resize_and_normalize(decoded.image, box, target_size(full_w, full_h, config))
