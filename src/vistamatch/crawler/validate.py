"""Is a downloaded body a real image worth keeping? Size bounds, Pillow decode, dimensions, real format.

Runs in a worker thread (Pillow releases the GIL while decoding).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .reasons import CORRUPT, NOT_IMAGE, TOO_BIG, TOO_SMALL, Rejected

# Pillow format -> the extension the file is saved with. Other formats are refused (not_image).
FORMAT_EXTENSIONS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",  # multi-picture JPEG from cameras: a plain JPEG to every reader
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tiff",
}

# Content types a server may send for an image it does not label precisely.
_GENERIC_CONTENT_TYPES = ("application/octet-stream", "binary/octet-stream", "application/binary", "")


@dataclass(frozen=True)
class ImageRules:
    min_bytes: int = 1024
    max_bytes: int = 20 * 1024 * 1024
    min_side: int = 64  # both width and height at least this
    max_side: int | None = None  # resize larger images so the long side is this (None: keep)
    max_pixels: int = 80_000_000  # decompression-bomb guard


@dataclass(frozen=True)
class ValidImage:
    data: bytes  # what is written to disk (re-encoded when resized)
    extension: str  # ".jpg", ".png", ...
    width: int  # of the saved image
    height: int
    sha256: str  # of the downloaded bytes: the duplicate key


def content_type_is_image(content_type: str | None) -> bool:
    """True for image/* and for the generic binary types some servers send for images."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime.startswith("image/") or mime in _GENERIC_CONTENT_TYPES


def validate_image(data: bytes, rules: ImageRules) -> ValidImage:
    """Return the image to save, or raise Rejected with the reason."""
    if len(data) < rules.min_bytes:
        raise Rejected(TOO_SMALL, f"{len(data)} bytes")
    if len(data) > rules.max_bytes:
        raise Rejected(TOO_BIG, f"{len(data)} bytes")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Rejected(TOO_BIG, str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Rejected(NOT_IMAGE, str(exc)) from None
    with img:
        extension = FORMAT_EXTENSIONS.get(img.format or "")
        if extension is None:
            raise Rejected(NOT_IMAGE, f"unsupported format {img.format}")
        width, height = img.size
        if min(width, height) < rules.min_side:
            raise Rejected(TOO_SMALL, f"{width}x{height}")
        if width * height > rules.max_pixels:  # checked before decoding a single pixel
            raise Rejected(TOO_BIG, f"{width}x{height}")
        try:
            img.load()  # full decode: catches truncated and corrupt files
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise Rejected(CORRUPT, str(exc)) from None
        sha256 = hashlib.sha256(data).hexdigest()
        if rules.max_side and max(width, height) > rules.max_side:
            data, extension, width, height = _shrink(img, rules.max_side)
    return ValidImage(data=data, extension=extension, width=width, height=height, sha256=sha256)


def _shrink(img: Image.Image, max_side: int) -> tuple[bytes, str, int, int]:
    """Resize so the long side is max_side; keep the format when it can hold the result, else JPEG."""
    fmt = "JPEG" if img.format == "MPO" else img.format
    frame = img.convert("RGBA" if _has_alpha(img) else "RGB")
    frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if fmt == "JPEG" and frame.mode == "RGBA":
        fmt = "PNG"
    if fmt not in ("JPEG", "PNG", "WEBP"):
        fmt = "PNG" if frame.mode == "RGBA" else "JPEG"
    buf = io.BytesIO()
    frame.save(buf, format=fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue(), FORMAT_EXTENSIONS[fmt], frame.width, frame.height


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
