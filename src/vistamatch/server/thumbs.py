"""Small WebP thumbnails: of gallery files (cached on disk, made once) and of query uploads."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image

from ..atomic import atomic_write_bytes
from ..imaging import DecodedImage, decoding

WEBP_QUALITY = 80


def make_thumbnail(source: str | os.PathLike | bytes, size: int, *, name: str | None = None, budget: int | None = None) -> bytes:
    """WebP bytes of `source` shrunk to fit size x size. Raises ImageLoadError for a bad image."""
    # draft_size lets JPEG decode at reduced scale: a 24 MP photo decodes in a few ms.
    with decoding(source, name=name, draft_size=size, budget=budget) as decoded:
        return thumbnail_of(decoded, size)


def thumbnail_of(decoded: DecodedImage, size: int) -> bytes:
    """WebP bytes of a decoded image shrunk to fit size x size (never enlarged)."""
    left, top, right, bottom = decoded.content_box  # without the padding of a reduced-scale decode
    scale = min(1.0, size / (right - left), size / (bottom - top))
    out = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    img = decoded.image.resize(out, Image.Resampling.BICUBIC, box=decoded.content_box, reducing_gap=2.0)
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buf.getvalue()


class ThumbnailCache:
    """Thumbnails of gallery files in `folder`, keyed by path, size and the file's mtime and size.

    A changed source gets a new key, so a cached thumbnail is never stale. Writes are atomic: two
    requests racing for the same thumbnail both write whole files and either one wins.
    """

    def __init__(self, folder: str | os.PathLike, size: int = 256, budget: int | None = None):
        self.folder = Path(folder)
        self.size = size
        self.budget = budget  # the decode budget in bytes (None: $VISTAMATCH_DECODE_BUDGET_MB)

    def path_for(self, source: Path, relative: str) -> Path:
        st = source.stat()
        key = hashlib.sha1(f"{relative}\0{st.st_mtime_ns}\0{st.st_size}\0{self.size}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.webp"

    def get(self, source: Path, relative: str) -> Path:
        """The cached thumbnail of `source`, made now if missing. Raises ImageLoadError."""
        path = self.path_for(source, relative)
        if not path.is_file():
            atomic_write_bytes(path, make_thumbnail(source, self.size, name=relative, budget=self.budget))
        return path
