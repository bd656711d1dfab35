"""The manifest: what an index was built from, file by file, and with which model and preprocessing.

JSON, committed atomically with the features and mapping (see ``commit``). The header (fingerprint,
preprocessing, dimension, count, build time, skipped files) comes first; ``files`` comes last, one
record per line, sorted by path; the ``indexed`` ones are exactly the mapping's rows, in order.
Searching needs only the header: ``read_summary`` stops before ``files``, so a 1M-file manifest
opens in milliseconds; the builder reads everything with ``Manifest.load``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VistaMatchError

FORMAT_VERSION = 1
HASH_ALGORITHM = "blake2b-128"

INDEXED = "indexed"
SKIPPED = "skipped"

_FILES_KEY = b'\n "files": ['  # how to_json_bytes starts the file list, on a line of its own


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ManifestSummary:
        return cls(
            model_fingerprint=d["model_fingerprint"],
            preprocess=d["preprocess"],
            dim=int(d["dim"]),
            count=int(d["count"]),
            gallery_dir=d["gallery_dir"],
            built_at=d["built_at"],
            build_seconds=float(d.get("build_seconds", 0.0)),
            normalized=bool(d.get("normalized", True)),
            skipped=[SkippedFile(s["path"], s["reason"]) for s in d.get("skipped", [])],
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
            "count": len(self.indexed),
            "normalized": self.normalized,
            "hash_algorithm": HASH_ALGORITHM,
            "gallery_dir": self.gallery_dir,
            "built_at": self.built_at,
            "build_seconds": round(self.build_seconds, 3),
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
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
            raise _unreadable(path, exc) from exc
        try:
            return cls(
                model_fingerprint=data["model_fingerprint"],
                preprocess=data["preprocess"],
                dim=int(data["dim"]),
                files=[FileRecord(**f) for f in data["files"]],
                gallery_dir=data["gallery_dir"],
                built_at=data["built_at"],
                build_seconds=float(data.get("build_seconds", 0.0)),
                normalized=bool(data.get("normalized", True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _unreadable(path, exc) from exc


def read_summary(path: str | os.PathLike) -> ManifestSummary:
    """The header of the manifest at ``path``, reading no further than the start of ``files``."""
    try:
        with open(path, "rb") as f:
            data = b""
            while chunk := f.read(1 << 20):
                data += chunk
                cut = data.find(_FILES_KEY)
                if cut >= 0:
                    head = data[:cut] + b'\n "files": []}'
                    break
            else:
                head = data  # not our layout (edited by hand?): parse it all
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    try:
        return ManifestSummary.from_dict(_parse(path, head))
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc


def as_read_back(obj: Any) -> Any:
    """``obj`` as it reads back from the manifest's JSON (tuples become lists), so the two compare equal."""
    return json.loads(json.dumps(obj))


def _parse(path, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(parsed, dict):
        raise _unreadable(path, "not a JSON object")
    if parsed.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise VistaMatchError(f"{path}: manifest format {parsed['format_version']} is newer than this VistaMatch")
    return parsed


def _unreadable(path, why) -> VistaMatchError:
    return VistaMatchError(f"{path}: unreadable index manifest ({why}); re-index with: vistamatch index")
