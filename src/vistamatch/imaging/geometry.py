"""Preprocessing settings and the exact output geometry they give for an image size."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Box = tuple[float, float, float, float]  # (left, top, right, bottom), pixel-edge coordinates

MODES = ("resize", "center_crop")


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes the model input. Indices record it and refuse any other.

    mode "resize" (the original pipeline): scale so the short side is ``size``; the long
    side becomes the multiple of ``patch_size`` nearest to ``long * size / short``, ties
    rounded up, computed exactly in integers. One bicubic resize goes straight to that
    size, so the aspect ratio may change by up to half a patch on the long side
    (e.g. 640x427 -> 336x224: 335.7 rounds to 336 = 24 patches).

    mode "center_crop": scale so the short side is ``size`` (long side rounded half up to
    whole pixels), then keep the centred ``size`` x ``size`` square (offset floor((L - size) / 2)).

    ``max_aspect`` (resize mode) caps the long side at ``max_aspect * size`` rounded down to
    a multiple of ``patch_size`` (896 by default): a longer panorama or banner keeps its
    centred part at the same scale instead of becoming thousands of patches (a 10000x10
    image would otherwise be a 224 x 224000 input). ``None`` disables the cap.

    Resampling is Pillow's BICUBIC, as in the original: Pillow widens the kernel when
    shrinking, so it is antialiased (unlike torch's default bicubic).
    """

    mode: Literal["resize", "center_crop"] = "resize"
    size: int = 224
    patch_size: int = 14
    max_aspect: float | None = 4.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown preprocessing mode {self.mode!r}; expected one of {MODES}")
        if self.patch_size < 1 or self.size < self.patch_size or self.size % self.patch_size:
            raise ValueError(f"size ({self.size}) must be a positive multiple of patch_size ({self.patch_size})")
        if self.max_aspect is not None and not self.max_aspect >= 1:
            raise ValueError(f"max_aspect must be at least 1 or None, got {self.max_aspect}")

    @property
    def max_long_patches(self) -> int | None:
        """The most patches along the long side in resize mode (None: no cap)."""
        if self.max_aspect is None:
            return None
        return int(self.max_aspect * self.size) // self.patch_size

    def to_dict(self) -> dict:
        return asdict(self)


def _round_half_up(numerator: int, denominator: int) -> int:
    """round(numerator / denominator), ties up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def target_size(width: int, height: int, config: PreprocessConfig = PreprocessConfig()) -> tuple[int, int]:
    """(out_w, out_h) of the model input for a ``width`` x ``height`` upright image."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if config.mode == "center_crop":
        return config.size, config.size
    long_out = _long_side_out(min(width, height), max(width, height), config)
    return (long_out, config.size) if width >= height else (config.size, long_out)


def _long_side_patches(short: int, long: int, config: PreprocessConfig) -> tuple[int, bool]:
    """Patches along the long side, and whether max_aspect capped them."""
    patches = max(1, _round_half_up(long * config.size, short * config.patch_size))
    cap = config.max_long_patches
    return (cap, True) if cap is not None and patches > cap else (patches, False)


def _long_side_out(short: int, long: int, config: PreprocessConfig) -> int:
    return _long_side_patches(short, long, config)[0] * config.patch_size


def source_box(width: int, height: int, config: PreprocessConfig = PreprocessConfig()) -> Box:
    """The region of the ``width`` x ``height`` image that is resized to :func:`target_size`."""
    if config.mode == "resize":
        return _resize_box(width, height, config)
    short = min(width, height)
    scaled_w = _round_half_up(width * config.size, short)
    scaled_h = _round_half_up(height * config.size, short)
    left, top = (scaled_w - config.size) // 2, (scaled_h - config.size) // 2
    # Crop box in the scaled image, mapped back to source pixels.
    sx, sy = width / scaled_w, height / scaled_h
    return (left * sx, top * sy, (left + config.size) * sx, (top + config.size) * sy)


def _resize_box(width: int, height: int, config: PreprocessConfig) -> Box:
    """The whole image, or its centred part along the long side when max_aspect caps it."""
    short, long = min(width, height), max(width, height)
    patches, capped = _long_side_patches(short, long, config)
    if not capped:
        return (0.0, 0.0, float(width), float(height))
    # Source pixels that the capped long side spans at the short side's scale.
    kept = patches * config.patch_size * short / config.size
    start = (long - kept) / 2
    return (start, 0.0, start + kept, float(height)) if width >= height else (0.0, start, float(width), start + kept)
