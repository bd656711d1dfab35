"""The gallery index: a folder of images -> features, mapping and manifest on disk, and back.

Public API::

    IndexPaths(features, mapping, manifest)       # .from_defaults() (seed layout + env vars), .in_dir(folder)
    build_index(gallery_dir, model, paths, preprocess=None, *, batch_size=8, workers=None,
                progress=True, checkpoint_seconds=2.0, lock_timeout=60.0, store="auto") -> BuildReport
    open_index(paths, *, mmap=True, model=None, preprocess=None, gallery_dir=None, store="auto") -> GalleryIndex
    GalleryIndex: .store (VectorStore: AnnStore or NumpyStore), .store_description, .relative_paths,
                  .manifest (ManifestSummary: the header), .gallery_dir, .size, .dim, .verified, .preprocess,
                  .check(model, preprocess) -> raises IndexMismatchError, .resolve(relative_path)
    Manifest (all file records), ManifestSummary, FileRecord, IndexMissingError, UnverifiedIndexWarning,
    ExactFallbackWarning

On disk: ``gallery_features.npy`` (N x D float32, unit rows), ``gallery_mapping.npy`` (N relative paths,
fixed-width unicode: ``np.load(..., allow_pickle=False)`` works), ``gallery_manifest.json``, and with the approximate store
``gallery_features.ivf`` (store.py). Rows are sorted by relative path. During a build: ``gallery_features.partial/`` (checkpoints) and a lock file;
during a commit, staged ``*.gen-<g>.tmp`` files and a journal. ``files.IndexFiles`` owns them all.
"""

from .build import BuildReport, build_index
from .gallery import ExactFallbackWarning, GalleryIndex, IndexMissingError, UnverifiedIndexWarning, open_index
from .manifest import FileRecord, Manifest, ManifestSummary
from .paths import IndexPaths

__all__ = [
    "BuildReport",
    "ExactFallbackWarning",
    "FileRecord",
    "GalleryIndex",
    "IndexMissingError",
    "IndexPaths",
    "Manifest",
    "ManifestSummary",
    "UnverifiedIndexWarning",
    "build_index",
    "open_index",
]
