"""File facts for choosing a keeper: byte size, modification time, and the pixel count from the header."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class FileFacts:
    size: int  # bytes
    mtime_ns: int
    width: int | None  # None when the header cannot be read
    height: int | None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


def file_facts(path: Path) -> FileFacts | None:
    """The facts of ``path``, or None if it is gone. Only the header is read (Pillow opens lazily)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    width = height = None
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        pass
    return FileFacts(st.st_size, st.st_mtime_ns, width, height)
