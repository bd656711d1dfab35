"""Decoding files and uploads into upright RGB images, with one error type for every failure."""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image

from ..errors import ImageLoadError
from ..regular_files import RefusedFile, open_regular
from .budget import decode_budget_from_env, decode_slot, fit_to_budget
from .formats import READABLE_FORMATS, identify_other_format, sniff_unreadable_format
from .geometry import Box
from .modes import to_rgb
from .orientation import read_orientation, swaps_axes, transpose_upright, upright_content_box

ImageSource = str | os.PathLike | bytes

DEFAULT_MAX_PIXELS: int = 89_478_485
"""Largest width x height accepted (~89.5 MP, e.g. 9459 x 9459): Pillow's own warning threshold.

Pillow raises DecompressionBombError above twice its ``Image.MAX_IMAGE_PIXELS``, so a
``max_pixels`` above that is capped there unless the application raises Pillow's limit.
"""

TRUNCATED = "truncated or corrupt image data"
NOT_AN_IMAGE = "not an image"


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image, possibly decoded at reduced scale.

    ``full_size`` is the upright (width, height) of the picture at full resolution;
    ``content_box`` is where that picture lies in ``image`` (all of it unless draft-decoded,
    where a partial last row/column of padding may sit on any side after rotation).
    """

    image: Image.Image
    full_size: tuple[int, int]
    content_box: Box

    def full_to_image(self, box: Box) -> Box:
        """Map a box in full-resolution pixels to ``image`` pixels."""
        left, top, right, bottom = self.content_box
        sx, sy = (right - left) / self.full_size[0], (bottom - top) / self.full_size[1]
        return (left + box[0] * sx, top + box[1] * sy, left + box[2] * sx, top + box[3] * sy)


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> Image.Image:
    """Decode a file path or raw bytes into an upright RGB image.

    Reads JPEG (CMYK and progressive too), PNG (palette, 16-bit, alpha), WebP, GIF (first
    frame), BMP, TIFF (first page), and HEIC/AVIF where their Pillow plugins exist. EXIF
    orientation is applied; transparency is composited on white; 16-bit gray is scaled to
    8 bits. The whole image is decoded here, so a truncated file fails here.

    ``draft_size``: for JPEG, let libjpeg decode at 1/2, 1/4 or 1/8 scale while both sides
    stay >= ``draft_size``. That changes pixels (DCT scaling instead of full decode), so
    keep it >= 2x the size you will resize to: see :func:`load_and_preprocess` for the
    measured effect. Other formats ignore it.

    Raises :class:`~vistamatch.errors.ImageLoadError` naming the file (``name``, else the
    path, else "uploaded image") for anything that is not a readable image of at most
    ``max_pixels`` pixels; never a Pillow or NumPy exception.
    """
    return decode_image(source, name=name, max_pixels=max_pixels, draft_size=draft_size).image


def decode_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    budget: int | None = None,
) -> DecodedImage:
    """:func:`load_image`, also telling the full-resolution size and where the picture lies.

    ``budget``: the most bytes the decode may hold (default $VISTAMATCH_DECODE_BUDGET_MB, see
    :mod:`.budget`); over it the image is decoded at reduced scale where the format can, else
    DecodeBudgetError (an ImageLoadError) is raised before any pixel is decoded.
    """
    with ExitStack() as slot:
        return _decode_source(source, name, max_pixels, draft_size, budget, slot)


@contextmanager
def decoding(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    budget: int | None = None,
) -> Iterator[DecodedImage]:
    """:func:`decode_image` for use inside the block only: a large decode keeps its slot until the
    block ends, and its memory is released then (the image is closed)."""
    with ExitStack() as slot:
        decoded = _decode_source(source, name, max_pixels, draft_size, budget, slot)
        try:
            yield decoded
        finally:
            decoded.image.close()


def _decode_source(
    source: ImageSource, name: str | None, max_pixels: int, draft_size: int | None, budget: int | None, slot: ExitStack
) -> DecodedImage:
    label = _label(source, name)
    budget = decode_budget_from_env() if budget is None else budget
    with _open_stream(source, label) as stream, warnings.catch_warnings():
        # max_pixels replaces Pillow's decompression-bomb warning (above its hard limit Pillow
        # raises, handled below); its other warnings (corrupt EXIF, odd palettes) are noise here.
        # catch_warnings is process-wide: a thread race can at worst leave these filters on.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"PIL\.")
        try:
            return _decode(stream, label, max_pixels, draft_size, budget, slot)
        except ImageLoadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageLoadError(label, _too_large_from_pillow(str(exc), max_pixels), damaged=True) from exc
        except MemoryError as exc:
            raise ImageLoadError(label, "not enough memory to decode the image", damaged=True) from exc
        except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error, ...
            raise ImageLoadError(label, TRUNCATED, damaged=True) from exc


def _label(source: ImageSource, name: str | None) -> str:
    if name is not None:
        return name
    return "uploaded image" if isinstance(source, (bytes, bytearray)) else os.fspath(source)


def _open_stream(source: ImageSource, label: str) -> BinaryIO:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    try:
        return open_regular(source)  # a FIFO, a device or a file over the size cap is refused, never read
    except RefusedFile as exc:
        raise ImageLoadError(label, exc.reason) from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(label, "file not found") from exc
    except OSError as exc:
        raise ImageLoadError(label, f"cannot read file ({exc.strerror or exc})") from exc


def _decode(stream: BinaryIO, label: str, max_pixels: int, draft_size: int | None, budget: int, slot: ExitStack) -> DecodedImage:
    img = _identify(stream, label)
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageLoadError(label, f"{NOT_AN_IMAGE} (empty {width} x {height} picture)")
    if width * height > max_pixels:
        raise ImageLoadError(label, f"image too large ({width} x {height} pixels, limit {max_pixels})", damaged=True)
    cost, stored_extent = fit_to_budget(img, label, budget, draft_size, transposed=_orientation_in_header(img) != 1)
    slot.enter_context(decode_slot(cost))
    img.load()
    orientation = read_orientation(img)
    upright = to_rgb(transpose_upright(img, orientation))
    full_size = (height, width) if swaps_axes(orientation) else (width, height)
    return DecodedImage(upright, full_size, upright_content_box(stored_extent, upright.size, orientation))


def _orientation_in_header(img: Image.Image) -> int:
    """The EXIF orientation read without decoding: a PNG may keep it after its pixels (Pillow then
    decodes them to look), so a PNG without EXIF in its header counts as upright here."""
    return 1 if img.format == "PNG" and "exif" not in img.info else read_orientation(img)


def _identify(stream: BinaryIO, label: str) -> Image.Image:
    head = stream.read(32)
    if not head:
        raise ImageLoadError(label, f"{NOT_AN_IMAGE} (empty file)")
    try:
        stream.seek(0)
        return Image.open(stream, formats=READABLE_FORMATS)
    except Image.UnidentifiedImageError:
        pass
    other = sniff_unreadable_format(head) or identify_other_format(stream)
    raise ImageLoadError(label, f"unsupported format {other}" if other else NOT_AN_IMAGE)


def _too_large_from_pillow(message: str, max_pixels: int) -> str:
    """Pillow's decompression-bomb error names the pixel count but not the dimensions."""
    found = re.search(r"\((\d+) pixels\)", message)
    limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
    return f"image too large ({found.group(1)} pixels, limit {limit})" if found else f"image too large (limit {limit})"
