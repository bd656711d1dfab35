"""Any Pillow pixel mode -> 8-bit RGB, with transparency composited on white."""

from __future__ import annotations

import numpy as np
from PIL import Image

WHITE = (255, 255, 255)
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WIDE_GRAY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def to_rgb(img: Image.Image) -> Image.Image:
    """Return ``img`` as mode "RGB" (the same object when it already is).

    - palette, gray, bilevel, CMYK, YCbCr: Pillow's conversion;
    - 16-bit gray (I;16*, and I read as 16-bit): scaled to 8 bits, v * 255 / 65535 rounded;
    - alpha channel or a transparency key (palette, gray or RGB PNG, GIF): composited on white.
    """
    if img.mode in _WIDE_GRAY_MODES:
        img = _wide_gray_to_l(img)
    if "transparency" in img.info and img.mode in {"P", "L", "RGB", "1"}:
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        return _composite_on_white(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def _wide_gray_to_l(img: Image.Image) -> Image.Image:
    # Pillow's own I;16 -> L conversion clips at 255 instead of scaling.
    values = np.asarray(img)  # (H, W) uint16 or int32
    if img.mode == "I":
        values = np.clip(values, 0, 65535)
    scaled = (values.astype(np.uint32) * 255 + 32767) // 65535
    return Image.fromarray(scaled.astype(np.uint8))


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")  # no copy of an RGBA image
    background = Image.new("RGB", rgba.size, WHITE)
    background.paste(rgba, mask=rgba)  # an RGBA mask is its alpha band
    return background
