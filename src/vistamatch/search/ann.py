"""``AnnStore``: approximate top-k (faiss inverted lists of 8-bit codes), re-scored with the exact vectors.

Chosen by measurement (benchmarks/bench_ann.py, docs/benchmarks.md): an inverted-file index (IVF) of
scalar-quantised codes (SQ8, a quarter of the float32 bytes) matched the best latency of the
candidates at recall@50 >= 0.99, builds fastest, and is the one that adds and removes rows in place.
The codes only pick candidates: ``RESCORE`` x k of them are re-scored with the float32 rows of the
exact store, so every score returned is an exact cosine and dedup sees the real vectors.

Rows of the structure carry stable ids; ``_rows`` maps an id to its row in the current features file,
so an update that renumbers rows (removals compact the file) re-maps ids instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import VistaMatchError
from .store import NumpyStore, Ranking, as_queries
from .topk import top_k

KIND = "ivf-sq8"
KINDS = ("exact", "ann", "auto")
AUTO_EXACT_BELOW = 10_000  # "auto": the exact scan under this many vectors (docs/benchmarks.md)
RESCORE = 4  # candidates fetched per wanted hit, re-scored exactly
TRAIN_PER_LIST = 40  # k-means training vectors per list (faiss wants >= 39)
TRAIN_ITERATIONS = 10  # k-means rounds: more buy no recall on clustered data, only build time
EXACT_FRACTION = 0.5  # k above this fraction of the gallery: the exact scan is as cheap
BATCH_THREADS = 16  # queries from which a search uses every core
_CORES = os.cpu_count() or 1
_MAGIC = b"VMANN1\n"
_HEADER = 8  # bytes of the JSON header's length, after the magic
_PROC_FD = Path("/proc/self/fd")  # where an open descriptor has a name faiss can map


class StructureMismatch(VistaMatchError):
    """A saved approximate structure that does not fit the features it is opened with (or is damaged)."""


def ann_available() -> bool:
    try:
        _import_faiss()
    except ImportError:
        return False
    return True


def choose_kind(n: int, requested: str = "auto") -> str:
    """The store kind to use for ``n`` vectors: "exact" or "ann".

    "auto" is the exact scan below ``AUTO_EXACT_BELOW`` vectors (it answers in a few ms there and has
    nothing to build) or without faiss installed, the approximate store above.
    """
    if requested not in KINDS:
        raise ValueError(f"store kind must be one of {', '.join(KINDS)}, got {requested!r}")
    if requested == "ann" and not ann_available():
        raise VistaMatchError("the approximate store needs faiss: pip install 'vistamatch[ann]'")
    if requested == "auto":
        return "ann" if n >= AUTO_EXACT_BELOW and ann_available() else "exact"
    return requested


def default_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: ~2 sqrt(n) (632 at 100k, 2000 at 1M), at most n / TRAIN_PER_LIST."""
    return max(1, min(round(2 * math.sqrt(n)), n // TRAIN_PER_LIST))


def features_fingerprint(exact: NumpyStore) -> str:
    """Identity of the features a structure was built from: count, dim, every key, ~1,000 sampled rows.

    Cheap enough for every open (the keys and 3 MB of rows at 1M); a features file rewritten with other
    rows or other keys changes it.
    """
    h = hashlib.sha256(f"{len(exact)}:{exact.dim}".encode())
    h.update("\0".join(exact.all_keys.tolist()).encode("utf-8", "surrogatepass"))
    if len(exact):
        sample = np.unique(np.linspace(0, len(exact) - 1, 1024).astype(np.int64))
        h.update(np.ascontiguousarray(exact.vectors(sample)).tobytes())
    return h.hexdigest()


@dataclass
class Structure:
    """What the saved file records about the structure besides the library's bytes."""

    dim: int
    lists: int
    effort: int  # lists probed per query
    trained_count: int  # vectors it was trained on / built for
    removed_since_training: int = 0
    features: str = ""  # features_fingerprint of the rows it indexes
    recall: dict | None = None  # the last RecallReport.to_dict(), if measured
    kind: str = KIND


class AnnStore:
    """Approximate ``VectorStore`` over an exact store's rows; see the module doc."""

    exact = False
    mapped = False  # inverted lists memory-mapped from the file: searches only (``from_buffer``)

    def __init__(self, base: NumpyStore, index, rows_of_ids: np.ndarray, info: Structure):
        self.base = base  # the exact store: keys, vectors, row_of, and the reference for recall
        self._index = index
        self._rows = rows_of_ids  # (ids,) int64: id -> row in base, -1 once removed
        self.info = info
        index.nprobe = info.effort

    @classmethod
    def build(cls, base: NumpyStore, *, lists: int | None = None, effort: int = 16, seed: int = 0) -> AnnStore:
        """Train on a sample of ``base`` and add every row (ids = rows)."""
        faiss = _faiss()
        faiss.omp_set_num_threads(_CORES)
        n = len(base)
        if n < TRAIN_PER_LIST:
            raise VistaMatchError(f"an approximate store needs at least {TRAIN_PER_LIST} vectors, not {n}: use the exact one")
        lists = default_lists(n) if lists is None else max(1, min(lists, n))
        quantizer = faiss.IndexFlatIP(base.dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, base.dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.seed = seed
        sample = np.sort(np.random.default_rng(seed).choice(n, min(n, lists * TRAIN_PER_LIST), replace=False))
        index.train(base.vectors(sample))
        store = cls(base, index, np.zeros(0, np.int64), Structure(base.dim, lists, min(effort, lists), n))
        store._add_rows(np.arange(n))
        store.info.features = features_fingerprint(base)
        return store

    @property
    def dim(self) -> int:
        return self.base.dim

    def __len__(self) -> int:
        return len(self.base)

    @property
    def effort(self) -> int:
        """Lists probed per query (1 .. lists): higher is slower and closer to exact."""
        return self.info.effort

    @effort.setter
    def effort(self, value: int) -> None:
        self.info.effort = int(min(max(1, value), self.info.lists))
        self._index.nprobe = self.info.effort

    @property
    def max_effort(self) -> int:
        return self.info.lists

    def search(self, query: np.ndarray, k: int) -> Ranking:
        return self.search_many(np.asarray(query).reshape(1, -1), k)[0]

    def search_many(self, queries: np.ndarray, k: int) -> list[Ranking]:
        queries = as_queries(queries, self.dim)
        if k >= EXACT_FRACTION * len(self):
            return self.base.search_many(queries, k)
        faiss = _faiss()
        # One query is answered by one thread: waking OpenMP's team costs more than it saves, and
        # its spinning threads slow the NumPy scans beside it. Batches use every core.
        faiss.omp_set_num_threads(1 if len(queries) < BATCH_THREADS else _CORES)
        _, ids = self._index.search(queries, RESCORE * k)  # (m, RESCORE k), -1 past the candidates found
        out = []
        for query, found in zip(queries, ids):
            rows = np.sort(self._rows[found[found >= 0]])  # sorted: ties by row, as in the exact scan
            rows = rows[rows >= 0]
            best, scores = top_k(self.base.vectors(rows) @ query, k)
            out.append((rows[best], scores))
        return out

    def row_of(self, key: str) -> int | None:
        return self.base.row_of(key)

    def keys(self, rows: np.ndarray) -> np.ndarray:
        return self.base.keys(rows)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.base.vectors(rows)

    @property
    def all_keys(self) -> np.ndarray:
        return self.base.all_keys

    # --- updates -------------------------------------------------------------------------------

    def update(self, base: NumpyStore, changed: Iterable[str] = ()) -> tuple[int, int]:
        """Follow ``base``, the exact store of the updated features: returns (added, removed).

        Keys no longer in ``base`` leave the structure, keys new to it (or listed in ``changed``: same
        path, new content) are added with the trained lists as they are; rows that only moved keep their
        codes and get their new row numbers. See ``needs_retrain`` for when this stops being enough.
        """
        if self.mapped:
            raise RuntimeError("a memory-mapped structure answers searches only: update one read without fd")
        if base.dim != self.dim:
            raise StructureMismatch(f"features of dimension {base.dim} for a structure of dimension {self.dim}")
        changed = set(changed)
        live = np.flatnonzero(self._rows >= 0)  # ids in use
        id_of_key = dict(zip(self.base.keys(self._rows[live]).tolist(), live.tolist()))
        rows = np.full(len(self._rows), -1, np.int64)
        fresh = []
        for row, key in enumerate(base.all_keys.tolist()):
            old = id_of_key.pop(key, None) if key not in changed else None
            if old is None:
                fresh.append(row)
            else:
                rows[old] = row
        dropped = np.flatnonzero((self._rows >= 0) & (rows < 0))
        if len(dropped):
            self._index.remove_ids(_faiss().IDSelectorBatch(dropped.astype(np.int64)))
        self.base, self._rows = base, rows
        self._add_rows(np.asarray(fresh, np.int64))
        self.info.removed_since_training += len(dropped)
        self.info.features = features_fingerprint(base)
        self.info.recall = None  # measured on other rows
        return len(fresh), len(dropped)

    @property
    def needs_retrain(self) -> bool:
        """True once the gallery doubled, or half of the vectors trained on were removed or replaced.

        The lists were placed for the trained vectors; new rows are assigned to the nearest list, so
        recall holds while the distribution stays; past these points list sizes and placement drift.
        """
        trained = self.info.trained_count
        return len(self) >= 2 * max(trained, 1) or self.info.removed_since_training * 2 >= max(trained, 1)

    def _add_rows(self, rows: np.ndarray) -> None:
        ids = np.arange(len(self._rows), len(self._rows) + len(rows), dtype=np.int64)
        for start in range(0, len(rows), 65536):  # bounded copies of a memory-mapped file
            chunk = rows[start : start + 65536]
            self._index.add_with_ids(self.base.vectors(chunk), ids[start : start + 65536])
        self._rows = np.concatenate([self._rows, rows.astype(np.int64)])

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the structure to ``path`` atomically (see ``to_bytes``)."""
        atomic_write_bytes(path, self.to_bytes())

    def to_bytes(self) -> np.ndarray:
        """The saved form as uint8: magic, header JSON, faiss's bytes, id -> row (what the index commits)."""
        blob = _faiss().serialize_index(self._index)
        header = json.dumps({**self.info.__dict__, "count": len(self), "ids": len(self._rows), "bytes": len(blob)}).encode()
        parts = [np.frombuffer(part, np.uint8) for part in (_MAGIC, len(header).to_bytes(_HEADER, "little"), header)]
        parts += [blob, self._rows.view(np.uint8)]
        # faiss's bytes and the output, no more (a join of .tobytes() copies held three at once)
        return np.concatenate(parts)

    @classmethod
    def load(cls, path: str | os.PathLike, base: NumpyStore) -> AnnStore:
        """The structure saved at ``path``, for ``base``, its lists memory-mapped (it answers searches, see
        ``from_buffer``); StructureMismatch if it is damaged or built from other features."""
        try:
            f = open(path, "rb")
        except OSError as exc:
            raise StructureMismatch(f"{path}: unreadable approximate structure ({exc})") from exc
        with f:
            try:
                raw = np.memmap(f, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as exc:
                raise StructureMismatch(f"{path}: unreadable approximate structure ({exc})") from exc
            return cls.from_buffer(raw, base, Path(path), fd=f.fileno())

    @classmethod
    def from_buffer(
        cls, raw: np.ndarray, base: NumpyStore, path: str | os.PathLike, *, trusted: str | None = None, fd: int | None = None
    ) -> AnnStore:
        """``load`` of the saved bytes ``raw`` (uint8, e.g. a memory map); ``path`` names them in errors.

        ``trusted``: a features fingerprint the caller knows to be ``base``'s (the manifest's, when the
        structure was committed with these rows): a header that names it skips hashing the keys and rows.
        ``fd``: an open descriptor of the file ``raw`` maps. Then faiss maps the inverted lists from it
        read-only instead of copying them (Linux, /proc/self/fd): opening costs no copy of the codes,
        and the store answers searches but cannot ``update`` (builds load without ``fd``).
        """
        try:
            start = len(_MAGIC) + _HEADER
            if bytes(raw[: len(_MAGIC)]) != _MAGIC:
                raise ValueError("not a VistaMatch approximate structure")
            size = int.from_bytes(bytes(raw[len(_MAGIC) : start]), "little")
            header = json.loads(bytes(raw[start : start + size]))
            count, ids, nbytes = header.pop("count"), header.pop("ids"), header.pop("bytes")
            info = Structure(**header)
            blob_at = start + size
            if len(raw) != blob_at + nbytes + 8 * ids:
                raise ValueError(f"{len(raw)} bytes, the header describes {blob_at + nbytes + 8 * ids}")
        except (ValueError, TypeError, KeyError) as exc:
            raise StructureMismatch(f"{path}: unreadable approximate structure ({exc})") from exc
        fits = info.dim == base.dim and count == len(base)
        if not fits or (info.features != trusted and info.features != features_fingerprint(base)):
            raise StructureMismatch(
                f"{path} was built from other features ({count} x {info.dim}, the index has {len(base)} x {base.dim}"
                f"{'' if not fits else ', other rows or keys'}); rebuild it"
            )
        index = _read_mapped(fd, blob_at) if fd is not None and _PROC_FD.is_dir() else None
        mapped = index is not None
        if not mapped:
            index = _read_copied(raw[blob_at : blob_at + nbytes])
        rows = np.frombuffer(raw[blob_at + nbytes :], np.int64).copy()
        store = cls(base, index, rows, info)
        store.mapped = mapped
        return store


def _read_mapped(fd: int, offset: int):
    """faiss's index from the open file ``fd``, whose faiss bytes start at ``offset``, lists memory-mapped."""
    faiss = _faiss()
    reader = faiss.FileIOReader(str(_PROC_FD / str(fd)))
    skip = np.empty(offset, np.uint8)
    if reader(faiss.swig_ptr(skip), 1, offset) != offset:
        return None
    index = faiss.read_index(reader, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    # faiss's mapped lists start 32 threads per search to page the probed lists in: 3x the latency of
    # a query (1.9 vs 0.7 ms p50 at 100k); the page cache holds them, the search reads them itself
    faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists).prefetch_nthread = 0
    return index


def _read_copied(blob: np.ndarray):
    """faiss's index from its bytes, read straight from ``blob`` (e.g. a memory map): one copy, not three."""
    faiss, at = _faiss(), 0

    def read(n: int) -> bytes:
        nonlocal at
        chunk = blob[at : at + n].tobytes()
        at += len(chunk)
        return chunk

    return faiss.read_index(faiss.PyCallbackIOReader(read, 1 << 24))


def _faiss():
    try:
        return _import_faiss()
    except ImportError as exc:
        raise VistaMatchError("the approximate store needs faiss: pip install 'vistamatch[ann]'") from exc


def _import_faiss():
    """faiss, its bundled OpenBLAS told the CPU's kernels where it cannot tell them itself.

    faiss-cpu's wheels bundle an OpenBLAS (0.3.15) that does not recognise recent AVX-512 CPUs (a
    Sapphire Rapids Xeon gets its slow generic kernels: k-means and the list assignment 8x slower,
    docs/benchmarks.md). The choice is read once, when that library loads, so it is made here,
    before the import: the Skylake-X kernels on a CPU with AVX-512, unless $OPENBLAS_CORETYPE says
    otherwise. NumPy's own OpenBLAS is loaded already and keeps its choice."""
    if "faiss" not in sys.modules and "OPENBLAS_CORETYPE" not in os.environ and _has_avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    import faiss

    return faiss


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:  # not Linux: OpenBLAS decides
        return False
