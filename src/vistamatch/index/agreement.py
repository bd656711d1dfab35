"""May this embedder update that index? Its rows must stay comparable with the stored ones.

An index records the embedder that computed its rows (``embed.embedder_key``: name and dtype).
The same weights through another embedder (NumPy vs PyTorch, float32 vs bfloat16) may update it
when the two agree: a few stored rows are embedded again, from their files, and every cosine to
the stored row must reach ``DEFAULT_MIN_COSINE``. Otherwise the build is refused, with the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..embed.agreement import DEFAULT_MIN_COSINE, EmbedderMismatchError, compare_vectors
from ..embed.base import Embedder
from ..embed.load import embedder_key
from ..errors import ImageLoadError
from ..imaging import PreprocessConfig, load_and_preprocess
from ..regular_files import RefusedFile, read_regular
from .previous import PreviousIndex
from .scan import content_hash

SAMPLE_ROWS = 4  # stored rows embedded again to compare
NUMPY_FLOAT32 = {"name": "numpy", "dtype": "float32"}  # what an index from before embedders holds


def check_embedder(
    previous: PreviousIndex, embedder: Embedder, root: Path, preprocess: PreprocessConfig, min_cosine: float = DEFAULT_MIN_COSINE
) -> None:
    """Raise EmbedderMismatchError if ``embedder`` is not the one that wrote ``previous`` and its
    vectors of a few indexed files disagree with their stored rows."""
    if previous.manifest is None or not previous.order:
        return  # nothing is reused: a full build
    built_by = previous.manifest.embedder or NUMPY_FLOAT32
    if built_by == embedder_key(embedder):
        return
    rows, pixels = [], []
    for path, digest in previous.order:
        if len(rows) == SAMPLE_ROWS:
            break
        try:
            data = read_regular(root / path)
            if content_hash(data) != digest:
                continue  # changed since: try the next one
            pixels.append(load_and_preprocess(data, preprocess, name=path))
        except (ImageLoadError, RefusedFile, OSError, ValueError):
            continue  # gone or unreadable since
        rows.append(previous.row_of_hash[digest])
    if not rows:
        return  # no stored row can be checked: none will be reused as is either
    vectors = np.concatenate([embedder.embed(p) for p in pixels])  # one at a time: shapes differ
    agreement = compare_vectors(vectors, np.asarray(previous.features[rows]))
    if not agreement.cosine_min >= min_cosine:
        raise EmbedderMismatchError(
            f"this index was built by the {built_by['name']} embedder ({built_by['dtype']}); "
            f"{embedder.describe()} disagrees with its rows: {agreement} (need cosine >= {min_cosine}). "
            f"Use --embedder {built_by['name']} --dtype {built_by['dtype']}, or delete the index files to rebuild"
        )
