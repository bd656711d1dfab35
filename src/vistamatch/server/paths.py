"""Gallery paths from the outside world: resolve safely, or refuse; and the URLs we hand out."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

GALLERY_PREFIX = "/gallery_images/"
THUMBS_PREFIX = "/thumbs/"


class UnsafePath(LookupError):
    """A requested path that is not a servable image inside the gallery (answered with 404)."""


class GalleryPaths:
    """Maps relative '/'-separated names to files inside one gallery folder, and nothing else."""

    def __init__(self, root: str | os.PathLike, allowed_suffixes: frozenset[str]):
        self.root = Path(os.path.realpath(root))
        self.allowed_suffixes = allowed_suffixes

    def resolve(self, relative: str) -> Path:
        """The real file for `relative`; raises UnsafePath for anything outside or not an image.

        Refused: empty, absolute or drive paths, backslashes, NUL, '.' or '..' parts, hidden parts,
        suffixes that are not images, and symlinks whose target lies outside the gallery.
        """
        if not relative or "\x00" in relative or "\\" in relative:
            raise UnsafePath(relative)
        parts = relative.split("/")  # raw parts: '' (absolute, '//'), '.' and '..' all refused
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise UnsafePath(relative)
        if ":" in parts[0]:  # a Windows drive such as C:
            raise UnsafePath(relative)
        if PurePosixPath(parts[-1]).suffix.lower() not in self.allowed_suffixes:
            raise UnsafePath(relative)
        try:
            real = Path(os.path.realpath(self.root.joinpath(*parts)))
            inside = real != self.root and self.root in real.parents
            if not (inside and real.is_file()):
                raise UnsafePath(relative)
        except (OSError, ValueError):  # a name too long for the file system, and the like
            raise UnsafePath(relative) from None
        return real


def gallery_url(relative: str) -> str:
    return GALLERY_PREFIX + quote(relative, safe="/")


def thumb_url(relative: str) -> str:
    return THUMBS_PREFIX + quote(relative, safe="/")
