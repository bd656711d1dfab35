"""Server settings: the original environment variables, plus a few of our own, with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import defaults

MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 20
DEFAULT_THUMBS_DIR = Path(".thumbs")


@dataclass(frozen=True)
class Settings:
    gallery_dir: Path
    weights: str | None  # a weights file or model name; None: $WEIGHTS_PATH or the default (fetched on first use)
    features_path: Path
    mapping_path: Path
    manifest_path: Path
    history_path: Path
    num_attention_heads: int | None = None  # for weights that do not say their head count
    history_max_len: int = 200
    near_dup_threshold: float = 0.9995
    thumbs_dir: Path = DEFAULT_THUMBS_DIR
    thumb_size: int = 256
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MB
    cors_origins: tuple[str, ...] = ()  # empty: no CORS headers at all
    update_index: bool = True  # build or update the index before serving if the gallery changed
    load_wait_seconds: float = 60.0  # a search arriving while the engine loads waits this long, then 503
    index_lock_timeout: float = 60.0  # wait this long for another build of the index, then serve the last one

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults and environment variables; keyword arguments win over both."""
        values = dict(
            gallery_dir=defaults.gallery_dir(),
            weights=os.environ.get("WEIGHTS_PATH") or None,
            features_path=defaults.features_path(),
            mapping_path=defaults.mapping_path(),
            manifest_path=defaults.manifest_path(),
            history_path=defaults.history_path(),
            history_max_len=defaults.history_max_len(),
            near_dup_threshold=defaults.near_dup_threshold(),
            thumbs_dir=Path(os.environ.get("VISTAMATCH_THUMBS_DIR") or DEFAULT_THUMBS_DIR),
            max_upload_bytes=int(float(os.environ.get("VISTAMATCH_MAX_UPLOAD_MB") or DEFAULT_MAX_UPLOAD_MB) * MB),
            cors_origins=_split_origins(os.environ.get("VISTAMATCH_CORS_ORIGINS", "")),
            update_index=os.environ.get("VISTAMATCH_UPDATE_INDEX", "1").lower() not in ("0", "false", "no"),
            index_lock_timeout=float(os.environ.get("VISTAMATCH_INDEX_LOCK_TIMEOUT") or 60.0),
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def for_folder(cls, gallery_dir: str | os.PathLike, data_dir: str | os.PathLike, weights: str | os.PathLike, **overrides) -> "Settings":
        """Everything the server writes (index, history, thumbnails) in data_dir: used by tests and tools."""
        from ..index import IndexPaths

        data = Path(data_dir)
        index = IndexPaths.in_dir(data)
        values = dict(
            gallery_dir=Path(gallery_dir),
            weights=str(weights),
            features_path=index.features,
            mapping_path=index.mapping,
            manifest_path=index.manifest,
            history_path=data / "search_history.json",
            thumbs_dir=data / ".thumbs",
        )
        values.update(overrides)
        return cls(**values)


def _split_origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())
