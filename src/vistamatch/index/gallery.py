"""``open_index``: the index on disk as a searchable ``GalleryIndex``, checked against the model in use."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexMismatchError, VistaMatchError
from ..search.store import VectorStore
from .files import IndexFiles
from .manifest import ManifestSummary, as_read_back
from .paths import IndexPaths
from .store import describe_store, exact_store, open_store


class IndexMissingError(VistaMatchError):
    """No index files where they were looked for."""


class UnverifiedIndexWarning(UserWarning):
    """An index without a manifest (the original project's): searchable, but its model cannot be checked."""


class ExactFallbackWarning(UserWarning):
    """The approximate structure is missing, damaged or of other features: the index is searched exactly."""


@dataclass
class GalleryIndex:
    paths: IndexPaths
    store: VectorStore  # search.ann.AnnStore when the index has a fitting structure, else NumpyStore
    manifest: ManifestSummary | None  # None for an index from the original project
    gallery_dir: Path | None  # where the mapping's relative paths point, when known
    store_problem: str | None = None  # why the approximate structure is not used, if it is not

    @property
    def size(self) -> int:
        return len(self.store)

    @property
    def dim(self) -> int:
        return self.store.dim

    @property
    def relative_paths(self) -> np.ndarray:
        """(N,) str: the mapping, row -> gallery-relative path."""
        return self.store.all_keys

    @property
    def store_description(self) -> str:
        """The store in one line: "approximate: 99.7 % of exact top-50, measured on 1,000 of your images"."""
        line = describe_store(self.store, self.manifest)
        return f"{line} ({self.store_problem})" if self.store_problem else line

    @property
    def verified(self) -> bool:
        return self.manifest is not None

    @property
    def preprocess(self) -> dict | None:
        """The preprocessing settings the index was built with (``PreprocessConfig.to_dict()``), if known."""
        return self.manifest.preprocess if self.manifest else None

    def resolve(self, relative_path: str) -> Path:
        """The file behind a mapping entry."""
        if self.gallery_dir is None:
            raise VistaMatchError("the gallery folder of this index is unknown; pass it explicitly")
        return self.gallery_dir / relative_path

    def check(self, model=None, preprocess=None) -> None:
        """Refuse (IndexMismatchError) a model or preprocessing other than the index was built with."""
        problems = []
        if model is not None and int(model.config.hidden_size) != self.dim:
            problems.append(f"dimension {self.dim}, the model gives {model.config.hidden_size}")
        elif self.manifest is not None:
            if model is not None and model.fingerprint != self.manifest.model_fingerprint:
                problems.append("other weights")
            if preprocess is not None and as_read_back(preprocess.to_dict()) != self.manifest.preprocess:
                problems.append("other preprocessing")
        if problems:
            where = self.gallery_dir or "GALLERY_DIR"
            raise IndexMismatchError(
                f"index {self.paths.features} was built with {' and '.join(problems)}; re-index with: vistamatch index {where}"
            )


def open_index(
    paths: IndexPaths,
    *,
    mmap: bool = True,
    model=None,
    preprocess=None,
    gallery_dir: str | Path | None = None,
    store: str = "auto",
) -> GalleryIndex:
    """Open the index at ``paths`` (features memory-mapped by default, so a 1M-row index opens at once).

    With ``model``/``preprocess`` given, checks them (see ``GalleryIndex.check``). An index without a
    manifest is opened with an ``UnverifiedIndexWarning``; its rows are normalised on the fly. Never
    writes: a commit in progress or interrupted is read as its committed generation (see ``files``).
    ``store``: "auto" or "ann" search with the approximate structure the manifest names when it fits
    the features (else the exact scan, with an ``ExactFallbackWarning``), "exact" always scans.
    """
    files = IndexFiles(paths)  # lock-free: reads the last committed generation, writes nothing
    try:
        snapshot = files.read(mmap=mmap)
    except FileNotFoundError:
        raise IndexMissingError(f"no index at {paths.features}; build one with: vistamatch index GALLERY_DIR") from None
    manifest = snapshot.manifest
    if manifest is None:
        warnings.warn(
            f"index {paths.features} has no manifest (built by the original project?): its weights and "
            "preprocessing cannot be verified; re-index with: vistamatch index GALLERY_DIR",
            UnverifiedIndexWarning,
            stacklevel=2,
        )
    exact = exact_store(snapshot)
    vectors, problem = open_store(exact, snapshot, store, paths.structure)
    if problem:
        warnings.warn(problem, ExactFallbackWarning, stacklevel=2)
    if gallery_dir is None and manifest is not None:
        gallery_dir = manifest.gallery_dir
    index = GalleryIndex(paths, vectors, manifest, Path(gallery_dir) if gallery_dir is not None else None, problem)
    index.check(model, preprocess)
    return index
