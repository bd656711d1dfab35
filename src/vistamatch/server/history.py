"""The search history file (search_history.json): newest first, capped, never loses an entry.

Every change is a read-modify-write under a file lock (threads and processes), written atomically.
A file that is not valid JSON, not a list, or holds malformed entries is copied aside to a
timestamped backup and reported (log + `warnings`) before anything is written over it.
Query thumbnails live beside the file in `<stem>_thumbs/<id>.webp`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from filelock import FileLock
from pydantic import ValidationError

from ..atomic import atomic_write_bytes
from .schemas import HistoryEntry

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 10.0  # a writer holds the lock for milliseconds; longer means a stuck process

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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
        self._remove_thumbs([{"id": entry_id}])

    def add(self, entry: dict) -> dict:
        """Insert `entry` (which has its `id`) at the front; drop the oldest beyond max_len."""
        entry = HistoryEntry.model_validate(entry).model_dump(mode="json")
        with self._locked():
            entries = [entry, *self._load()]
            kept, dropped = entries[: self.max_len], entries[self.max_len :]
            self._write(kept)
        self._remove_thumbs(dropped)
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
        with self._locked():
            entries = self._load()
            self._write([])
            # Every thumbnail goes, orphans of interrupted writes included.
            self._remove_thumbs([{"id": p.stem} for p in self.thumbs_dir.glob("*.webp")])
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
        raw = self.path.read_bytes()
        self._lines.clear()  # the file changed under us: encode its entries afresh
        entries, problem = _parse(raw)
        if problem is not None:
            self._set_aside(raw, problem)
            self._write(entries)
        else:
            self._cache = (identity, entries)
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

    def _set_aside(self, raw: bytes, problem: str) -> None:
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}.bak")
        n = 1
        while backup.exists():
            n += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}.bak")
        atomic_write_bytes(backup, raw)
        message = f"{self.path.name}: {problem}; the original was saved as {backup.name}"
        log.warning("search history: %s", message)
        self.warnings.append(message)

    def _remove_thumbs(self, entries: list[dict]) -> None:
        for entry in entries:
            if _SAFE_ID.match(str(entry.get("id", ""))):
                (self.thumbs_dir / f"{entry['id']}.webp").unlink(missing_ok=True)


def _parse(raw: bytes) -> tuple[list[dict], str | None]:
    """(valid entries, None) or (the entries that could be kept, what was wrong)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [], f"not valid JSON ({exc})"
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
