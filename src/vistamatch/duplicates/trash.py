"""Safe clean-up: duplicates are moved into a trash folder in the gallery, never deleted, and undone exactly.

Layout: ``GALLERY/.vistamatch-trash/<batch>/`` holds ``journal.json``, ``rows.npy`` (the index rows
of the batch's files, to put back on undo) and ``files/`` with each file at its gallery-relative
path. The folder is inside the gallery, so a move is a rename on one file system, and hidden, so
the index scan never reads it.

Each file moves by ``link(src, dst)`` then ``unlink(src)``: ``link`` never replaces a file, and a
kill between the two leaves one inode under both names, which the next run resolves by removing
the name on the side it moves from. So a file is always in the gallery, in the trash, or (for an
instant) both as one inode: never lost, never two different files.

A batch is planned before anything moves: ``rows.npy`` then the journal (state ``moving``, every
entry) are written atomically. Then the files move, then the index commits without their rows
(``IndexFiles``, under the index lock for the whole batch) and the journal becomes ``moved``. Undo
writes ``restoring``, moves the files back (never over a file that took a place meanwhile), puts
their rows back into the index and writes ``restored``. After a kill -9 the state of every entry is
read from the file system, so ``undo`` restores and ``redo`` finishes an interrupted batch.

Refused, with a reason, and left in place: a path not indexed, a file changed since indexing (size,
mtime or content hash differ from the manifest), anything but a regular file inside the gallery
(symlinks, a folder leading out), a keeper, and a file that is not a duplicate of its keeper (same
content hash, or cosine of their index rows >= ``min_similarity``).
"""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_json, fsync_dir
from ..errors import VistaMatchError
from ..index.files import DEFAULT_LOCK_TIMEOUT, IndexFiles
from ..index.manifest import INDEXED, FileRecord, Manifest
from ..index.paths import IndexPaths
from ..index.scan import content_hash
from ..regular_files import RefusedFile, read_regular

TRASH_DIR = ".vistamatch-trash"
FORMAT_VERSION = 1
MOVING, MOVED, RESTORING, RESTORED = "moving", "moved", "restoring", "restored"
STATES = (MOVING, MOVED, RESTORING, RESTORED)
DEFAULT_MIN_SIMILARITY = 0.90  # the neighbour graph's floor: no threshold the finder offers goes lower


class TrashError(VistaMatchError):
    """A trash operation that cannot start (no manifest, a batch in the wrong state)."""


class NoSuchBatch(TrashError):
    """No batch of that id, or none in a state the operation applies to."""


@dataclass(frozen=True)
class Entry:
    path: str  # gallery-relative
    size: int
    mtime_ns: int
    hash: str | None
    keeper: str  # the file kept in its place
    similarity: float  # cosine to the keeper (1.0 for an exact copy)

    def record(self) -> FileRecord:
        return FileRecord(self.path, self.size, self.mtime_ns, self.hash, INDEXED)


@dataclass
class Batch:
    id: str
    created: str  # ISO 8601, UTC
    state: str  # one of STATES
    entries: list[Entry]
    folder: Path
    fingerprint: str = ""  # the model of the index rows in rows.npy


    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "created": self.created,
            "state": self.state,
            "count": len(self.entries),
            "bytes": self.bytes,
            "fingerprint": self.fingerprint,
            "entries": [e.__dict__ for e in self.entries],
        }


@dataclass
class TrashResult:
    batch: Batch | None  # None when nothing was moved (all refused, or a dry run with nothing to do)
    done: list[str] = field(default_factory=list)  # paths moved (or restored)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {
            "batch": self.batch.id if self.batch else None,
            "state": self.batch.state if self.batch else None,
            "done": self.done,
            "refused": [{"path": p, "reason": r} for p, r in self.refused],
            "dry_run": self.dry_run,
        }


