"""Server settings: the original environment variables, plus a few of our own, with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import defaults
from ..imaging import DEFAULT_DECODE_BUDGET_MB, decode_budget_from_env

MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 20
DEFAULT_THUMBS_DIR = Path(".thumbs")
DEFAULT_HEADER_TIMEOUT = 20.0  # seconds a client has to send a request's headers


@dataclass(frozen=True)
class Settings:
    gallery_dir: Path
    weights: str | None  # a weights file or model name; None: $WEIGHTS_PATH or the default (fetched on first use)
    features_path: Path
    mapping_path: Path
    manifest_path: Path
    history_path: Path
    num_attention_heads: int | None = None  # for weights that do not say their head count
    embedder: str = "auto"  # embed.load_embedder's kind: auto, numpy, torch ($VISTAMATCH_EMBEDDER)
    device: str = "cpu"  # cpu (the NumPy embedder), cuda, cuda:N, auto ($VISTAMATCH_DEVICE)
    dtype: str = "float32"  # or bfloat16 / float16 with torch ($VISTAMATCH_DTYPE)
    history_max_len: int = 200
    near_dup_threshold: float = 0.9995
    thumbs_dir: Path = DEFAULT_THUMBS_DIR
    thumb_size: int = 256
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MB
    decode_budget_bytes: int = DEFAULT_DECODE_BUDGET_MB * MB  # memory one image's decoding may take (imaging/budget.py)
    cors_origins: tuple[str, ...] = ()  # empty: no CORS headers at all
    update_index: bool = True  # build or update the index before serving if the gallery changed
    follow_outside_links: bool = False  # index and serve gallery symlinks to files outside the gallery
    load_wait_seconds: float = 60.0  # a search arriving while the engine loads waits this long, then 503
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides loopback and the bound address ("*": any)
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT
    body_timeout_seconds: float = 30.0  # longest wait for the next part of a request body
    keep_alive_seconds: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 256  # connections served at once; more get 503
    index_lock_timeout: float = 60.0  # wait this long for another build of the index, then serve the last one
    watch: bool = False  # index in the background and keep watching the gallery (server/updater.py)
    watch_poll: bool = False  # watch by polling (network drives) instead of the system's file events
    watch_debounce_seconds: float = 1.0  # quiet time after the last change before an update starts
    commit_seconds: float = 10.0  # a background build commits what it has embedded this often
    store: str = "auto"  # vector store to build and search with: auto, exact or ann ($VISTAMATCH_STORE)
    url_allow_private: bool = False  # query by URL may fetch loopback, private and link-local addresses

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults and environment variables; keyword arguments win over both."""
        from ..index import IndexPaths

        values = dict(
            gallery_dir=defaults.gallery_dir(),
            weights=os.environ.get("WEIGHTS_PATH") or None,
            embedder=defaults.embedder_kind(),
            device=defaults.device(),
            dtype=defaults.dtype(),
            features_path=defaults.features_path(),
            mapping_path=defaults.mapping_path(),
            manifest_path=defaults.manifest_path(),
            history_path=defaults.history_path(),
            history_max_len=defaults.history_max_len(),
            near_dup_threshold=defaults.near_dup_threshold(),
            thumbs_dir=Path(os.environ["VISTAMATCH_THUMBS_DIR"]) if os.environ.get("VISTAMATCH_THUMBS_DIR") else None,
            max_upload_bytes=int(float(os.environ.get("VISTAMATCH_MAX_UPLOAD_MB") or DEFAULT_MAX_UPLOAD_MB) * MB),
            decode_budget_bytes=decode_budget_from_env(),
            cors_origins=_split_origins(os.environ.get("VISTAMATCH_CORS_ORIGINS", "")),
            update_index=_env_flag("VISTAMATCH_UPDATE_INDEX", "1"),
            follow_outside_links=defaults.follow_outside_links(),
            allowed_hosts=_split_origins(os.environ.get("VISTAMATCH_ALLOWED_HOSTS", "")),
            header_timeout_seconds=env_number("VISTAMATCH_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT),
            body_timeout_seconds=env_number("VISTAMATCH_BODY_TIMEOUT", cls.body_timeout_seconds),
            keep_alive_seconds=env_number("VISTAMATCH_KEEP_ALIVE", cls.keep_alive_seconds),
            max_connections=int(env_number("VISTAMATCH_MAX_CONNECTIONS", cls.max_connections)),
            index_lock_timeout=float(os.environ.get("VISTAMATCH_INDEX_LOCK_TIMEOUT") or 60.0),
            commit_seconds=env_number("VISTAMATCH_COMMIT_SECONDS", cls.commit_seconds),
            watch=_env_flag("VISTAMATCH_WATCH", "0"),
            watch_poll=_env_flag("VISTAMATCH_WATCH_POLL", "0"),
            store=defaults.store_kind(),
            url_allow_private=os.environ.get("VISTAMATCH_URL_ALLOW_PRIVATE", "0").lower() in ("1", "true", "yes"),
        )
        values.update(overrides)
        if values["thumbs_dir"] is None:  # with the index (index/location.py): .thumbs/ beside the features
            values["thumbs_dir"] = IndexPaths(values["features_path"], values["mapping_path"], values["manifest_path"]).thumbs_dir
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


def _env_flag(var: str, default: str) -> bool:
    return (os.environ.get(var) or default).lower() not in ("0", "false", "no")


def env_number(var: str, default: float) -> float:
    return float(os.environ.get(var) or default)


def _split_origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())
