"""RGB image -> normalised (1, 3, H, W) float32 model input."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .geometry import Box, PreprocessConfig, source_box, target_size
from .modes import to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (3, 256) float32: the normalised value of every 8-bit level, per channel: (v / 255 - mean) / std.
_LEVELS = (
    (np.arange(256, dtype=np.float64)[None, :] / 255.0 - np.array(IMAGENET_MEAN)[:, None]) / np.array(IMAGENET_STD)[:, None]
).astype(np.float32)


def preprocess(img: Image.Image, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """The model input for an image: (1, 3, H, W) float32, ImageNet-normalised.

    (W, H) is :func:`target_size` of the image; see :class:`PreprocessConfig` for the
    resize and rounding rules. Images of another mode than RGB are converted first
    (transparency on white).
    """
    img = to_rgb(img)
    return resize_and_normalize(img, source_box(*img.size, config), target_size(*img.size, config))


def resize_and_normalize(img: Image.Image, box: Box, out_size: tuple[int, int]) -> np.ndarray:
    """Bicubic-resize the ``box`` region of an RGB image to ``out_size``, then normalise.

    Pillow evaluates the filter on the full image around the box, so resizing a box is
    the same (within 1/255) as resizing the whole image and cropping afterwards.
    """
    full = (0.0, 0.0, float(img.width), float(img.height))
    if out_size != img.size or box != full:
        img = img.resize(out_size, Image.Resampling.BICUBIC, box=box)
    pixels = np.asarray(img)  # (H, W, 3) uint8
    out = np.empty((1, 3, out_size[1], out_size[0]), dtype=np.float32)
    for channel in range(3):
        np.take(_LEVELS[channel], pixels[:, :, channel], out=out[0, channel])
    return out
