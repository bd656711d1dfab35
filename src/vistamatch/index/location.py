"""Which index files a command uses, and why: the one rule the CLI and the server share.

In order, the first that applies:

1. ``--features`` / ``--mapping`` / ``--manifest`` given: those files (a missing one from rule 2 or 4;
   the manifest beside a given features file).
2. ``$GALLERY_FEATURES_PATH`` / ``$GALLERY_MAPPING_PATH`` / ``$GALLERY_MANIFEST_PATH`` set: those files
   (the original project's variables; the manifest beside the features).
3. A gallery given on the command line (``--gallery DIR``, or ``vistamatch index DIR``): the gallery's
   own index, ``DIR/.vistamatch/``, whatever the current folder. The search history lives there too.
4. Otherwise the original layout: ``gallery_features.npy``, ``gallery_mapping.npy`` and
   ``gallery_manifest.json`` in the current folder (``python build_gallery_features.py``,
   ``search_top50.py``, ``uvicorn app:app``).

The lock, checkpoints, staged files and the thumbnail cache always live beside the features file
(thumbnails in its folder's ``.thumbs/``: ``IndexPaths.thumbs_dir``), so they follow the index wherever it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .paths import IndexPaths

GALLERY_INDEX_DIR = ".vistamatch"  # inside the gallery; hidden, so scans and the watcher leave it alone
_ENV_VARS = ("GALLERY_FEATURES_PATH", "GALLERY_MAPPING_PATH", "GALLERY_MANIFEST_PATH")


@dataclass(frozen=True)
class IndexLocation:
    paths: IndexPaths
    rule: str  # one line: why these files
    history: Path | None = None  # the search history that goes with this index; None: the usual default


def locate_index(
    gallery: str | os.PathLike | None = None,
    *,
    features: Path | None = None,
    mapping: Path | None = None,
    manifest: Path | None = None,
) -> IndexLocation:
    """The index files for a command given ``gallery`` (on its command line) and explicit file options."""
    default = IndexPaths.from_defaults()
    if features or mapping or manifest:
        beside = features.with_name("gallery_manifest.json") if features else default.manifest
        paths = IndexPaths(features or default.features, mapping or default.mapping, manifest or beside)
        return IndexLocation(paths, "index files given on the command line")
    env = [var for var in _ENV_VARS if os.environ.get(var)]
    if env:
        return IndexLocation(default, f"index files from ${', $'.join(env)}")
    if gallery is not None:
        folder = Path(os.path.abspath(gallery)) / GALLERY_INDEX_DIR
        return IndexLocation(
            IndexPaths.in_dir(folder), f"the gallery's own index ({GALLERY_INDEX_DIR}/ in the gallery)", folder / "search_history.json"
        )
    return IndexLocation(default, "the original layout in the current folder (no --gallery, no index options)")
