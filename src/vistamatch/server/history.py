"""The search history file (search_history.json): newest first, capped, never loses an entry.

Every change is a read-modify-write under a file lock (threads and processes), written atomically.
A history that cannot be read (not UTF-8, not JSON, nested too deep, not a list, malformed entries,
unreadable, a folder in its place) is renamed aside to a timestamped backup and reported (log +
`warnings`); the valid entries, if any, are written to a fresh file and the server goes on.
Query thumbnails live beside the file in `<stem>_thumbs/<id>.webp`, and the query's embedding (so the
search can run again with other settings) in `<id>.npy` next to it. A search stores both before its
entry, so such a file without an entry is only removed once it is ORPHAN_GRACE_S old.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

import numpy as np
from filelock import FileLock
from pydantic import ValidationError

from ..atomic import atomic_write_bytes, fsync_dir, temp_target
from .schemas import HistoryEntry

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 10.0  # a writer holds the lock for milliseconds; longer means a stuck process

# A thumbnail with no entry this long after it was written is a leftover (a crash between the
# thumbnail and its entry, an entry removed by hand), not one of a search still running (a search
# waits at most a minute for the engine and seconds for the history lock).
ORPHAN_GRACE_S = 600.0

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENTRY_FILES = (".webp", ".npy")  # the query's thumbnail and embedding, named after the entry
MAX_VECTOR_DIM = 8192


def new_entry_id() -> str:
    return uuid.uuid4().hex


def now_timestamp() -> str:
    """Local time to the second, as the original project wrote it."""
    return datetime.now().isoformat(timespec="seconds")


class HistoryStore:
    def __init__(self, path: str | os.PathLike, max_len: int = 200):
        self.path = Path(path)
        self.max_len = max(1, int(max_len))
        self.thumbs_dir = self.path.with_name(f"{self.path.stem}_thumbs")
        self.warnings: list[str] = []  # corrupt files moved aside by this process
        self._file_lock = FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT_S)
        self._thread_lock = threading.Lock()
        self._cache: tuple[tuple, list[dict]] | None = None  # (file identity, entries)
        self._lines: dict[str, str] = {}  # id -> the entry's JSON line

    # ---- reading ---------------------------------------------------------------------------

    def list(self, limit: int | None = None) -> tuple[list[dict], int]:
        """(newest-first entries, up to `limit`; total stored)."""
        with self._locked():
            entries = self._load()
        return (entries if limit is None else entries[:limit]), len(entries)

    def get(self, entry_id: str) -> dict | None:
        with self._locked():
            return next((e for e in self._load() if e["id"] == entry_id), None)

    def thumb_file(self, entry_id: str) -> Path | None:
        if not _SAFE_ID.match(entry_id):
            return None
        path = self.thumbs_dir / f"{entry_id}.webp"
        return path if path.is_file() else None

    # ---- writing ---------------------------------------------------------------------------

    def save_thumb(self, entry_id: str, webp: bytes) -> None:
        """Store the query thumbnail of an entry (before the entry itself: no lock needed, the id is new)."""
        if not _SAFE_ID.match(entry_id):
            raise ValueError(f"unsafe history id {entry_id!r}")
        atomic_write_bytes(self.thumbs_dir / f"{entry_id}.webp", webp)

    def remove_thumb(self, entry_id: str) -> None:
        """Remove the files stored for an entry (thumbnail and embedding)."""
        self._remove_thumbs([{"id": entry_id}])

    def save_vector(self, entry_id: str, vector: np.ndarray) -> None:
        """Store the query embedding of an entry (before the entry, like its thumbnail)."""
        if not _SAFE_ID.match(entry_id):
            raise ValueError(f"unsafe history id {entry_id!r}")
        buf = io.BytesIO()
        np.save(buf, np.asarray(vector, dtype=np.float32).reshape(-1), allow_pickle=False)
        atomic_write_bytes(self.thumbs_dir / f"{entry_id}.npy", buf.getvalue())

    def load_vector(self, entry_id: str) -> np.ndarray | None:
        """The stored query embedding of an entry, or None (none stored, unreadable, or not a vector)."""
        if not _SAFE_ID.match(entry_id):
            return None
        try:
            vector = np.load(self.thumbs_dir / f"{entry_id}.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # ValueError: not .npy, or pickled objects
            if not isinstance(exc, FileNotFoundError):
                log.warning("history entry %s: unreadable query embedding (%s)", entry_id, exc)
            return None
        if vector.ndim != 1 or not 0 < len(vector) <= MAX_VECTOR_DIM or vector.dtype != np.float32 or not np.isfinite(vector).all():
            log.warning("history entry %s: stored query embedding is not a float32 vector", entry_id)
            return None
        return vector

    def add(self, entry: dict) -> dict:
        """Insert `entry` (which has its `id`) at the front; drop the oldest beyond max_len."""
        entry = HistoryEntry.model_validate(entry).model_dump(mode="json")
        with self._locked():
            entries = [entry, *self._load()]
            kept, dropped = entries[: self.max_len], entries[self.max_len :]
            self._write(kept)
        self._remove_thumbs(dropped)
        self._prune_orphan_thumbs({e["id"] for e in kept})
        return entry

    def delete(self, entry_id: str) -> bool:
        with self._locked():
            entries = self._load()
            kept = [e for e in entries if e["id"] != entry_id]
            if len(kept) == len(entries):
                return False
            self._write(kept)
        self.remove_thumb(entry_id)
        return True

    def clear(self) -> int:
        """Remove every entry and its thumbnail; a search still running keeps its new thumbnail."""
        with self._locked():
            entries = self._load()
            self._write([])
        self._remove_thumbs(entries)
        self._prune_orphan_thumbs(set())
        return len(entries)

    # ---- internals -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, self._file_lock:
            yield

    def _identity(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> list[dict]:
        """The entries on disk (under the lock). Sets aside a file it cannot fully read."""
        identity = self._identity()
        if identity is None:
            return []
        if self._cache is not None and self._cache[0] == identity:
            return list(self._cache[1])
        self._lines.clear()  # the file changed under us: encode its entries afresh
        try:
            entries, problem = _parse(self.path.read_bytes())
        except (OSError, MemoryError) as exc:  # a folder in its place, unreadable, too large
            entries, problem = [], f"cannot be read ({type(exc).__name__}: {exc})"
        if problem is None:
            self._cache = (identity, entries)
        elif self._set_aside(problem):
            self._write(entries)
        return list(entries)

    def _write(self, entries: list[dict]) -> None:
        # One entry per line: readable, and each line goes through json's fast C encoder.
        lines = [self._line(e) for e in entries]
        self._lines = {e["id"]: line for e, line in zip(entries, lines, strict=True)}
        body = ",\n".join(lines)
        atomic_write_bytes(self.path, (f"[\n{body}\n]\n" if entries else "[]\n").encode("utf-8"))
        self._cache = (self._identity(), list(entries))

    def _line(self, entry: dict) -> str:
        """An entry's line in the file, encoded once per process (entries never change)."""
        line = self._lines.get(entry["id"])
        if line is None:
            line = self._lines[entry["id"]] = "  " + json.dumps(entry, ensure_ascii=False)
        return line

    def _set_aside(self, problem: str) -> bool:
        """Rename the broken file (or folder) to a backup name, under the lock; report it either way.
        False when it could not be moved: the history stays empty until the file is fixed."""
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}.bak")
        n = 1
        while os.path.lexists(backup):
            n += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}.bak")
        try:
            os.rename(self.path, backup)
        except OSError as exc:
            message = f"{self.path}: {problem}; it could not be moved aside ({exc}): searches are not recorded until it is fixed"
            moved = False
        else:
            fsync_dir(self.path.parent)
            message = f"{self.path}: {problem}; the original was moved to {backup.name}"
            moved = True
        log.warning("search history: %s", message)
        if message not in self.warnings:  # a file that stays unreadable is reported once
            self.warnings.append(message)
        return moved

    def _remove_thumbs(self, entries: list[dict]) -> None:
        for entry in entries:
            if _SAFE_ID.match(str(entry.get("id", ""))):
                for suffix in ENTRY_FILES:
                    try:
                        os.unlink(self.thumbs_dir / f"{entry['id']}{suffix}")
                    except (FileNotFoundError, NotADirectoryError):  # never written, or no folder for it
                        pass

    def _prune_orphan_thumbs(self, entry_ids: set[str]) -> None:
        """Remove thumbnails and embeddings of no entry in `entry_ids`, and temporary files of writes killed before
        their rename, written over ORPHAN_GRACE_S ago."""
        cutoff = time.time() - ORPHAN_GRACE_S
        try:
            files = list(os.scandir(self.thumbs_dir))
        except OSError:  # no thumbnails yet
            return
        for file in files:
            stem, suffix = os.path.splitext(file.name)
            orphan = suffix in ENTRY_FILES and stem not in entry_ids
            if not orphan and temp_target(file.name) is None:
                continue
            try:
                if file.is_file(follow_symlinks=False) and file.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(file.path)
            except FileNotFoundError:  # removed by another process meanwhile
                pass


def _parse(raw: bytes) -> tuple[list[dict], str | None]:
    """(valid entries, None) or (the entries that could be kept, what was wrong)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [], f"not valid JSON ({exc})"
    except RecursionError:
        return [], "not readable JSON (nested too deeply)"
    except MemoryError:
        return [], "not readable JSON (too large to decode)"
    if not isinstance(data, list):
        return [], f"expected a JSON list of entries, found {type(data).__name__}"
    kept: list[dict] = []
    seen: set[str] = set()
    for item in data:
        try:
            entry = HistoryEntry.model_validate(item).model_dump(mode="json")
        except ValidationError:
            continue
        if entry["id"] not in seen:
            seen.add(entry["id"])
            kept.append(entry)
    dropped = len(data) - len(kept)
    if dropped:
        return kept, f"{dropped} of {len(data)} entries were malformed or repeated and were left out"
    return kept, None
