"""The manifest: what an index was built from, file by file, and with which model and preprocessing.

JSON, written last and atomically with the features and mapping (see ``commit``). ``files`` lists every
image file found, sorted by path; the ``indexed`` ones are exactly the mapping's rows, in order.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VistaMatchError

FORMAT_VERSION = 1
HASH_ALGORITHM = "blake2b-128"

INDEXED = "indexed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class FileRecord:
    path: str  # gallery-relative, '/'-separated
    size: int  # bytes
    mtime_ns: int
    hash: str | None  # content hash of the bytes (None when the file could not be read)
    status: str  # INDEXED or SKIPPED
    reason: str | None = None  # why it was skipped

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.reason is None:
            del d["reason"]
        return d


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
    hash_algorithm: str = HASH_ALGORITHM
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed(self) -> list[FileRecord]:
        return [f for f in self.files if f.status == INDEXED]

    @property
    def skipped(self) -> list[FileRecord]:
        return [f for f in self.files if f.status == SKIPPED]

    @property
    def count(self) -> int:
        return len(self.indexed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "model_fingerprint": self.model_fingerprint,
            "preprocess": self.preprocess,
            "dim": self.dim,
            "count": self.count,
            "normalized": self.normalized,
            "hash_algorithm": self.hash_algorithm,
            "gallery_dir": self.gallery_dir,
            "built_at": self.built_at,
            "build_seconds": round(self.build_seconds, 3),
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "files": [f.to_dict() for f in self.files],
            **({"extra": self.extra} if self.extra else {}),
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        return cls(
            model_fingerprint=d["model_fingerprint"],
            preprocess=d["preprocess"],
            dim=int(d["dim"]),
            files=[FileRecord(**f) for f in d["files"]],
            gallery_dir=d["gallery_dir"],
            built_at=d["built_at"],
            build_seconds=float(d.get("build_seconds", 0.0)),
            normalized=bool(d.get("normalized", True)),
            hash_algorithm=d.get("hash_algorithm", HASH_ALGORITHM),
            format_version=int(d.get("format_version", FORMAT_VERSION)),
            extra=d.get("extra", {}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
            if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
                raise VistaMatchError(f"{path}: manifest format {data['format_version']} is newer than this VistaMatch")
            return cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VistaMatchError(f"{path}: unreadable index manifest ({exc}); re-index with: vistamatch index") from exc
