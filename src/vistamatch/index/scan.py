"""Finding the gallery's image files and fingerprinting their contents."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..imaging import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class GalleryFile:
    path: str  # gallery-relative, '/'-separated: the mapping's key
    abspath: Path
    size: int
    mtime_ns: int
    problem: str | None = None  # why it cannot be indexed, found while scanning


def scan_gallery(root: Path) -> list[GalleryFile]:
    """Every image file under ``root`` (by extension, recursively), sorted by relative path.

    Hidden files and folders (name starting with '.') are left out; symlinked folders are not followed.
    """
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            abspath = Path(folder, name)
            try:
                st = abspath.stat()
            except OSError:  # vanished or a dangling link: not part of the gallery
                continue
            rel = abspath.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name: cannot go in the mapping or JSON
                shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
                found.append(GalleryFile(shown, abspath, st.st_size, st.st_mtime_ns, "file name is not valid UTF-8"))
                continue
            found.append(GalleryFile(rel, abspath, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.path)
    return found


def content_hash(data: bytes) -> str:
    """blake2b-128 of the bytes, hex: equal for identical files wherever they are."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
