"""Crash-safe file writes: temporary file in the same folder, fsync, rename, fsync the folder.

After a kill -9 at any moment the target is either the old file or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# mkstemp creates files readable by the owner only; give the result the usual mode instead.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


_TEMP_SUFFIX = ".tmp"
# ".<target name>.<random>.tmp": what a write killed before its rename leaves behind.
_TEMP_NAME = re.compile(r"^\.(.+)\.[^.]+" + re.escape(_TEMP_SUFFIX) + "$")


def temp_target(name: str) -> str | None:
    """The target file name a leftover temporary file of ours was for, or None if it is not one."""
    match = _TEMP_NAME.match(name)
    return match.group(1) if match else None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2))


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (best effort where the file system refuses)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
