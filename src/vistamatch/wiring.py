"""One wiring for the CLI and the server: weights -> embedder -> index built or updated -> search engine.

Both keep the preprocessing an index was built with unless told otherwise, and both reach the
model only through an Embedder (embed/).
"""

from __future__ import annotations

import os

from .embed import Embedder, EmbedderSpec
from .imaging import PreprocessConfig
from .index import BuildReport, IndexPaths, build_index, open_index
from .index.manifest import BrokenManifestError, read_summary
from .search import SearchEngine

EXECUTORS = ("local", "ray")


def embedder_spec(
    weights: str | os.PathLike | None = None,
    *,
    kind: str = "auto",
    device: str = "cpu",
    dtype: str = "float32",
    num_attention_heads: int | None = None,
) -> EmbedderSpec:
    """The weights resolved (None: $WEIGHTS_PATH or the default, fetched on first use) and the embedder chosen."""
    from .model import resolve_weights

    resolved = resolve_weights(weights) if weights else resolve_weights()
    options = (("num_attention_heads", num_attention_heads),) if num_attention_heads else ()
    return EmbedderSpec(str(resolved), kind, device, dtype, options)


def index_preprocess(paths: IndexPaths, preprocess: PreprocessConfig | None = None) -> PreprocessConfig | None:
    """``preprocess`` if given, else the one the index at ``paths`` was built with (its header only),
    else None (the default), so an update embeds only what changed."""
    if preprocess is not None or not paths.manifest.is_file():
        return preprocess
    try:
        return PreprocessConfig(**read_summary(paths.manifest).preprocess)
    except BrokenManifestError:  # set aside by the build, which says so
        return None


def update_index(
    gallery_dir: str | os.PathLike,
    spec: EmbedderSpec,
    paths: IndexPaths,
    *,
    embedder: Embedder | None = None,
    preprocess: PreprocessConfig | None = None,
    executor: str = "local",
    address: str | None = None,
    **options,
) -> BuildReport:
    """Build or update the index with ``executor``: "local" (index/build.py, ``embedder`` or the
    spec's) or "ray" (index/ray_build.py: the spec travels to the actors of the Ray cluster at
    ``address``). options: those of the executor's build function (progress, lock_timeout, follow_outside_links, ...)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown build executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    preprocess = index_preprocess(paths, preprocess)
    if executor == "ray":
        from .index.ray_build import build_index_ray

        return build_index_ray(gallery_dir, spec, paths, preprocess, address=address, embedder=embedder, **options)
    return build_index(gallery_dir, embedder or spec.load(), paths, preprocess, **options)


def open_engine(embedder: Embedder, paths: IndexPaths, *, gallery_dir=None, store: str = "auto", **engine_options) -> SearchEngine:
    """The index at ``paths`` opened (refused if other weights or preprocessing) and searched with ``embedder``."""
    return SearchEngine(embedder, open_index(paths, gallery_dir=gallery_dir, store=store), **engine_options)
