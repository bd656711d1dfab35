"""Finding the gallery's image files and fingerprinting their contents."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..imaging import IMAGE_EXTENSIONS
from ..regular_files import max_file_bytes, refusal


@dataclass(frozen=True)
class GalleryFile:
    path: str  # gallery-relative, '/'-separated: the mapping's key
    abspath: Path
    size: int
    mtime_ns: int
    problem: str | None = None  # why it cannot be indexed, found while scanning


def scan_gallery(root: Path, *, follow_outside_links: bool = False) -> list[GalleryFile]:
    """Every image file under ``root`` (by extension, recursively), sorted by relative path.

    Hidden files and folders (name starting with '.') are left out; symlinked folders are not followed.
    Entries that must not be read are listed with a ``problem`` and never opened: FIFOs, sockets,
    devices, dangling symlinks, files over the size cap, and symlinks that resolve outside ``root``
    (unless ``follow_outside_links``).
    """
    root = Path(os.path.realpath(root))
    cap = max_file_bytes()
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            abspath = Path(folder, name)
            try:
                st, problem = _inspect(abspath, root, cap, follow_outside_links)
            except OSError:  # vanished since listed: not part of the gallery
                continue
            rel = abspath.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name: cannot go in the mapping or JSON
                rel = os.fsencode(rel).decode("utf-8", "backslashreplace")
                problem = problem or "file name is not valid UTF-8"
            found.append(GalleryFile(rel, abspath, st.st_size, st.st_mtime_ns, problem))
    found.sort(key=lambda f: f.path)
    return found


def _inspect(path: Path, root: Path, cap: int, follow_outside_links: bool) -> tuple[os.stat_result, str | None]:
    """The entry's stat (the target's for a link) and why it must not be read, from stat calls only."""
    lst = path.lstat()
    if not stat.S_ISLNK(lst.st_mode):
        return lst, refusal(lst, cap)
    try:
        st = path.stat()
    except OSError:  # missing target, or a loop
        return lst, "dangling symlink (its target does not exist)"
    target = Path(os.path.realpath(path))
    if not follow_outside_links and root not in target.parents:
        return st, f"symlink to {target}, outside the gallery (--follow-outside-links indexes it)"
    return st, refusal(st, cap)


def content_hash(data: bytes) -> str:
    """blake2b-128 of the bytes, hex: equal for identical files wherever they are."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
