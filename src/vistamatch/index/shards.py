"""A distributed build's unit of work: a shard of files to read and embed, and its result on disk.

The files to read are cut, in row order, into shards of ``shard_files``; a shard's key is the hash
of its files' paths, sizes and mtimes, so the same work gets the same key on a rerun. A finished
shard is one ``shard-<key>.npz`` (written atomically: its presence is the shard's done marker) in
``IndexPaths.shards_dir``, with ``meta.json`` (weights, preprocessing, dimension, embedder): a
folder left by another build setup is emptied. The folder goes once the index is committed.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_json
from .manifest import as_read_back
from .pipeline import Decoded
from .scan import GalleryFile

DEFAULT_SHARD_FILES = 1000


@dataclass(frozen=True)
class Shard:
    key: str
    files: list[GalleryFile]

    def to_row(self) -> dict:
        """A plain row for Ray Data (the files as JSON)."""
        files = [[f.path, str(f.abspath), f.size, f.mtime_ns] for f in self.files]
        return {"key": self.key, "files": json.dumps(files)}

    @classmethod
    def from_row(cls, row: dict) -> Shard:
        files = [GalleryFile(p, Path(a), size, mtime) for p, a, size, mtime in json.loads(str(row["files"]))]
        return cls(str(row["key"]), files)


def cut_shards(files: list[GalleryFile], shard_files: int = DEFAULT_SHARD_FILES) -> list[Shard]:
    shards = []
    for start in range(0, len(files), shard_files):
        part = files[start : start + shard_files]
        ident = json.dumps([[f.path, f.size, f.mtime_ns] for f in part]).encode()
        shards.append(Shard(hashlib.blake2b(ident, digest_size=16).hexdigest(), part))
    return shards


@dataclass
class ShardResult:
    decoded: list[Decoded]  # one per file of the shard, no pixels
    vectors: dict[str, np.ndarray]  # content hash -> (D,) unit vector, embedded in this shard
    failed: dict[str, str]  # content hash -> why it could not be embedded


class ShardStore:
    def __init__(self, folder: Path, meta: dict):
        self.folder = Path(folder)
        self.meta = as_read_back(meta)

    def open(self) -> ShardStore:
        """Empty the folder if another setup wrote it; create it. On the driver, before any shard."""
        if self.folder.exists() and _read_json(self.folder / "meta.json") != self.meta:
            shutil.rmtree(self.folder)
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            atomic_write_json(self.folder / "meta.json", self.meta)
        return self

    def path(self, key: str) -> Path:
        return self.folder / f"shard-{key}.npz"

    def done(self, key: str) -> bool:
        return self.load(key) is not None

    def write(self, shard: Shard, decoded: list[Decoded], vectors: dict[str, np.ndarray], failed: dict[str, str], dim: int) -> None:
        digests = [d.digest or "" for d in decoded]
        rows = np.zeros((len(decoded), dim), np.float32)  # (n, D): the file's vector, if it has one
        has_vector = np.array([d.claimed and d.digest in vectors for d in decoded], bool)
        for i in np.flatnonzero(has_vector):
            rows[i] = vectors[digests[i]]
        errors = [d.error or failed.get(d.digest or "", "") for d in decoded]
        buf = io.BytesIO()
        np.savez(
            buf,
            paths=np.array([d.file.path for d in decoded], dtype=str),
            sizes=np.array([d.size for d in decoded], np.int64),
            digests=np.array(digests, dtype=str),
            errors=np.array(errors, dtype=str),
            claimed=np.array([d.claimed for d in decoded], bool),
            has_vector=has_vector,
            vectors=rows,
        )
        atomic_write_bytes(self.path(shard.key), buf.getvalue())

    def load(self, key: str, shard: Shard | None = None) -> ShardResult | None:
        """The shard's result, or None if it is not done (or unreadable: then it is done again)."""
        try:
            with np.load(self.path(key), allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        if shard is None:
            return ShardResult([], {}, {})
        by_path = {f.path: f for f in shard.files}
        decoded, vectors, failed = [], {}, {}
        for i, path in enumerate(arrays["paths"].tolist()):
            digest, error = str(arrays["digests"][i]) or None, str(arrays["errors"][i]) or None
            decoded.append(Decoded(by_path[path], int(arrays["sizes"][i]), digest, bool(arrays["claimed"][i]), None, error))
            if arrays["has_vector"][i]:
                vectors[digest] = arrays["vectors"][i]
            elif digest and error:
                failed[digest] = error
        return ShardResult(decoded, vectors, failed)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
