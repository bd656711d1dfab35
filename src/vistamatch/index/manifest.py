"""The manifest: what an index was built from, file by file, and with which model and preprocessing.

JSON, committed with the features and mapping by ``files.IndexFiles``. The header (fingerprint,
preprocessing, dimension, count, build time, skipped files, and the commit's generation and rows
token that tie it to its features and mapping) comes first; ``files`` comes last, one
record per line, sorted by path; the ``indexed`` ones are exactly the mapping's rows, in order.
Searching needs only the header: ``read_summary`` stops before ``files``, so a 1M-file manifest
opens in milliseconds; the builder reads everything with ``Manifest.load``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import VistaMatchError

FORMAT_VERSION = 1
HASH_ALGORITHM = "blake2b-128"

INDEXED = "indexed"
SKIPPED = "skipped"

_FILES_KEY = b'\n "files": ['  # how to_json_bytes starts the file list, on a line of its own


class BrokenManifestError(VistaMatchError):
    """A manifest that cannot be read (empty, not JSON, wrong types); ``path`` names it."""

    def __init__(self, path, why):
        self.path = Path(path)
        self.why = str(why)
        super().__init__(f"{path}: unreadable index manifest ({why}); re-index with: vistamatch index")


@dataclass(frozen=True)
class FileRecord:
    path: str  # gallery-relative, '/'-separated
    size: int  # bytes
    mtime_ns: int
    hash: str | None  # content hash of the bytes (None when the file could not be read)
    status: str  # INDEXED or SKIPPED
    reason: str | None = None  # why it was skipped

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns, "hash": self.hash, "status": self.status}
        if self.reason is not None:
            d["reason"] = self.reason
        return d


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class ManifestSummary:
    """The manifest's header: everything but the per-file records."""

    model_fingerprint: str
    preprocess: dict[str, Any]
    dim: int
    count: int  # rows of the index
    gallery_dir: str
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    normalized: bool  # rows of the features file have unit length
    skipped: list[SkippedFile]
    generation: int = 0  # of the commit that wrote this manifest (0: written before generations)
    rows: dict[str, Any] | None = None  # token and sizes of the features and mapping it describes
    pending: int = 0  # files found but not read yet: a partial commit of a build still running
    embedder: dict[str, str] | None = None  # name and dtype of the embedder (None: before embedders, numpy)
    store: dict[str, Any] | None = None  # the vector store built: kind, lists, effort, recall, note (index/store.py)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ManifestSummary:
        skipped = _typed(d, "skipped", list, [])
        return cls(
            **_header_fields(d),
            count=_typed(d, "count", int),
            skipped=[SkippedFile(_typed(s, "path", str), _typed(s, "reason", str)) for s in skipped],
        )


@dataclass
class Manifest:
    model_fingerprint: str
    preprocess: dict[str, Any]
    dim: int
    files: list[FileRecord]
    gallery_dir: str
    built_at: str  # ISO 8601, UTC
    build_seconds: float = 0.0
    normalized: bool = True  # rows of the features file have unit length
    generation: int = 0  # set by the commit (files.IndexFiles.commit)
    rows: dict[str, Any] | None = None  # set by the commit: token and sizes of the features and mapping
    pending: int = 0  # files found but not read yet (a partial commit, see build_index's commit_seconds)
    embedder: dict[str, str] | None = None  # embed.embedder_key of the embedder that computed the rows
    store: dict[str, Any] | None = None  # set by the build (index/store.py); its "size" by the commit

    @property
    def indexed(self) -> list[FileRecord]:
        return [f for f in self.files if f.status == INDEXED]

    @property
    def skipped(self) -> list[FileRecord]:
        return [f for f in self.files if f.status == SKIPPED]

    def header(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "model_fingerprint": self.model_fingerprint,
            "preprocess": self.preprocess,
            "dim": self.dim,
            "embedder": self.embedder,
            "count": len(self.indexed),
            "normalized": self.normalized,
            "hash_algorithm": HASH_ALGORITHM,
            "gallery_dir": self.gallery_dir,
            "built_at": self.built_at,
            "build_seconds": round(self.build_seconds, 3),
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "generation": self.generation,
            "rows": self.rows,
            "pending": self.pending,
            "store": self.store,
        }

    def to_json_bytes(self) -> bytes:
        head = json.dumps(self.header(), ensure_ascii=False, indent=1).encode("utf-8")  # ends with "\n}"
        rows = b",\n  ".join(json.dumps(f.to_dict(), ensure_ascii=False).encode("utf-8") for f in self.files)
        return head[:-2] + b"," + _FILES_KEY + (b"\n  " + rows if rows else b"") + b"\n ]\n}\n"

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        try:
            data = _parse(path, Path(path).read_bytes())
        except OSError as exc:
            raise BrokenManifestError(path, exc) from exc
        try:
            return cls(**_header_fields(data), files=[_record(f) for f in _typed(data, "files", list)])
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokenManifestError(path, exc) from exc