@dataclass
class Trash:
    """The trash of one gallery and its index."""

    gallery_dir: Path
    index_paths: IndexPaths
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    on_step: Callable[[str], None] | None = None  # called after each step (tests kill there)
    warnings: list[str] = field(default_factory=list)  # corrupt journals set aside

    def __post_init__(self):
        self.gallery_dir = Path(os.path.realpath(self.gallery_dir))
        self.root = self.gallery_dir / TRASH_DIR

    # -- moving ----------------------------------------------------------------------------------

    def move(
        self, moves: dict[str, str], *, min_similarity: float = DEFAULT_MIN_SIMILARITY, dry_run: bool = False
    ) -> TrashResult:
        """Move each ``path`` of ``moves`` (path -> the keeper it duplicates) into a new batch."""
        with self._locked_index() as (files, manifest):
            snapshot = files.read(mmap=True)
            row_of = {str(p): i for i, p in enumerate(snapshot.mapping)}
            records = {f.path: f for f in manifest.indexed}
            keepers = set(moves.values())
            planned, refused = [], []
            for path, keeper in sorted(moves.items()):
                why = self._refusal(path, keeper, keepers, records, row_of, snapshot.features, min_similarity)
                if isinstance(why, str):
                    refused.append((path, why))
                else:
                    planned.append(why)
            if dry_run or not planned:
                return TrashResult(None, [e.path for e in planned] if dry_run else [], refused, dry_run)
            self._prune_unstarted()
            batch = self._new_batch(planned, manifest.model_fingerprint)
            atomic_write_bytes(batch.folder / "rows.npy", _npy(snapshot.features[[row_of[e.path] for e in planned]]))
            self._write(batch)
            self._step("planned")
            return self._finish_moving(files, manifest, batch, refused)

    def redo(self, batch_id: str | None = None) -> TrashResult:
        """Finish moving a batch a kill interrupted (state ``moving``)."""
        with self._locked_index() as (files, manifest):
            batch = self._pick(batch_id, (MOVING,), "to finish")
            records = {f.path: f for f in manifest.indexed}
            refused = []
            for e in batch.entries:  # a file still in the gallery moves only if it is still the one planned
                if self._in_gallery(batch, e) and not self._in_trash(batch, e):
                    why = _changed(self.gallery_dir / e.path, records.get(e.path), check_hash=True)
                    if why:
                        refused.append((e.path, why))
            return self._finish_moving(files, manifest, batch, refused)

    def _finish_moving(self, files: IndexFiles, manifest: Manifest, batch: Batch, refused: list) -> TrashResult:
        """Move the batch's files not yet in the trash (those ``refused`` stay), drop their rows, mark it moved."""
        done, failed = self._move_entries(batch, to_trash=True, skip={p for p, _ in refused})
        self._drop_rows(files, manifest, {e.path for e in batch.entries if self._in_trash(batch, e)})
        batch.state = MOVED
        self._write(batch)
        return TrashResult(batch, done, refused + failed)

    # -- undoing ---------------------------------------------------------------------------------

    def undo(self, batch_id: str | None = None) -> TrashResult:
        """Put every file of a batch (default: the newest not restored) back where it was, and its index row."""
        with self._locked_index() as (files, manifest):
            batch = self._pick(batch_id, (MOVING, MOVED, RESTORING), "to undo")
            batch.state = RESTORING
            self._write(batch)
            self._step("restoring")
            done, refused = self._move_entries(batch, to_trash=False)
            back = [i for i, e in enumerate(batch.entries) if self._in_gallery(batch, e) and not self._in_trash(batch, e)]
            self._add_rows(files, manifest, batch, back)
            if not any(self._in_trash(batch, e) for e in batch.entries):
                batch.state = RESTORED
                self._write(batch)
            return TrashResult(batch, done, refused)

    # -- listing and emptying --------------------------------------------------------------------

    def batches(self) -> list[Batch]:
        """Every readable batch, newest first; an unreadable journal is set aside (see ``warnings``)."""
        found = []
        try:
            folders = sorted(os.scandir(self.root), key=lambda d: d.name, reverse=True)
        except FileNotFoundError:
            return []
        for entry in folders:
            if entry.is_dir(follow_symlinks=False) and (Path(entry.path) / "journal.json").exists():
                batch = self._read(Path(entry.path))
                if batch is not None:
                    found.append(batch)
        return found

    def empty(self, batch_id: str | None = None) -> list[Batch]:
        """Delete for good the files of one batch (or of every batch): the only deletion there is.

        A batch being moved or restored is refused (finish it with redo or undo first).
        """
        chosen = [self._pick(batch_id, STATES, "to empty")] if batch_id else self.batches()
        unfinished = [b.id for b in chosen if b.state in (MOVING, RESTORING)]
        if unfinished:
            raise TrashError(f"batch {', '.join(unfinished)} is unfinished: run `vistamatch duplicates undo` or `redo` first")
        for batch in chosen:
            shutil.rmtree(batch.folder)
        fsync_dir(self.root)
        return chosen

    # -- the pieces ------------------------------------------------------------------------------

    def _refusal(self, path, keeper, keepers, records, row_of, features, min_similarity) -> Entry | str:
        if path in keepers:
            return "a keeper of this request"
        if path == keeper:
            return "its own keeper"
        record = records.get(path)
        if record is None or path not in row_of:
            return "not in the index"
        if (why := self._outside(path)) is not None:
            return why
        if (why := _changed(self.gallery_dir / path, record, check_hash=True)) is not None:
            return why
        keeper_record = records.get(keeper)
        if keeper_record is None or keeper not in row_of:
            return f"its keeper {keeper} is not in the index"
        if self._outside(keeper) is not None or _changed(self.gallery_dir / keeper, keeper_record, check_hash=False):
            return f"its keeper {keeper} is gone or changed since indexing"
        exact = record.hash is not None and record.hash == keeper_record.hash
        similarity = 1.0 if exact else float(np.dot(features[row_of[path]], features[row_of[keeper]]))
        if similarity < min_similarity:
            return f"not a duplicate of {keeper} (cosine {similarity:.4f} < {min_similarity:g})"
        return Entry(path, record.size, record.mtime_ns, record.hash, keeper, round(similarity, 6))

    def _outside(self, path: str) -> str | None:
        """Why ``path`` is not a regular file inside the gallery (and outside the trash), or None."""
        parts = path.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts) or "\\" in path or "\x00" in path:
            return "not a plain gallery path"
        folder = Path(os.path.realpath(self.gallery_dir.joinpath(*parts[:-1])))
        if folder != self.gallery_dir and self.gallery_dir not in folder.parents:
            return "in a folder leading outside the gallery"
        try:
            st = os.lstat(self.gallery_dir / path)
        except OSError:
            return "no longer in the gallery"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file (a symlink or special file is never moved)"
        return None

    def _prune_unstarted(self) -> None:
        """Remove batch folders a kill left before their journal (only rows.npy, nothing moved). Under the lock."""
        try:
            folders = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for entry in folders:
            folder = Path(entry.path)
            if not entry.is_dir(follow_symlinks=False):
                continue
            if not any(n.startswith("journal.json") or n == "files" for n in os.listdir(folder)):
                shutil.rmtree(folder)

    def _new_batch(self, entries: list[Entry], fingerprint: str) -> Batch:
        now = datetime.now(timezone.utc)
        batch_id = f"{now:%Y%m%dT%H%M%S%f}"[:-3] + f"Z-{secrets.token_hex(3)}"  # sorts by time, to the millisecond
        folder = self.root / batch_id
        folder.mkdir(parents=True)
        fsync_dir(self.root)
        return Batch(batch_id, now.isoformat(timespec="seconds"), MOVING, entries, folder, fingerprint)

    def _move_entries(self, batch: Batch, *, to_trash: bool, skip=frozenset()) -> tuple[list[str], list[tuple[str, str]]]:
        done, refused = [], []
        for e in batch.entries:
            if e.path in skip:
                continue
            gallery, trashed = self.gallery_dir / e.path, self._trashed(batch, e)
            src, dst = (gallery, trashed) if to_trash else (trashed, gallery)
            try:
                if _move(src, dst):
                    done.append(e.path)
            except OSError as exc:  # also our FileExistsError (another file in the way), which names it
                refused.append((e.path, f"could not be moved ({exc.strerror or exc})"))
            self._step(f"{'trashed' if to_trash else 'restored'} {e.path}")
        return done, refused

    def _drop_rows(self, files: IndexFiles, manifest, paths: set[str]) -> None:
        snapshot = files.read(mmap=True)
        keep = ~np.isin(snapshot.mapping, list(paths)) if paths else None
        if keep is None or keep.all():
            return
        manifest.files = [f for f in manifest.files if f.path not in paths]
        files.commit(manifest, (np.asarray(snapshot.features[keep]), snapshot.mapping[keep]))
        self._step("index committed")

    def _add_rows(self, files: IndexFiles, manifest, batch: Batch, chosen: list[int]) -> None:
        snapshot = files.read(mmap=True)
        present = set(snapshot.mapping.tolist())
        chosen = [i for i in chosen if batch.entries[i].path not in present]
        if not chosen:
            return
        if manifest.model_fingerprint != batch.fingerprint:  # re-indexed with another model meanwhile
            self.warnings.append("the index was rebuilt with another model since the move: re-index to search the restored files")
            return
        vectors = np.load(batch.folder / "rows.npy", allow_pickle=False)[chosen]
        names = np.array([batch.entries[i].path for i in chosen])
        mapping = np.concatenate([snapshot.mapping, names])
        order = np.argsort(mapping, kind="stable")
        features = np.concatenate([np.asarray(snapshot.features), vectors.astype(np.float32)])[order]
        added = {batch.entries[i].path: batch.entries[i].record() for i in chosen}
        manifest.files = sorted([f for f in manifest.files if f.path not in added] + list(added.values()), key=lambda f: f.path)
        files.commit(manifest, (features, mapping[order]))
        self._step("index committed")

    @contextmanager
    def _locked_index(self) -> Iterator[tuple[IndexFiles, Manifest]]:
        """The index files under the build lock for the whole operation, and the whole manifest."""
        files = IndexFiles(self.index_paths, lock_timeout=self.lock_timeout)
        with files.locked():
            files.recover()
            yield files, self._manifest(files)

    def _manifest(self, files: IndexFiles) -> Manifest:
        manifest, warning = files.load_manifest()
        if warning:
            self.warnings.append(warning)
        if manifest is None:
            raise TrashError(
                f"{self.index_paths.manifest}: no manifest, so no file can be checked against the index; "
                "re-index with: vistamatch index"
            )
        return manifest

    def _pick(self, batch_id: str | None, states: tuple[str, ...], purpose: str) -> Batch:
        if batch_id is not None:
            if "/" in batch_id or batch_id.startswith(".") or not (self.root / batch_id / "journal.json").is_file():
                raise NoSuchBatch(f"no trash batch {batch_id!r} in {self.root}")
            batch = self._read(self.root / batch_id)
            if batch is None:
                raise NoSuchBatch(f"trash batch {batch_id}: unreadable journal, set aside ({'; '.join(self.warnings)})")
            if batch.state not in states:
                raise TrashError(f"trash batch {batch_id} is {batch.state}: nothing {purpose}")
            return batch
        for batch in self.batches():
            if batch.state in states:
                return batch
        raise NoSuchBatch(f"no trash batch {purpose} in {self.root}")

    def _read(self, folder: Path) -> Batch | None:
        path = folder / "journal.json"
        try:
            d = json.loads(path.read_text("utf-8"))
            if d["format_version"] != FORMAT_VERSION or d["state"] not in STATES:
                raise ValueError(f"format {d['format_version']}, state {d['state']!r}")
            entries = [Entry(**e) for e in d["entries"]]
            return Batch(str(d["id"]), str(d["created"]), d["state"], entries, folder, str(d.get("fingerprint", "")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(f"journal.json.corrupt-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
            os.replace(path, aside)
            self.warnings.append(
                f"{path}: unreadable trash journal ({exc}); set aside as {aside.name}, its files stay in {folder / 'files'}"
            )
            return None

    def _write(self, batch: Batch) -> None:
        d = {"format_version": FORMAT_VERSION, **batch.to_dict()}
        atomic_write_json(batch.folder / "journal.json", d)

    def _trashed(self, batch: Batch, e: Entry) -> Path:
        return batch.folder / "files" / PurePosixPath(e.path)

    def _in_trash(self, batch: Batch, e: Entry) -> bool:
        return os.path.lexists(self._trashed(batch, e))

    def _in_gallery(self, batch: Batch, e: Entry) -> bool:
        return os.path.lexists(self.gallery_dir / e.path)

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)


def _move(src: Path, dst: Path) -> bool:
    """Move ``src`` to ``dst`` without ever replacing a file; True if it moved, False if already there.

    Raises FileExistsError when ``dst`` holds another file, OSError when ``src`` is gone too.
    """
    if os.path.lexists(dst):
        if not os.path.lexists(src):
            return False  # moved before (by a run a kill interrupted, or this batch twice)
        if os.lstat(src).st_ino != os.lstat(dst).st_ino:
            raise FileExistsError(f"{dst} holds another file: left where it is")
        os.unlink(src)  # a kill between link and unlink: one inode under both names
        fsync_dir(src.parent)
        return True
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        os.rename(src, dst)  # no hard links here: checked free just above, and we hold the index lock
    else:
        fsync_dir(dst.parent)
        os.unlink(src)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)
    return True


def _changed(path: Path, record: FileRecord | None, *, check_hash: bool) -> str | None:
    """Why the file at ``path`` is not the one ``record`` describes, or None."""
    if record is None:
        return "not in the index"
    try:
        st = os.lstat(path)
    except OSError:
        return "no longer in the gallery"
    if st.st_size != record.size or st.st_mtime_ns != record.mtime_ns:
        return "changed since indexing (size or modification time); re-index first"
    if check_hash:
        try:
            data = read_regular(path)
        except (OSError, RefusedFile) as exc:
            return f"cannot be read ({exc})"
        if record.hash is None or content_hash(data) != record.hash:
            return "changed since indexing (content hash); re-index first"
    return None


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, np.float32), allow_pickle=False)
    return buffer.getvalue()
