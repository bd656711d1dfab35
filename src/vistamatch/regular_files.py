"""Reading gallery files safely: regular files only, and never more than a size cap.

A FIFO named ``x.jpg`` would block a plain ``open`` forever, and ``/dev/zero`` behind ``x.png``
would be read until memory runs out. Everything that reads a gallery file goes through here.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from .errors import VistaMatchError

MB = 1024 * 1024
DEFAULT_MAX_FILE_MB = 384


class RefusedFile(VistaMatchError):
    """A path that is not a regular file, or a file over the size cap: never opened or read."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def max_file_bytes() -> int:
    """The size cap of one gallery file: $VISTAMATCH_MAX_FILE_MB, else 384 MiB."""
    return int(float(os.environ.get("VISTAMATCH_MAX_FILE_MB") or DEFAULT_MAX_FILE_MB) * MB)


def kind_of(mode: int) -> str | None:
    """What a stat mode is when it is not a regular file ("a FIFO", "a socket", ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def refusal(st: os.stat_result, cap: int) -> str | None:
    """Why a file with this (followed) stat may not be read, or None."""
    kind = kind_of(st.st_mode)
    if kind is not None:
        return f"{kind}, not a regular file"
    if st.st_size > cap:
        return f"file too large ({st.st_size / MB:.1f} MiB, limit {cap / MB:g} MiB: VISTAMATCH_MAX_FILE_MB)"
    return None


def open_regular(path: str | os.PathLike, cap: int | None = None) -> BinaryIO:
    """``open(path, "rb")`` for a regular file of at most ``cap`` bytes (default :func:`max_file_bytes`).

    Raises RefusedFile for anything else, without blocking: the path is stat'ed before it is opened
    (a device is never opened), opened non-blocking (a FIFO swapped in meanwhile does not wait for a
    writer) and checked again on the open descriptor. OSError (missing, no permission) passes through.
    """
    cap = max_file_bytes() if cap is None else cap
    if (reason := refusal(os.stat(path), cap)) is not None:
        raise RefusedFile(path, reason)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if (reason := refusal(os.fstat(fd), cap)) is not None:
            raise RefusedFile(path, reason)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, cap: int | None = None) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes; RefusedFile otherwise, also if it grows past the cap."""
    cap = max_file_bytes() if cap is None else cap
    with open_regular(path, cap) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise RefusedFile(path, f"file too large (grew past the limit of {cap / MB:g} MiB while read: VISTAMATCH_MAX_FILE_MB)")
    return data
