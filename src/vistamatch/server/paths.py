"""Gallery paths from the outside world: resolve safely, or refuse; and the URLs we hand out."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from ..regular_files import max_file_bytes, refusal

GALLERY_PREFIX = "/gallery_images/"
THUMBS_PREFIX = "/thumbs/"


class UnsafePath(LookupError):
    """A requested path that is not a servable image inside the gallery (answered with 404)."""


class RefusedPath(UnsafePath):
    """A gallery entry that exists but must not be read: a FIFO, a socket, a device, too large (answered with 403)."""

    def __init__(self, relative: str, reason: str):
        self.reason = reason
        super().__init__(relative)


class GalleryPaths:
    """Maps relative '/'-separated names to files inside one gallery folder, and nothing else."""

    def __init__(self, root: str | os.PathLike, allowed_suffixes: frozenset[str], *, follow_outside_links: bool = False):
        self.root = Path(os.path.realpath(root))
        self.allowed_suffixes = allowed_suffixes
        self.follow_outside_links = follow_outside_links

    def resolve(self, relative: str) -> Path:
        """The real file for `relative`; raises UnsafePath for anything outside or not an image.

        Refused: empty, absolute or drive paths, backslashes, NUL, '.' or '..' parts, hidden parts,
        suffixes that are not images, missing files, paths through a symlinked folder leading
        outside, symlinks to a file outside unless `follow_outside_links`; and (RefusedPath) what
        the index skips too: FIFOs, sockets, devices, files over the size cap.
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
            folder = Path(os.path.realpath(self.root.joinpath(*parts[:-1])))
            real = Path(os.path.realpath(self.root.joinpath(*parts)))
            st = real.stat()  # stat only: a FIFO or a device is never opened here
        except (OSError, ValueError):  # missing, a name too long for the file system, and the like
            raise UnsafePath(relative) from None
        # Like the index: a symlinked folder never leads out, a symlinked file only with the option.
        if not (self._inside(folder) and (self.follow_outside_links or self._inside(real))) or stat.S_ISDIR(st.st_mode):
            raise UnsafePath(relative)
        if (reason := refusal(st, max_file_bytes())) is not None:
            raise RefusedPath(relative, reason)
        return real

    def _inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents


def gallery_url(relative: str) -> str:
    return GALLERY_PREFIX + quote(relative, safe="/")


def thumb_url(relative: str) -> str:
    return THUMBS_PREFIX + quote(relative, safe="/")
