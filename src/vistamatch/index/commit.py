"""Replacing the three index files together, crash-safe.

Each file is atomic on its own, but a kill between two renames would pair new features with an old
mapping. So: stage all new files beside their targets, write a journal naming them (the commit
point), rename, remove the journal. ``recover`` rolls a committed journal forward and throws away
files staged by a build that never reached its commit point.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_json, fsync_dir
from .paths import IndexPaths

STAGED_SUFFIX = ".partial-new"


def commit_files(paths: IndexPaths, contents: dict[Path, bytes | np.ndarray]) -> None:
    """Put ``contents`` (target path -> bytes, or an array saved as .npy) in place, all or none.

    The targets are a subset of the index files.
    """
    recover(paths)
    staged = {target: _staged(target) for target in contents}
    for target, data in contents.items():
        _write_durably(staged[target], data)
    atomic_write_json(paths.journal, {str(target): str(tmp) for target, tmp in staged.items()})
    _roll_forward(paths)


def recover(paths: IndexPaths) -> None:
    """Finish a commit a kill interrupted; drop files staged without a commit."""
    if paths.journal.exists():
        _roll_forward(paths)
    for target in (paths.features, paths.mapping, paths.manifest):
        _staged(target).unlink(missing_ok=True)


def _roll_forward(paths: IndexPaths) -> None:
    pending = json.loads(paths.journal.read_text("utf-8"))
    for target, tmp in pending.items():
        if Path(tmp).exists():  # absent when an earlier roll-forward already moved it
            os.replace(tmp, target)
    for folder in {Path(target).parent for target in pending}:
        fsync_dir(folder)  # the renames are durable before the journal goes
    paths.journal.unlink()


def _write_durably(path: Path, data: bytes | np.ndarray) -> None:
    # No temp+rename needed: a staged file only counts once the journal names it.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if isinstance(data, np.ndarray):
            np.save(f, data, allow_pickle=False)
        else:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _staged(target: Path) -> Path:
    return target.with_name(target.name + STAGED_SUFFIX)
