"""Resumable crawl state: an append-only journal (JSON lines) of every URL's outcome.

Records:
  {"row": 17, "url": "...", "outcome": "http_404"}            a URL finished (``file`` when saved)
  {"mark": 40, "at": 5123, "next": 12}                        rows < 40 are all finished; the list resumes
                                                              at position 5123; the next file number is 12
Each record is flushed at once (a kill -9 loses nothing written), marks are also fsynced. A torn last
line from a crash is cut off on the next open. Loading keeps only the finished rows past the last mark,
so memory stays small however long the journal grows.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .reader import SourceRow

STATE_DIR = ".crawl"


def default_state_path(out_dir: Path, source: Path, column: str | None) -> Path:
    """One journal per (list file, column) inside the gallery folder."""
    key = hashlib.sha1(f"{source.resolve()}\n{column}".encode()).hexdigest()[:10]
    return out_dir / STATE_DIR / f"{source.stem}-{key}.jsonl"


@dataclass
class ResumePoint:
    row: int = 0  # first row not known to be finished
    at: int = 0  # reader position of that row
    next_number: int = 1  # next file number
    done_after: set[int] = field(default_factory=set)  # finished rows >= row (they finished out of order)
    finished_before: int = 0  # URLs finished in earlier runs


class CrawlState:
    def __init__(self, path: Path, mark_interval_s: float = 0.5):
        self.path = path
        self.mark_interval_s = mark_interval_s
        self.resume = _load(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self._open: deque[list] = deque()  # [row index, resume_at, finished?] in row order
        self._by_row: dict[int, list] = {}
        self._mark = (self.resume.row, self.resume.at)
        self._last_mark_time = time.monotonic()

    def is_done(self, row: int) -> bool:
        return row in self.resume.done_after

    def skip(self, row: SourceRow) -> None:
        """A row with nothing to do (empty, or finished by an earlier run)."""
        if self._open:
            self.begin(row)
            self.finish(row.index)
        else:
            self._mark = (row.index + 1, row.resume_at)

    def begin(self, row: SourceRow) -> None:
        """A row was read and is about to be fetched (or skipped): it blocks the mark until finished."""
        entry = [row.index, row.resume_at, False]
        self._open.append(entry)
        self._by_row[row.index] = entry

    def finish(self, row: int, url: str | None = None, outcome: str | None = None, file: str | None = None) -> None:
        """Row finished; with an outcome it is journaled (empty cells and resumed rows are not)."""
        if outcome is not None:
            record = {"row": row, "url": url, "outcome": outcome}
            if file:
                record["file"] = file
            self._write(record)
        self._by_row.pop(row)[2] = True
        while self._open and self._open[0][2]:
            index, resume_at, _ = self._open.popleft()
            self._mark = (index + 1, resume_at)

    def maybe_mark(self, next_number: int) -> None:
        if time.monotonic() - self._last_mark_time >= self.mark_interval_s:
            self.mark(next_number)

    def mark(self, next_number: int) -> None:
        row, at = self._mark
        self._write({"mark": row, "at": at, "next": next_number})
        os.fsync(self._file.fileno())
        self._last_mark_time = time.monotonic()

    def close(self, next_number: int) -> None:
        if not self._file.closed:
            self.mark(next_number)
            self._file.close()

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()


def _load(path: Path) -> ResumePoint:
    point = ResumePoint()
    if not path.exists():
        return point
    good_end = 0  # byte length of the complete lines
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except ValueError:
                break
            good_end += len(raw)
            if "mark" in record:
                point.row, point.at, point.next_number = record["mark"], record["at"], record["next"]
                point.done_after = {r for r in point.done_after if r >= point.row}
            elif "row" in record:
                point.finished_before += 1
                if record["row"] >= point.row:
                    point.done_after.add(record["row"])
    if good_end < path.stat().st_size:
        with open(path, "r+b") as f:  # cut a line torn by a crash, so appends start clean
            f.truncate(good_end)
    return point
