"""The index files as one object: read and validate, commit all or none, recover, and the build lock.

``IndexFiles`` is the only code that touches the features (.npy), mapping (.npy), manifest (.json),
the approximate store's structure (.ivf, when the manifest's store is "ann"), the commit journal and
the lock file. The structure is staged and renamed with the others, so it is all or none too; the
manifest records its size and the rows' token it was committed with, and its own header the features
it was built from. An index of the original project (no manifest) may have a structure grown beside
it (``store.grow_structure``); it is read too, and its header alone says whether it fits.

Generations. Each commit has a generation number and, when it writes rows, a random token. The
features and mapping files end with a trailer holding that token, after the array (``np.load``
reads the array and ignores it, so the original project still reads them); the manifest header
records the token and both files' sizes. A reader that opened files of two commits (it raced the
renames) sees the tokens differ and reads again: old vectors are never paired with new names.

A commit (under the lock): stage each new file as ``<name>.gen-<g>.tmp`` and fsync it; fsync every
folder holding a staged file; write the journal (target, staged name, size and inode of each:
the commit point); rename the staged files onto their targets, the manifest last; fsync the
targets' folders; remove the journal. A reader that finds a journal reads the files it names
(staged, or already renamed), i.e. the committed generation. Readers never write anything.

Recovery runs only under the lock: a journal whose files are each still staged with their
recorded size, or already renamed (the target has the recorded inode), is rolled forward;
otherwise it is incomplete and rolled back. A staged file is never assumed done because it is
missing. Staged files that no journal names are removed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..atomic import atomic_write_json, fsync_dir
from ..errors import VistaMatchError
from .manifest import BrokenManifestError, Manifest, ManifestSummary, summary_from_file
from .paths import IndexPaths

DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a build (or a server worker) waits for another one
_TRAILER_MAGIC = b"\nVISTAMATCH-ROWS "
_TRAILER_SIZE = len(_TRAILER_MAGIC) + 32 + 1  # magic, 32 hex digits, newline
_READ_ATTEMPTS = 50  # a reader that raced a commit reads again, this many times at most
_JOURNAL_ENTRY = {"target": str, "staged": str, "size": int, "inode": int}
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class LockTimeout(VistaMatchError):
    """Another process held the index lock for longer than the timeout."""


@dataclass
class Snapshot:
    """One committed generation of the index, as a reader sees it."""

    features: np.ndarray  # (N, D), memory-mapped or in memory
    mapping: np.ndarray  # (N,) gallery-relative paths
    manifest: ManifestSummary | None  # None for an index from the original project
    structure: np.ndarray | None = None  # the committed .ivf bytes (uint8 memory map) when the manifest names one
    structure_problem: str | None = None  # why there are none although the manifest names one
    structure_inode: int | None = None  # the inode ``structure`` maps (a reader maps it again by a descriptor)


class _Raced(Exception):
    """The files read belong to different commits (args: the files' identity, and whether only the structure disagreed)."""


class IndexFiles:
    def __init__(
        self,
        paths: IndexPaths,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_step: Callable[[str], None] | None = None,
    ):
        self.paths = paths
        self.lock_timeout = lock_timeout
        self.on_step = on_step  # called after each step of a commit with its name (tests put readers or kills there)
        self._locked = False

    # -- reading (no lock, no writes) ------------------------------------------------------------

    def read(self, *, mmap: bool = True) -> Snapshot:
        """The last committed generation, checked: the files belong together and are complete.

        Raises VistaMatchError naming the file that is broken (BrokenManifestError for the manifest),
        FileNotFoundError when there are no features or mapping.
        """
        seen = None
        for attempt in range(_READ_ATTEMPTS):
            try:
                return self._read_once(mmap)
            except (FileNotFoundError, VistaMatchError):
                raise
            except OSError as exc:  # a folder in a file's place, no permission...
                raise VistaMatchError(f"{exc.filename}: cannot read the index ({exc.strerror or exc})") from exc
            except _Raced as raced:
                if raced.args[0] == seen:  # the same files twice: not a race but a mismatch that stays
                    if raced.args[1]:  # only the structure: a damaged one, the index is searched exactly
                        return self._read_once(mmap, structure_checked=False)
                    break
                seen = raced.args[0]
                time.sleep(0.002 * attempt)
        p = self.paths
        raise VistaMatchError(
            f"index files {p.features.name}, {p.mapping.name} and {p.manifest} are not of the same commit; "
            "re-index with: vistamatch index"
        )

    def _read_once(self, mmap: bool, structure_checked: bool = True) -> Snapshot:
        p = self.paths
        journal = self._read_journal() or {}
        with ExitStack() as stack:
            try:
                man_file = stack.enter_context(_open_committed(p.manifest, journal))
            except FileNotFoundError:
                man_file, manifest = None, None
            else:
                manifest = summary_from_file(man_file, p.manifest)
            feat_file = stack.enter_context(_open_committed(p.features, journal))
            map_file = stack.enter_context(_open_committed(p.mapping, journal))
            features, feat_token = _read_npy(feat_file, p.features, mmap=mmap)
            mapping, map_token = _read_npy(map_file, p.mapping, mmap=False)
            structure, structure_file, structure_inode = None, None, None
            store = manifest.store if manifest else None
            if manifest is None or (store and store.get("kind") == "ann"):  # an original one: grown beside it
                try:
                    structure_file = stack.enter_context(_open_committed(p.structure, journal))
                except FileNotFoundError:  # deleted by hand: open_index says so and scans exactly
                    pass
            identity = tuple(os.fstat(f.fileno()).st_ino for f in (man_file, feat_file, map_file, structure_file) if f)
            rows = manifest.rows if manifest else None
            if rows is not None:  # None: a manifest written before generations, nothing to compare
                expected = (rows["token"], rows["token"], rows["features_size"], rows["mapping_size"])
                sizes = (os.fstat(feat_file.fileno()).st_size, os.fstat(map_file.fileno()).st_size)
                if (feat_token, map_token, *sizes) != expected:
                    raise _Raced(identity, False)
            structure_problem = None if structure_file or not store or store.get("kind") != "ann" else "missing"
            if structure_file is not None:
                size = os.fstat(structure_file.fileno()).st_size
                if manifest is None or size == store.get("size"):  # without a manifest its header tells
                    structure = np.memmap(structure_file, dtype=np.uint8, mode="r")
                    structure_inode = os.fstat(structure_file.fileno()).st_ino
                elif structure_checked:
                    raise _Raced(identity, True)
                else:
                    structure_problem = f"{size} bytes, the manifest records {store.get('size')}"
        if features.ndim != 2 or mapping.ndim != 1 or len(features) != len(mapping):
            raise VistaMatchError(
                f"index files disagree: features {features.shape}, mapping {mapping.shape}; re-index with: vistamatch index"
            )
        if manifest is not None and (manifest.count != len(mapping) or manifest.dim != features.shape[1]):
            raise VistaMatchError(f"{p.manifest} does not describe {p.features}; re-index with: vistamatch index")
        return Snapshot(features, mapping.astype(str, copy=False), manifest, structure, structure_problem, structure_inode)

    def _read_journal(self) -> dict[Path, dict] | None:
        """The pending commit's entries by target, or None. Never partial: the journal is written atomically."""
        try:
            entries = json.loads(self.paths.journal.read_text("utf-8"))["entries"]
            if not all(isinstance(e[k], t) for e in entries for k, t in _JOURNAL_ENTRY.items()):
                raise TypeError("journal entry of the wrong type")
            return {Path(e["target"]): e for e in entries}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # not ours (an older format): recovery rolls it back
            return {}

    # -- the build lock -------------------------------------------------------------------------

    @contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the build lock, waiting up to ``timeout`` seconds (default ``lock_timeout``) for its holder.

        Raises LockTimeout naming the lock file and its holder.
        """
        timeout = self.lock_timeout if timeout is None else timeout
        lock = self.paths.lock
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
                    raise LockTimeout(
                        f"the index lock {lock} is held by {holder}; gave up after waiting {timeout:g} s "
                        "(another build or server is updating this index: try again when it has finished)"
                    )
                time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
            os.ftruncate(fd, 0)
            since = datetime.now(timezone.utc).isoformat(timespec="seconds")
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv)[:200]}) since {since}\n".encode(), 0)
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock

    def _require_lock(self) -> None:
        if not self._locked:
            raise RuntimeError("the index files are written only under the build lock (IndexFiles.locked)")

    # -- writing (under the lock) ---------------------------------------------------------------

    def load_manifest(self) -> tuple[Manifest | None, str | None]:
        """The whole manifest for a build, or None; a broken one is set aside first.

        Returns (manifest, warning): the warning says which file was broken and where it went.
        """
        self._require_lock()
        if not self.paths.manifest.exists():
            return None, None
        try:
            return Manifest.load(self.paths.manifest), None
        except BrokenManifestError as exc:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            backup = _free_name(self.paths.manifest.with_name(f"{self.paths.manifest.name}.broken-{stamp}"))
            os.rename(self.paths.manifest, backup)
            fsync_dir(backup.parent)
            return None, f"{exc.path}: unreadable ({exc.why}); set aside as {backup.name}, rebuilding the index"

    def recover(self) -> None:
        """Finish or undo a commit a kill interrupted; remove staged files no journal names."""
        self._require_lock()
        journal = self._read_journal()
        if journal is not None:
            if journal and all(_is_the_staged_file(e, "staged") or _is_the_staged_file(e, "target") for e in journal.values()):
                self._rename_all(journal.values())
            else:  # incomplete: whatever was staged can not be trusted
                for e in journal.values():
                    Path(e["staged"]).unlink(missing_ok=True)
            self._remove_journal()
        for leftover in self._leftovers():
            leftover.unlink(missing_ok=True)

    def commit(
        self, manifest: Manifest, rows: tuple[np.ndarray, np.ndarray] | None = None, structure: bytes | None = None
    ) -> None:
        """Replace the index with ``manifest`` and, when given, ``rows`` = (features (N, D), mapping (N,))
        and the approximate ``structure`` (``AnnStore.to_bytes``; ``manifest.store`` describes it).

        Without rows only the manifest changes (the committed features and mapping stay), and without a
        structure the committed one stays (the manifest's store says whether it is used). All or none.
        """
        self._require_lock()
        self.recover()
        p = self.paths
        current = self._committed_summary()
        manifest.generation = (current.generation if current else 0) + 1
        staged: dict[Path, Path] = {}
        if rows is None:
            if current is None or current.rows is None:
                raise VistaMatchError(f"{p.manifest}: no committed rows to keep; re-index with: vistamatch index")
            manifest.rows = current.rows
        else:
            token = secrets.token_hex(16)
            sizes = {}
            for target, array in zip((p.features, p.mapping), rows):
                staged[target] = self._stage(target, manifest.generation, lambda f, a=array: _write_npy(f, a, token))
                sizes[target] = staged[target].stat().st_size
            manifest.rows = {"token": token, "features_size": sizes[p.features], "mapping_size": sizes[p.mapping]}
        if structure is not None:
            staged[p.structure] = self._stage(p.structure, manifest.generation, lambda f: f.write(structure))
            # rows_token: the rows this structure was committed with (a later commit of rows alone changes
            # the rows' token, so a reader then checks the structure against the rows themselves)
            size = staged[p.structure].stat().st_size
            manifest.store = {**(manifest.store or {}), "size": size, "rows_token": manifest.rows["token"]}
        data = manifest.to_json_bytes()
        staged[p.manifest] = self._stage(p.manifest, manifest.generation, lambda f: f.write(data))
        for folder in {s.parent for s in staged.values()}:
            fsync_dir(folder)
        self._step("staged files and folders synced")
        entries = []
        for target, tmp in staged.items():
            st = tmp.stat()
            entries.append({"target": str(target), "staged": str(tmp), "size": st.st_size, "inode": st.st_ino})
        atomic_write_json(p.journal, {"generation": manifest.generation, "entries": entries})
        self._step("journal written")
        self._rename_all(entries)
        self._remove_journal()
        self._step("journal removed")

    def _committed_summary(self) -> ManifestSummary | None:
        try:
            with open(self.paths.manifest, "rb") as f:
                return summary_from_file(f, self.paths.manifest)
        except (FileNotFoundError, BrokenManifestError):
            return None

    def _stage(self, target: Path, generation: int, write: Callable[[BinaryIO], object]) -> Path:
        tmp = target.with_name(f"{target.name}.gen-{generation}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        self._step(f"staged {tmp.name}")
        return tmp

    def _rename_all(self, entries) -> None:
        entries = sorted(entries, key=lambda e: Path(e["target"]) == self.paths.manifest)  # the manifest last
        for e in entries:
            if _is_the_staged_file(e, "staged"):
                os.replace(e["staged"], e["target"])
                self._step(f"renamed {Path(e['target']).name}")
        for folder in {Path(e["target"]).parent for e in entries}:
            fsync_dir(folder)  # the renames are durable before the journal goes
        self._step("renames synced")

    def _remove_journal(self) -> None:
        self.paths.journal.unlink(missing_ok=True)
        fsync_dir(self.paths.journal.parent)

    def _leftovers(self) -> Iterator[Path]:
        """What kills before a commit point leave: staged files, and a journal's temporary file."""
        for target in (self.paths.features, self.paths.mapping, self.paths.structure, self.paths.manifest):
            yield from target.parent.glob(f"{target.name}.gen-*.tmp")
        yield from self.paths.journal.parent.glob(f".{self.paths.journal.name}.*.tmp")
        yield from self.paths.structure.parent.glob(f".{self.paths.structure.name}.*.tmp")  # store.grow_structure's

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)


@contextmanager
def _open_committed(target: Path, journal: dict[Path, dict]) -> Iterator[BinaryIO]:
    """The committed version of ``target``: its staged file while a journal names one, else the target."""
    entry = journal.get(target)
    if entry is not None:
        try:
            f = open(entry["staged"], "rb")
        except FileNotFoundError:  # renamed meanwhile (or lost: the tokens will tell)
            f = open(target, "rb")
    else:
        f = open(target, "rb")
    with f:
        yield f


def _write_npy(f: BinaryIO, array: np.ndarray, token: str) -> None:
    np.save(f, array, allow_pickle=False)
    f.write(_TRAILER_MAGIC + token.encode("ascii") + b"\n")


def _read_npy(f: BinaryIO, path: Path, *, mmap: bool) -> tuple[np.ndarray, str | None]:
    """The array of an open .npy file and its trailer's token (None without one). Errors name ``path``."""
    try:
        version = np.lib.format.read_magic(f)
        read_header = _NPY_HEADER_READERS.get(version)
        if read_header is None:
            raise ValueError(f".npy format {version[0]}.{version[1]} is not one this VistaMatch writes")
        shape, fortran, dtype = read_header(f)
    except (ValueError, SyntaxError, EOFError) as exc:
        raise VistaMatchError(f"{path}: not a readable .npy file ({exc}); re-index with: vistamatch index") from exc
    if dtype.hasobject:
        raise VistaMatchError(f"{path}: unreadable index (holds Python objects); re-index with: vistamatch index")
    offset = f.tell()
    end = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = os.fstat(f.fileno()).st_size
    if size < end:
        raise VistaMatchError(
            f"{path}: truncated ({size} bytes, its header needs {end}); re-index with: vistamatch index"
        )
    token = None
    if size == end + _TRAILER_SIZE:
        trailer = os.pread(f.fileno(), _TRAILER_SIZE, end)
        if trailer.startswith(_TRAILER_MAGIC):
            token = trailer[len(_TRAILER_MAGIC) : -1].decode("ascii", "replace")
    order = "F" if fortran else "C"
    if mmap and end > offset:
        return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape, order=order), token
    data = np.fromfile(f, dtype=dtype, count=(end - offset) // max(dtype.itemsize, 1))
    return data.reshape(shape, order=order), token


def _is_the_staged_file(entry: dict, where: str) -> bool:
    """Whether ``entry[where]`` ("staged" or "target") is the file the journal staged: its size and inode."""
    try:
        st = os.stat(entry[where])
    except FileNotFoundError:
        return False
    return st.st_size == entry["size"] and st.st_ino == entry["inode"]


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