def read_summary(path: str | os.PathLike) -> ManifestSummary:
    """The header of the manifest at ``path``, reading no further than the start of ``files``."""
    try:
        with open(path, "rb") as f:
            return summary_from_file(f, path)
    except OSError as exc:
        raise BrokenManifestError(path, exc) from exc


def summary_from_file(f: BinaryIO, path: str | os.PathLike) -> ManifestSummary:
    """``read_summary`` of an open file (``path`` names it in errors)."""
    data = b""
    while chunk := f.read(1 << 20):
        data += chunk
        cut = data.find(_FILES_KEY)
        if cut >= 0:
            head = data[:cut] + b'\n "files": []}'
            break
    else:
        head = data  # not our layout (edited by hand?): parse it all
    try:
        return ManifestSummary.from_dict(_parse(path, head))
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokenManifestError(path, exc) from exc


def _header_fields(d: dict[str, Any]) -> dict[str, Any]:
    """The header fields Manifest and ManifestSummary share, type-checked."""
    rows = _typed(d, "rows", dict, None)
    if rows is not None:
        for key in ("token", "features_size", "mapping_size"):
            _typed(rows, key, str if key == "token" else int)
    return dict(
        model_fingerprint=_typed(d, "model_fingerprint", str),
        preprocess=_typed(d, "preprocess", dict),
        dim=_typed(d, "dim", int),
        gallery_dir=_typed(d, "gallery_dir", str),
        built_at=_typed(d, "built_at", str),
        build_seconds=float(_typed(d, "build_seconds", (int, float), 0.0)),
        normalized=_typed(d, "normalized", bool, True),
        generation=_typed(d, "generation", int, 0),
        rows=rows,
        pending=_typed(d, "pending", int, 0),
        embedder=_typed(d, "embedder", (dict, type(None)), None),
        store=_typed(d, "store", (dict, type(None)), None),
    )


def _record(d: Any) -> FileRecord:
    if not isinstance(d, dict):
        raise TypeError(f"file record {d!r:.60} is not an object")
    return FileRecord(
        path=_typed(d, "path", str),
        size=_typed(d, "size", int),
        mtime_ns=_typed(d, "mtime_ns", int),
        hash=_typed(d, "hash", (str, type(None))),
        status=_typed(d, "status", str),
        reason=_typed(d, "reason", (str, type(None)), None),
    )


_REQUIRED = object()


def _typed(d: Any, key: str, kind, default: Any = _REQUIRED) -> Any:
    """``d[key]`` if it has type ``kind`` (bool is not an int here), else TypeError/KeyError."""
    if not isinstance(d, dict):
        raise TypeError(f"expected an object, found {type(d).__name__}")
    if key not in d:
        if default is _REQUIRED:
            raise KeyError(f"no {key!r}")
        return default
    value = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise TypeError(f"{key!r} is {type(value).__name__}, not {' or '.join(k.__name__ for k in kinds)}")
    return value


def as_read_back(obj: Any) -> Any:
    """``obj`` as it reads back from the manifest's JSON (tuples become lists), so the two compare equal."""
    return json.loads(json.dumps(obj))


def _parse(path, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise BrokenManifestError(path, exc) from exc
    if not isinstance(parsed, dict):
        raise BrokenManifestError(path, "not a JSON object")
    version = parsed.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise BrokenManifestError(path, f"format_version is {type(version).__name__}")
    if version > FORMAT_VERSION:
        raise VistaMatchError(f"{path}: manifest format {parsed['format_version']} is newer than this VistaMatch")
    return parsed

