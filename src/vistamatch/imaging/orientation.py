"""EXIF orientation: turning the stored pixels upright, and where the content lies afterwards."""

from __future__ import annotations

from PIL import ExifTags, Image

from .geometry import Box

# The same transpositions as ImageOps.exif_transpose, by EXIF orientation value.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Whether the upright x / y axis runs backwards along the stored pixels, by orientation.
_REVERSED_AXES = {
    1: (False, False), 2: (True, False), 3: (True, True), 4: (False, True),
    5: (False, False), 6: (True, False), 7: (True, True), 8: (False, True),
}


def read_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when absent, unreadable or out of range.

    Unreadable metadata does not make the pixels unusable, so it is ignored here.
    """
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # broken EXIF blocks raise assorted errors from the parser
        return 1
    return value if value in _REVERSED_AXES else 1


def swaps_axes(orientation: int) -> bool:
    """True when turning upright exchanges width and height (orientations 5 to 8)."""
    return orientation >= 5


def transpose_upright(img: Image.Image, orientation: int) -> Image.Image:
    """The image as it should be displayed (no copy when it is already upright)."""
    method = _TRANSPOSE.get(orientation)
    return img if method is None else img.transpose(method)


def upright_content_box(stored_extent: tuple[float, float], upright_size: tuple[int, int], orientation: int) -> Box:
    """Where the picture lies in an upright image whose stored pixels cover only ``stored_extent``.

    A JPEG decoded at 1/s scale has ceil(W/s) columns of which the picture spans W/s: the
    last column is partly padding. After a flip or rotation that padding can sit on the
    left or top instead; this returns the box, in upright pixels, that spans exactly the picture.
    """
    extent_x, extent_y = reversed(stored_extent) if swaps_axes(orientation) else stored_extent
    width, height = upright_size
    reversed_x, reversed_y = _REVERSED_AXES[orientation]
    left = width - extent_x if reversed_x else 0.0
    top = height - extent_y if reversed_y else 0.0
    return (left, top, left + extent_x, top + extent_y)
