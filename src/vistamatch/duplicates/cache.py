"""The neighbour graph cached beside the index, as ``gallery_features.neighbours.npz``.

The file records which index it was computed from (size, mtime and inode of the features and
mapping files: a commit of a new index replaces both, so any change shows) and its floor; it is
reused while both match and the requested threshold is at or above the floor. A stale file is
recomputed and replaced; an unreadable one is set aside as ``.corrupt`` (never trusted, never
silently lost) and recomputed. Writes are atomic, so a kill -9 leaves the old file or the new one
(and a temporary file, removed by the next write); a folder that cannot be written only costs the
reuse.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, temp_target
from ..index import IndexPaths
from .graph import NeighbourGraph

FORMAT_VERSION = 1
_ARRAYS = ("first", "second", "scores", "nearest")

# what a lookup found: reused, none there, made for another index or a higher floor, unreadable
HIT, MISSING, STALE, CORRUPT = "hit", "missing", "stale", "corrupt"


@dataclass(frozen=True)
class CachedGraph:
    graph: NeighbourGraph
    status: str  # HIT, MISSING, STALE or CORRUPT
    note: str | None = None  # what the user should know (where a corrupt file went, a failed write)


def cache_path(paths: IndexPaths) -> Path:
    return paths.features.with_name(paths.features.stem + ".neighbours.npz")


def index_identity(paths: IndexPaths) -> dict:
    """What changes whenever the index files are replaced."""
    identity = {"format_version": FORMAT_VERSION}
    for name in ("features", "mapping"):
        st = os.stat(getattr(paths, name))
        identity[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
    return identity


def cached_graph(paths: IndexPaths, threshold: float, floor: float, compute: Callable[[float], NeighbourGraph]) -> CachedGraph:
    """The graph for ``threshold`` from the cache, else ``compute(floor)`` (then cached); floor <= threshold."""
    path = cache_path(paths)
    identity = index_identity(paths)
    note = None
    try:
        stored = _load(path)
    except FileNotFoundError:
        status = MISSING
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        status, note = CORRUPT, _set_aside(path, exc)
    else:
        key, graph = stored
        if key == identity and graph.floor <= threshold:
            return CachedGraph(graph.at(threshold), HIT)
        status = STALE
    graph = compute(floor)
    try:
        _prune_leftovers(path)
        _save(path, identity, graph)
    except OSError as exc:
        note = f"{note}; " if note else ""
        note += f"the neighbour graph could not be cached at {path} ({exc.strerror or exc})"
    return CachedGraph(graph.at(threshold), status, note)


def _load(path: Path) -> tuple[dict, NeighbourGraph]:
    with np.load(path, allow_pickle=False) as data:
        key = json.loads(str(data["key"]))
        size, floor = int(data["size"]), float(data["floor"])
        first, second, scores, nearest = (data[name] for name in _ARRAYS)
    if not (len(first) == len(second) == len(scores)) or len(nearest) != size:
        raise ValueError("arrays of different lengths")
    if len(first) and (first.min() < 0 or second.max() >= size or np.any(first >= second)):
        raise ValueError("row numbers out of range")
    graph = NeighbourGraph(size, floor, first.astype(np.int64), second.astype(np.int64), scores.astype(np.float32), nearest.astype(np.float32))
    return key, graph


def _save(path: Path, identity: dict, graph: NeighbourGraph) -> None:
    buffer = io.BytesIO()
    arrays = {name: getattr(graph, name) for name in _ARRAYS}
    np.savez(buffer, key=np.array(json.dumps(identity, sort_keys=True)), size=graph.size, floor=graph.floor, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _prune_leftovers(path: Path) -> None:
    """Remove the temporary files of cache writes killed before their rename."""
    for entry in os.scandir(path.parent):
        if temp_target(entry.name) == path.name:
            os.unlink(entry.path)


def _set_aside(path: Path, why: Exception) -> str:
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return f"unreadable neighbour cache {path} ({why}) could not be set aside ({exc.strerror or exc}); recomputed"
    return f"unreadable neighbour cache {path} ({why}) set aside as {aside.name}; recomputed"
